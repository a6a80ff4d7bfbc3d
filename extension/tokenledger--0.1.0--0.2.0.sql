-- tokenledger 0.1.0 -> 0.2.0. Every change here is mirrored in install/, so
-- that an upgraded database matches a fresh install (test/release_check.sh).
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.2.0'" to load this file. \quit

-- ==== quota counters ====
-- Quota checks sum per-user counters kept by usage_log_insert instead of the
-- ledger (install/62_quota_counters.sql). The counters are backfilled from
-- the ledger at the end, so quotas are right as soon as the update commits.

-- Quota usage counters: what quota_measure sums instead of the ledger.
--
-- usage_log_insert adds every event it writes (never a deduplicated retry)
-- to three rows of its user: the UTC day, UTC hour and UTC minute holding
-- occurred_at (quota_counters.c). Each grain alone counts every event once,
-- so a window is summed exactly from whole buckets of one grain or another,
-- plus the raw ledger rows of its partial edges: see quota_measure.
-- Reprice deltas, erasure and the upgrade backfill keep the counters equal
-- to the ledger; quota_prune_counters drops buckets no window reaches.

CREATE TABLE @extschema@.quota_usage_counters (
    user_id       text COLLATE "C" NOT NULL,
    grain         "char" NOT NULL CHECK (grain IN ('d', 'h', 'm')),
    bucket        timestamptz NOT NULL,
    requests      bigint NOT NULL,
    tokens        bigint NOT NULL,
    cost_nano_usd bigint NOT NULL,
    first_at      timestamptz NOT NULL,
    PRIMARY KEY (user_id, grain, bucket)
) WITH (fillfactor = 70);   -- room for HOT updates: each insert rewrites three rows
COMMENT ON TABLE @extschema@.quota_usage_counters IS 'Per-user usage per UTC day, hour and minute, kept by usage_log_insert; quota checks sum these instead of the ledger';
COMMENT ON COLUMN @extschema@.quota_usage_counters.user_id IS 'The app''s user id, as in usage_log.user_id';
COMMENT ON COLUMN @extschema@.quota_usage_counters.grain IS 'Bucket length: d (UTC day), h (hour) or m (minute); every event counts once in each grain';
COMMENT ON COLUMN @extschema@.quota_usage_counters.bucket IS 'Start of the bucket (a UTC day, hour or minute boundary)';
COMMENT ON COLUMN @extschema@.quota_usage_counters.requests IS 'Ledger rows of the user with occurred_at in the bucket';
COMMENT ON COLUMN @extschema@.quota_usage_counters.tokens IS 'Their total_tokens';
COMMENT ON COLUMN @extschema@.quota_usage_counters.cost_nano_usd IS 'Their total_cost_nano_usd, unpriced as 0, in 1e-9 USD';
COMMENT ON COLUMN @extschema@.quota_usage_counters.first_at IS 'The earliest occurred_at in the bucket (when a sliding window sheds it)';

REVOKE ALL ON @extschema@.quota_usage_counters FROM PUBLIC;
GRANT SELECT ON @extschema@.quota_usage_counters TO tokenledger_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.quota_usage_counters', '');

-- Writes this transaction's queued counter updates now instead of at commit
-- (quota_counters.c): for everything that reads or rewrites the counters
-- inside a transaction that may have recorded events.
CREATE FUNCTION @extschema@.quota_counters_flush()
RETURNS integer
AS 'MODULE_PATHNAME', 'quota_counters_flush'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.quota_counters_flush() IS 'Writes the events this transaction recorded into quota_usage_counters now rather than at commit, and returns how many; erasure, reprice, rebuild and prune call it first';
REVOKE ALL ON FUNCTION @extschema@.quota_counters_flush() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_counters_flush() TO tokenledger_admin;

-- TRUNCATE usage_log (tests, a fresh start) empties the counters with it.
CREATE FUNCTION @extschema@.quota_counters_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    TRUNCATE @extschema@.quota_usage_counters;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_counters_truncate() IS 'Trigger: empties quota_usage_counters when usage_log is truncated';
REVOKE ALL ON FUNCTION @extschema@.quota_counters_truncate() FROM PUBLIC;
CREATE TRIGGER usage_log_truncate_quota_counters AFTER TRUNCATE ON @extschema@.usage_log
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.quota_counters_truncate();
COMMENT ON TRIGGER usage_log_truncate_quota_counters ON @extschema@.usage_log IS 'Keeps the quota counters equal to the ledger when it is truncated';

-- How long each grain is read: minute buckets by the sliding minute and
-- hour windows, hour and day buckets by the day and month windows (a month
-- plus the widest time zone offset).
CREATE FUNCTION @extschema@.quota_counter_horizon(grain "char")
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- No SET clause: only called from functions that pin search_path.
AS $fn$
    SELECT CASE grain WHEN 'm' THEN interval '2 hours' ELSE interval '35 days' END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_counter_horizon("char") IS 'Internal: how far back quota windows read counters of a grain (minute 2 hours, hour and day 35 days); older buckets are pruned';
REVOKE ALL ON FUNCTION @extschema@.quota_counter_horizon("char") FROM PUBLIC;

CREATE FUNCTION @extschema@.quota_prune_counters()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint := 0;
    k bigint;
    g "char";
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    FOREACH g IN ARRAY ARRAY['m', 'h', 'd']::"char"[] LOOP
        DELETE FROM @extschema@.quota_usage_counters c
         WHERE c.grain = g
           AND c.bucket < pg_catalog.now() - @extschema@.quota_counter_horizon(g)
                          - CASE g WHEN 'm' THEN interval '1 minute' WHEN 'h' THEN interval '1 hour'
                                   ELSE interval '1 day' END;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_prune_counters() IS 'Deletes quota counter buckets no quota window reaches any more and returns how many; usage_maintenance calls it';
REVOKE ALL ON FUNCTION @extschema@.quota_prune_counters() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_prune_counters() TO tokenledger_admin;

-- Rebuilds every counter inside the horizons from the ledger: the upgrade
-- backfill, and a repair after writing usage_log by other means. Inserts
-- wait meanwhile (SHARE lock), so none is missed or counted twice.
CREATE FUNCTION @extschema@.quota_rebuild_counters()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    LOCK TABLE @extschema@.usage_log IN SHARE MODE;
    DELETE FROM @extschema@.quota_usage_counters;
    INSERT INTO @extschema@.quota_usage_counters (user_id, grain, bucket, requests, tokens, cost_nano_usd, first_at)
    SELECT l.user_id, g.grain, pg_catalog.date_trunc(g.unit, l.occurred_at, 'UTC'), count(*),
           sum(l.total_tokens), coalesce(sum(l.total_cost_nano_usd), 0), min(l.occurred_at)
      FROM (VALUES ('d'::"char", 'day'), ('h', 'hour'), ('m', 'minute')) g(grain, unit)
      JOIN @extschema@.usage_log l
        ON l.occurred_at >= pg_catalog.now() - @extschema@.quota_counter_horizon(g.grain) - interval '1 day'
     GROUP BY 1, 2, 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_rebuild_counters() IS 'Recomputes the quota counters from the ledger (inserts wait meanwhile) and returns how many buckets it wrote; the 0.2.0 upgrade runs it, and an admin may after changing usage_log by other means';
REVOKE ALL ON FUNCTION @extschema@.quota_rebuild_counters() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_rebuild_counters() TO tokenledger_admin;

-- quota_measure sums the counters (in C now, same signature and result).
-- Sums the quota counters (install/62_quota_counters.sql) and, at a
-- window's partial start, the raw ledger: see quota_measure.c. In C because
-- it is the whole cost of every check and reservation.
CREATE OR REPLACE FUNCTION @extschema@.quota_measure(p_user text, p_now timestamptz)
RETURNS SETOF @extschema@.quota_measure_row
AS 'MODULE_PATHNAME', 'quota_measure'
LANGUAGE C STABLE;
-- No SET clause: only called from functions that pin search_path (its
-- queries are schema-qualified), and a SET would cost a GUC save/restore.
COMMENT ON FUNCTION @extschema@.quota_measure(text, timestamptz) IS 'Internal: every limit of a user with its usage (quota counters plus the raw ledger at window edges, equal to the ledger), active reservations, window start and reset time';
REVOKE ALL ON FUNCTION @extschema@.quota_measure(text, timestamptz) FROM PUBLIC;

-- quota_decide is replaced by the C decision in quota_check and quota_reserve.
DROP FUNCTION @extschema@.quota_decide(text, @extschema@.quota_measure_row[], bigint, bigint, timestamptz);

-- The decision over quota_measure, in C (quota_decide.c): admitted unless
-- some limit lacks room for one more request, est_tokens and est_cost; the
-- reported limit is the binding one that relents last, else the one closest
-- to binding.
CREATE OR REPLACE FUNCTION @extschema@.quota_check(user_id text, est_tokens bigint DEFAULT 0, est_cost numeric DEFAULT 0)
RETURNS @extschema@.quota_decision
AS 'MODULE_PATHNAME', 'quota_check'
LANGUAGE C STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.quota_check(text, bigint, numeric) IS 'Read-only: may this user make a request of est_tokens tokens costing est_cost USD now? Returns allowed, the binding limit (or blocked and its reason), used, reserved, limit, remaining, resets_at and retry_after in seconds. Does not hold anything: use quota_reserve for a hard cap';
REVOKE ALL ON FUNCTION @extschema@.quota_check(text, bigint, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_check(text, bigint, numeric) TO tokenledger_writer, tokenledger_admin;

-- Reservations: the hard cap. A per-user row lock serialises one user's
-- admissions (and only that user's); the measurement after the lock sees
-- every committed ledger row and reservation, so N concurrent callers can
-- never all pass a check-then-increment. In C (quota_decide.c): lock the
-- user's quota_users row (pinning the default plan on first sight with
-- INSERT ... ON CONFLICT DO NOTHING, then the lock again), quota_measure
-- in a fresh snapshot, the same decision as quota_check, hold the estimate
-- if admitted, then quota_fire_alerts when a threshold is reached.
CREATE OR REPLACE FUNCTION @extschema@.quota_reserve(
    user_id    text,
    est_tokens bigint   DEFAULT 0,
    est_cost   numeric  DEFAULT 0,
    ttl        interval DEFAULT '5 minutes',
    OUT reservation_id bigint, OUT expires_at timestamptz,
    OUT allowed boolean, OUT limit_name text, OUT unit text, OUT used numeric,
    OUT reserved numeric, OUT limit_value numeric, OUT remaining numeric,
    OUT resets_at timestamptz, OUT retry_after integer, OUT blocked boolean,
    OUT block_reason text, OUT plan text)
AS 'MODULE_PATHNAME', 'quota_reserve'
LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.quota_reserve(text, bigint, numeric, interval) IS 'Atomically admits a request and holds its estimate (one request, est_tokens, est_cost USD) against every limit until usage_log_insert(reservation_id => ...) settles it, quota_release cancels it or ttl passes; or denies it with the same detail as quota_check (reservation_id NULL). A hot user serialises only their own reservations';
REVOKE ALL ON FUNCTION @extschema@.quota_reserve(text, bigint, numeric, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_reserve(text, bigint, numeric, interval) TO tokenledger_writer, tokenledger_admin;

-- Reprice hook. usage_reprice fills pg_temp.tokenledger_cost_deltas (new
-- minus old cost per event) and calls this in the same transaction: the
-- deltas go into the counters the events are in, so quota cost stays what
-- the ledger says. Repricing can push a user over a threshold, so the
-- affected users' alerts are re-evaluated.
CREATE OR REPLACE FUNCTION @extschema@.quota_apply_cost_deltas()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    u text;
    p text;
    now_ timestamptz := pg_catalog.now();
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    IF pg_catalog.to_regclass('pg_temp.tokenledger_cost_deltas') IS NULL THEN
        RAISE EXCEPTION 'temporary table tokenledger_cost_deltas does not exist'
            USING ERRCODE = 'undefined_table',
                  HINT = 'usage_reprice creates it before calling quota_apply_cost_deltas; do not call it directly.';
    END IF;
    -- Buckets pruned past their horizon are read by no window: nothing to fix.
    UPDATE @extschema@.quota_usage_counters c SET cost_nano_usd = c.cost_nano_usd + d.delta
      FROM (SELECT d.user_id, g.grain, pg_catalog.date_trunc(g.unit, d.occurred_at, 'UTC') AS bucket,
                   sum(d.total_cost_nano_usd)::bigint AS delta
              FROM pg_temp.tokenledger_cost_deltas d
             CROSS JOIN (VALUES ('d'::"char", 'day'), ('h', 'hour'), ('m', 'minute')) g(grain, unit)
             GROUP BY 1, 2, 3) d
     WHERE c.user_id = d.user_id AND c.grain = d.grain AND c.bucket = d.bucket AND d.delta <> 0;
    FOR u IN SELECT DISTINCT d.user_id FROM pg_temp.tokenledger_cost_deltas d
              WHERE d.total_cost_nano_usd > 0 LOOP
        p := coalesce((SELECT qu.plan FROM @extschema@.quota_users qu WHERE qu.user_id = u),
                      @extschema@.quota_default_plan());
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM @extschema@.quota_plans qp WHERE qp.plan = p);
        PERFORM @extschema@.quota_fire_alerts(u, ARRAY(SELECT x FROM @extschema@.quota_measure(u, now_) x), now_);
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_apply_cost_deltas() IS 'Reprice hook: adds the per-event cost changes to the quota counters holding those events, then re-checks alerts of users whose cost rose';
REVOKE ALL ON FUNCTION @extschema@.quota_apply_cost_deltas() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_apply_cost_deltas() TO tokenledger_admin;

-- usage_forget_user also moves the quota counters: its new definition, which
-- covers the summary tables too, is in the fast reports section below.

CREATE OR REPLACE PROCEDURE @extschema@.usage_maintenance(ahead integer DEFAULT 2)
LANGUAGE plpgsql
AS $fn$
DECLARE
    created text[];
    dropped text[];
    pruned bigint;
    sweep regprocedure;
BEGIN
    CALL @extschema@.usage_rollup();
    SELECT array_agg(n) INTO created FROM @extschema@.usage_create_partitions(ahead) n;
    COMMIT;
    SELECT array_agg(n) INTO dropped FROM @extschema@.usage_drop_old_partitions() n;
    COMMIT;
    pruned := @extschema@.usage_prune_request_ids();
    COMMIT;
    sweep := pg_catalog.to_regprocedure('@extschema@.quota_sweep_reservations()');
    IF sweep IS NOT NULL THEN
        IF (SELECT p.prokind FROM pg_catalog.pg_proc p WHERE p.oid = sweep) = 'p' THEN
            EXECUTE pg_catalog.format('CALL %s', sweep);
        ELSE
            EXECUTE pg_catalog.format('SELECT %s', sweep);
        END IF;
        COMMIT;
    END IF;
    PERFORM @extschema@.quota_prune_counters();
    COMMIT;
    RAISE NOTICE 'tokenledger maintenance: created %, dropped %, pruned % request ids',
        coalesce(pg_catalog.array_to_string(created, ', '), 'no partitions'),
        coalesce(pg_catalog.array_to_string(dropped, ', '), 'no partitions'), pruned;
END
$fn$;
COMMENT ON PROCEDURE @extschema@.usage_maintenance(integer) IS
'Periodic upkeep: usage_rollup, then partitions for now and `ahead` periods (moving default-partition strays), drops rolled-up partitions past tokenledger.raw_retention, prunes old request ids, runs quota_sweep_reservations() when installed and prunes quota counters no window reaches';
REVOKE ALL ON PROCEDURE @extschema@.usage_maintenance(integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE @extschema@.usage_maintenance(integer) TO tokenledger_admin;

-- Backfill: every ledger row inside the counters' horizons (inserts wait meanwhile).
SELECT @extschema@.quota_rebuild_counters();

-- ==== fast reports: summary tables ====
-- New summary tables (install/71_summaries.sql), the functions that keep
-- and read them, and a backfill from the 0.1.0 rollups so that reports are
-- exact right after ALTER EXTENSION UPDATE.

-- Summary tables: narrower rollups that reports read instead of the full
-- (bucket, user, provider, model, endpoint, success) rollups when they do
-- not need every dimension. usage_rollup keeps them in step with the full
-- rollups in the same transaction (one pass over the new ledger rows), and
-- reprice, erasure and retention treat them like the full rollups.
--
--   usage_rollup_platform_hourly / _daily   no user: platform totals, the
--       time series, the per-model/endpoint/provider breakdowns
--   usage_rollup_user_cum                   per user, running totals through
--       the end of each UTC hour the user was active in; a user's usage over
--       any [from, to) is the difference of two rows (plus raw edges), so
--       ranking every user needs two rows per user, not one per day
--   usage_rollup_user_totals                per user, all-time totals (the
--       user's latest running total) and the first and last active hour

CREATE TABLE @extschema@.usage_rollup_platform_hourly (
    bucket                timestamptz NOT NULL,
    requests              bigint NOT NULL,
    unpriced_requests     bigint NOT NULL,
    input_tokens          bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    cache_read_tokens     bigint NOT NULL,
    cache_write_tokens    bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    reasoning_tokens      bigint NOT NULL,
    total_tokens          bigint NOT NULL,
    input_cost_nano_usd       bigint NOT NULL,
    output_cost_nano_usd      bigint NOT NULL,
    cache_read_cost_nano_usd  bigint NOT NULL,
    cache_write_cost_nano_usd bigint NOT NULL,
    reasoning_cost_nano_usd   bigint NOT NULL,
    total_cost_nano_usd       bigint NOT NULL,
    latency_sum_ms        bigint NOT NULL,
    latency_count         bigint NOT NULL,
    model_id              integer NOT NULL,
    endpoint_id           integer NOT NULL,
    provider_id           smallint NOT NULL,
    success               boolean NOT NULL,
    latency_hist          bigint[] NOT NULL,
    PRIMARY KEY (bucket, provider_id, model_id, endpoint_id, success)
);
CREATE TABLE @extschema@.usage_rollup_platform_daily (LIKE @extschema@.usage_rollup_platform_hourly INCLUDING ALL);
COMMENT ON TABLE @extschema@.usage_rollup_platform_hourly IS 'Ledger totals per UTC hour, provider, model, endpoint and success (all users together); maintained by usage_rollup';
COMMENT ON TABLE @extschema@.usage_rollup_platform_daily IS 'Ledger totals per calendar day (in usage_rollup_state.day_timezone), provider, model, endpoint and success (all users together); maintained by usage_rollup';

CREATE TABLE @extschema@.usage_rollup_user_cum (
    user_id             text NOT NULL,
    bucket              timestamptz NOT NULL,
    requests            bigint NOT NULL,
    failures            bigint NOT NULL,
    unpriced_requests   bigint NOT NULL,
    total_tokens        bigint NOT NULL,
    total_cost_nano_usd bigint NOT NULL,
    -- covering: a report reads each user's row before a bound from the index alone
    PRIMARY KEY (user_id, bucket) INCLUDE (requests, failures, unpriced_requests, total_tokens, total_cost_nano_usd)
);
COMMENT ON TABLE @extschema@.usage_rollup_user_cum IS 'Per user, running totals of the rolled-up ledger through the end of each UTC hour the user was active in; maintained by usage_rollup';

CREATE TABLE @extschema@.usage_rollup_user_totals (
    user_id             text PRIMARY KEY,
    first_bucket        timestamptz NOT NULL,
    last_bucket         timestamptz NOT NULL,
    requests            bigint NOT NULL,
    failures            bigint NOT NULL,
    unpriced_requests   bigint NOT NULL,
    total_tokens        bigint NOT NULL,
    total_cost_nano_usd bigint NOT NULL
);
COMMENT ON TABLE @extschema@.usage_rollup_user_totals IS 'Per user, all-time totals of the rolled-up ledger (equal to the user''s latest usage_rollup_user_cum row) and the first and last hour with events; maintained by usage_rollup';

DO $comments$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT a.attrelid::regclass::text AS rel, a.attname AS col, d.txt
        FROM pg_catalog.pg_attribute a
        JOIN (VALUES ('bucket', 'Start of the UTC hour (hourly, user_cum) or of the calendar day (daily)'),
                     ('requests', 'Ledger rows counted'),
                     ('failures', 'Rows with success = false'),
                     ('unpriced_requests', 'Rows whose total cost is NULL (unpriced); their costs count as 0'),
                     ('input_tokens', 'Sum of input_tokens'), ('output_tokens', 'Sum of output_tokens'),
                     ('cache_read_tokens', 'Sum of cache_read_tokens'), ('cache_write_tokens', 'Sum of cache_write_tokens'),
                     ('cache_write_1h_tokens', 'Sum of cache_write_1h_tokens'), ('reasoning_tokens', 'Sum of reasoning_tokens'),
                     ('total_tokens', 'Sum of total_tokens'),
                     ('input_cost_nano_usd', 'Sum of input costs, 1e-9 USD'), ('output_cost_nano_usd', 'Sum of output costs, 1e-9 USD'),
                     ('cache_read_cost_nano_usd', 'Sum of cache read costs, 1e-9 USD'),
                     ('cache_write_cost_nano_usd', 'Sum of cache write costs, 1e-9 USD'),
                     ('reasoning_cost_nano_usd', 'Sum of reasoning costs, 1e-9 USD'), ('total_cost_nano_usd', 'Sum of total costs, 1e-9 USD'),
                     ('latency_sum_ms', 'Sum of latency_ms over rows that have one'), ('latency_count', 'Rows with a latency_ms'),
                     ('model_id', 'References usage_models'),
                     ('endpoint_id', 'References usage_endpoints; 0 when the events had none'),
                     ('provider_id', 'References usage_providers; 0 when the events had none'),
                     ('success', 'Whether the calls succeeded'), ('user_id', 'The app''s user id'),
                     ('latency_hist', 'Latency histogram (see usage_latency_bucket)'),
                     ('first_bucket', 'First UTC hour with a rolled-up event of the user'),
                     ('last_bucket', 'Last UTC hour with a rolled-up event of the user')) AS d (col, txt)
          ON d.col = a.attname
        WHERE a.attrelid IN ('@extschema@.usage_rollup_platform_hourly'::regclass, '@extschema@.usage_rollup_platform_daily'::regclass,
                             '@extschema@.usage_rollup_user_cum'::regclass, '@extschema@.usage_rollup_user_totals'::regclass)
          AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.rel, c.col,
                       CASE WHEN c.rel LIKE '%user_cum' AND c.col NOT IN ('user_id', 'bucket')
                            THEN c.txt || ', running total through the end of bucket' ELSE c.txt END);
    END LOOP;
END
$comments$;

-- Every fold updates the rows of the current hour and day in place: room
-- on each page lets those updates stay HOT (no new index entries). The
-- 0.1.0 rollup tables get the same.
ALTER TABLE @extschema@.usage_rollup_hourly SET (fillfactor = 70);
ALTER TABLE @extschema@.usage_rollup_daily SET (fillfactor = 70);
ALTER TABLE @extschema@.usage_rollup_platform_hourly SET (fillfactor = 70);
ALTER TABLE @extschema@.usage_rollup_platform_daily SET (fillfactor = 70);
ALTER TABLE @extschema@.usage_rollup_user_totals SET (fillfactor = 70);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.usage_rollup_platform_hourly', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.usage_rollup_platform_daily', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.usage_rollup_user_cum', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.usage_rollup_user_totals', '');

-- Platform rows hold no user: only admins see them. Readers may select
-- (the one-user reports name these tables in an arm they never run) but no
-- policy gives them a row. Per-user tables: readers see their own rows, as
-- in the ledger.
REVOKE ALL ON @extschema@.usage_rollup_platform_hourly, @extschema@.usage_rollup_platform_daily,
              @extschema@.usage_rollup_user_cum, @extschema@.usage_rollup_user_totals FROM PUBLIC;
GRANT SELECT ON @extschema@.usage_rollup_platform_hourly, @extschema@.usage_rollup_platform_daily TO tokenledger_reader, tokenledger_admin;
GRANT INSERT, UPDATE ON @extschema@.usage_rollup_platform_hourly, @extschema@.usage_rollup_platform_daily TO tokenledger_admin;
ALTER TABLE @extschema@.usage_rollup_platform_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.usage_rollup_platform_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY usage_rollup_platform_hourly_admin ON @extschema@.usage_rollup_platform_hourly TO tokenledger_admin USING (true) WITH CHECK (true);
CREATE POLICY usage_rollup_platform_daily_admin ON @extschema@.usage_rollup_platform_daily TO tokenledger_admin USING (true) WITH CHECK (true);
COMMENT ON POLICY usage_rollup_platform_hourly_admin ON @extschema@.usage_rollup_platform_hourly IS 'Only admins see platform rows';
COMMENT ON POLICY usage_rollup_platform_daily_admin ON @extschema@.usage_rollup_platform_daily IS 'Only admins see platform rows';
GRANT SELECT ON @extschema@.usage_rollup_user_cum, @extschema@.usage_rollup_user_totals TO tokenledger_reader, tokenledger_admin;
GRANT INSERT, UPDATE ON @extschema@.usage_rollup_user_cum, @extschema@.usage_rollup_user_totals TO tokenledger_admin;
ALTER TABLE @extschema@.usage_rollup_user_cum ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.usage_rollup_user_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY usage_rollup_user_cum_admin ON @extschema@.usage_rollup_user_cum TO tokenledger_admin USING (true) WITH CHECK (true);
CREATE POLICY usage_rollup_user_cum_reader ON @extschema@.usage_rollup_user_cum FOR SELECT TO tokenledger_reader USING (user_id = CURRENT_USER);
CREATE POLICY usage_rollup_user_totals_admin ON @extschema@.usage_rollup_user_totals TO tokenledger_admin USING (true) WITH CHECK (true);
CREATE POLICY usage_rollup_user_totals_reader ON @extschema@.usage_rollup_user_totals FOR SELECT TO tokenledger_reader USING (user_id = CURRENT_USER);
COMMENT ON POLICY usage_rollup_user_cum_admin ON @extschema@.usage_rollup_user_cum IS 'Admins read and maintain every rollup row';
COMMENT ON POLICY usage_rollup_user_cum_reader ON @extschema@.usage_rollup_user_cum IS 'A reader sees only rows whose user_id is their own role name';
COMMENT ON POLICY usage_rollup_user_totals_admin ON @extschema@.usage_rollup_user_totals IS 'Admins read and maintain every rollup row';
COMMENT ON POLICY usage_rollup_user_totals_reader ON @extschema@.usage_rollup_user_totals IS 'A reader sees only rows whose user_id is their own role name';

-- Staging tables of one session's rollup work (fold, reprice hook,
-- erasure); emptied at commit. Returns whether it created any: callers that
-- run as definer (usage_reprice, usage_forget_user) drop what they created,
-- so that the session's own rollup runs can create tables they may use.
CREATE FUNCTION @extschema@.usage_rollup_staging()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    created boolean := false;
BEGIN
    IF pg_catalog.to_regclass('pg_temp.tokenledger_fold') IS NULL THEN
        CREATE TEMP TABLE tokenledger_fold (LIKE @extschema@.usage_rollup_hourly) ON COMMIT DELETE ROWS;
        created := true;
    END IF;
    IF pg_catalog.to_regclass('pg_temp.tokenledger_fold_daily') IS NULL THEN
        CREATE TEMP TABLE tokenledger_fold_daily (LIKE @extschema@.usage_rollup_hourly) ON COMMIT DELETE ROWS;
        created := true;
    END IF;
    IF pg_catalog.to_regclass('pg_temp.tokenledger_fold_platform') IS NULL THEN
        CREATE TEMP TABLE tokenledger_fold_platform (LIKE @extschema@.usage_rollup_platform_hourly) ON COMMIT DELETE ROWS;
        created := true;
    END IF;
    IF pg_catalog.to_regclass('pg_temp.tokenledger_user_delta') IS NULL THEN
        CREATE TEMP TABLE tokenledger_user_delta (LIKE @extschema@.usage_rollup_user_cum) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE tokenledger_user_run (LIKE @extschema@.usage_rollup_user_cum INCLUDING INDEXES) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE tokenledger_user_new (LIKE @extschema@.usage_rollup_user_cum) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE tokenledger_user_sum (LIKE @extschema@.usage_rollup_user_totals) ON COMMIT DELETE ROWS;
        created := true;
    END IF;
    RETURN created;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_staging() IS
'Internal: creates this session''s staging tables for rollup work (emptied at commit) unless they exist; returns whether it created any';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_staging() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_staging() TO tokenledger_admin;

-- Drops this session's staging tables (see usage_rollup_staging).
CREATE FUNCTION @extschema@.usage_rollup_staging_drop()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    DROP TABLE IF EXISTS pg_temp.tokenledger_fold, pg_temp.tokenledger_fold_daily, pg_temp.tokenledger_fold_platform,
                         pg_temp.tokenledger_user_delta, pg_temp.tokenledger_user_run, pg_temp.tokenledger_user_new,
                         pg_temp.tokenledger_user_sum;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_staging_drop() IS
'Internal: drops this session''s rollup staging tables';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_staging_drop() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_staging_drop() TO tokenledger_admin;

-- Adds per-user, per-hour amounts (staging table tokenledger_user_delta,
-- shaped like usage_rollup_user_cum but holding amounts, not running
-- totals) to usage_rollup_user_cum and usage_rollup_user_totals. A row at
-- hour H gains every delta of its user at or before H; an hour the user had
-- no row for gets one, starting from the user's latest earlier row. Used by
-- the fold, the reprice hook and erasure. Returns the user-hours added.
CREATE FUNCTION @extschema@.usage_rollup_add_user_deltas()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    TRUNCATE pg_temp.tokenledger_user_run, pg_temp.tokenledger_user_new, pg_temp.tokenledger_user_sum;
    -- Running sums of the deltas per user, in hour order.
    INSERT INTO pg_temp.tokenledger_user_run
    SELECT d.user_id, d.bucket,
           sum(d.requests) OVER w, sum(d.failures) OVER w, sum(d.unpriced_requests) OVER w,
           sum(d.total_tokens) OVER w, sum(d.total_cost_nano_usd) OVER w
    FROM (SELECT x.user_id, x.bucket, sum(x.requests) AS requests, sum(x.failures) AS failures,
                 sum(x.unpriced_requests) AS unpriced_requests, sum(x.total_tokens) AS total_tokens,
                 sum(x.total_cost_nano_usd) AS total_cost_nano_usd
          FROM pg_temp.tokenledger_user_delta x GROUP BY 1, 2) d
    WINDOW w AS (PARTITION BY d.user_id ORDER BY d.bucket);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    ANALYZE pg_temp.tokenledger_user_run;

    -- New hours, from the user's latest earlier row before any change.
    INSERT INTO pg_temp.tokenledger_user_new
    SELECT r.user_id, r.bucket,
           coalesce(b.requests, 0) + r.requests, coalesce(b.failures, 0) + r.failures,
           coalesce(b.unpriced_requests, 0) + r.unpriced_requests, coalesce(b.total_tokens, 0) + r.total_tokens,
           coalesce(b.total_cost_nano_usd, 0) + r.total_cost_nano_usd
    FROM pg_temp.tokenledger_user_run r
    LEFT JOIN LATERAL (SELECT c.requests, c.failures, c.unpriced_requests, c.total_tokens, c.total_cost_nano_usd
                       FROM @extschema@.usage_rollup_user_cum c
                       WHERE c.user_id = r.user_id AND c.bucket < r.bucket
                       ORDER BY c.bucket DESC LIMIT 1) b ON true
    WHERE NOT EXISTS (SELECT 1 FROM @extschema@.usage_rollup_user_cum c WHERE c.user_id = r.user_id AND c.bucket = r.bucket);

    -- Existing hours at or after a user's first delta gain the running sum up to them.
    UPDATE @extschema@.usage_rollup_user_cum c SET
        (requests, failures, unpriced_requests, total_tokens, total_cost_nano_usd) =
        (SELECT c.requests + r.requests, c.failures + r.failures, c.unpriced_requests + r.unpriced_requests,
                c.total_tokens + r.total_tokens, c.total_cost_nano_usd + r.total_cost_nano_usd
         FROM pg_temp.tokenledger_user_run r
         WHERE r.user_id = c.user_id AND r.bucket <= c.bucket
         ORDER BY r.bucket DESC LIMIT 1)
    FROM (SELECT r.user_id, min(r.bucket) AS first_bucket FROM pg_temp.tokenledger_user_run r GROUP BY 1) m
    WHERE c.user_id = m.user_id AND c.bucket >= m.first_bucket;

    INSERT INTO @extschema@.usage_rollup_user_cum SELECT * FROM pg_temp.tokenledger_user_new;

    INSERT INTO pg_temp.tokenledger_user_sum
    SELECT d.user_id, min(d.bucket), max(d.bucket), sum(d.requests), sum(d.failures), sum(d.unpriced_requests),
           sum(d.total_tokens), sum(d.total_cost_nano_usd)
    FROM pg_temp.tokenledger_user_delta d GROUP BY 1;
    PERFORM @extschema@.usage_rollup_merge('usage_rollup_user_totals', 'tokenledger_user_sum');
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_add_user_deltas() IS
'Internal: adds the per-user, per-hour amounts in staging table tokenledger_user_delta to usage_rollup_user_cum (running totals) and usage_rollup_user_totals; returns the user-hours it saw';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_add_user_deltas() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_add_user_deltas() TO tokenledger_admin;

CREATE OR REPLACE PROCEDURE @extschema@.usage_rollup(batch_size integer DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
DECLARE
    bs bigint := coalesce(batch_size,
                          coalesce(pg_catalog.current_setting('tokenledger.rollup_batch_size', true), '500000')::integer);
    k1 integer := pg_catalog.hashtext('tokenledger');
    target bigint;
    wm bigint;
    hi bigint;
    n bigint;
BEGIN
    IF bs IS NULL OR bs < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive, got %', bs
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Omit it to use tokenledger.rollup_batch_size.';
    END IF;
    -- A run that failed earlier in this session may have left the lock held
    -- (a procedure that commits cannot release it in an exception handler);
    -- reuse it then instead of stacking a second hold.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks k
                   WHERE k.locktype = 'advisory' AND k.pid = pg_catalog.pg_backend_pid() AND k.granted
                     AND k.classid::bigint = (k1::bigint + 4294967296) % 4294967296
                     AND k.objid = 1 AND k.objsubid = 2) THEN
        PERFORM pg_catalog.pg_advisory_lock(k1, 1);
    END IF;

    -- Candidate watermark, then wait until every transaction that could have
    -- drawn an id at or below it has ended.
    target := coalesce(pg_catalog.pg_sequence_last_value('@extschema@.usage_event_id_seq'::regclass), 0);
    PERFORM @extschema@.usage_rollup_wait_for_writers();
    COMMIT;

    SELECT s.watermark INTO wm FROM @extschema@.usage_rollup_state s;
    WHILE wm < target LOOP
        hi := least(wm + bs, target);
        n := @extschema@.usage_rollup_fold(wm, hi);
        UPDATE @extschema@.usage_rollup_state
        SET watermark = hi, last_rollup_at = pg_catalog.now(), events_folded = events_folded + n;
        COMMIT;
        wm := hi;
    END LOOP;
    PERFORM pg_catalog.pg_advisory_unlock(k1, 1);
END
$fn$;
COMMENT ON PROCEDURE @extschema@.usage_rollup(integer) IS
'Folds every committed ledger row above the watermark into usage_rollup_hourly, usage_rollup_daily and the summary tables, exactly once, in batches that each commit; safe to re-run and never overlaps another run';
REVOKE ALL ON PROCEDURE @extschema@.usage_rollup(integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE @extschema@.usage_rollup(integer) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_merge(target text, source text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s text := (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace);
    rel oid;
    cols text;
    keys text;
    sets text;
    n bigint;
BEGIN
    IF target IS NULL OR target NOT IN ('usage_rollup_hourly', 'usage_rollup_daily', 'usage_rollup_platform_hourly',
                                        'usage_rollup_platform_daily', 'usage_rollup_user_totals') THEN
        RAISE EXCEPTION 'unknown rollup table "%"', target
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use usage_rollup_hourly, usage_rollup_daily, usage_rollup_platform_hourly, usage_rollup_platform_daily or usage_rollup_user_totals.';
    END IF;
    rel := format('%I.%I', s, target)::regclass;
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) FILTER (WHERE a.attnum = ANY (i.indkey)),
           string_agg(CASE WHEN a.atttypid = 'bigint[]'::regtype
                           THEN format('%1$I = %2$I.usage_hist_add(t.%1$I, excluded.%1$I)', a.attname, s)
                           WHEN a.attname = 'first_bucket' THEN 'first_bucket = least(t.first_bucket, excluded.first_bucket)'
                           WHEN a.attname = 'last_bucket' THEN 'last_bucket = greatest(t.last_bucket, excluded.last_bucket)'
                           ELSE format('%1$I = t.%1$I + excluded.%1$I', a.attname) END, ', ' ORDER BY a.attnum)
               FILTER (WHERE NOT a.attnum = ANY (i.indkey))
      INTO cols, keys, sets
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
    WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('INSERT INTO %I.%I AS t (%s) SELECT %s FROM pg_temp.%I ON CONFLICT (%s) DO UPDATE SET %s',
                   s, target, cols, cols, source, keys, sets);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_merge(text, text) IS
'Internal: adds the rows of a pg_temp staging table into a rollup or summary table, summing counters of existing keys; returns the rows inserted or updated';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_merge(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_merge(text, text) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_fold(lo bigint, hi bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
SET jit = off
AS $fn$
DECLARE
    dtz text := (SELECT s.day_timezone FROM @extschema@.usage_rollup_state s);
    n bigint;
BEGIN
    PERFORM @extschema@.usage_rollup_staging();
    TRUNCATE pg_temp.tokenledger_fold;
    -- One pass over the raw rows, grouped by hour and key.
    INSERT INTO pg_temp.tokenledger_fold
    SELECT date_trunc('hour', l.occurred_at, 'UTC'),
           count(*), count(*) FILTER (WHERE l.total_cost_nano_usd IS NULL),
           sum(l.input_tokens), sum(l.output_tokens), sum(l.cache_read_tokens), sum(l.cache_write_tokens),
           sum(l.cache_write_1h_tokens), sum(l.reasoning_tokens), sum(l.total_tokens),
           coalesce(sum(l.input_cost_nano_usd), 0), coalesce(sum(l.output_cost_nano_usd), 0),
           coalesce(sum(l.cache_read_cost_nano_usd), 0), coalesce(sum(l.cache_write_cost_nano_usd), 0),
           coalesce(sum(l.reasoning_cost_nano_usd), 0), coalesce(sum(l.total_cost_nano_usd), 0),
           coalesce(sum(l.latency_ms), 0), count(l.latency_ms),
           l.model_id, coalesce(l.endpoint_id, 0), coalesce(l.provider_id, 0), l.success, l.user_id,
           @extschema@.usage_latency_hist(l.latency_ms)
    FROM @extschema@.usage_log l
    WHERE l.event_id > lo AND l.event_id <= hi
    GROUP BY 1, l.model_id, coalesce(l.endpoint_id, 0), coalesce(l.provider_id, 0), l.success, l.user_id;
    SELECT coalesce(sum(f.requests), 0) INTO n FROM pg_temp.tokenledger_fold f;

    PERFORM @extschema@.usage_rollup_merge('usage_rollup_hourly', 'tokenledger_fold');

    -- Days from hours, except hours that straddle a day boundary of the day
    -- zone (zones with half-hour offsets), which come from the raw rows.
    TRUNCATE pg_temp.tokenledger_fold_daily;
    IF NOT EXISTS (SELECT 1 FROM pg_temp.tokenledger_fold x
                   WHERE date_trunc('day', x.bucket, dtz)
                         <> date_trunc('day', x.bucket + interval '1 hour' - interval '1 microsecond', dtz)) THEN
        -- Every hour lies in one day (the usual case): a plain regrouping.
        INSERT INTO pg_temp.tokenledger_fold_daily
        SELECT date_trunc('day', f.bucket, dtz), sum(f.requests), sum(f.unpriced_requests),
               sum(f.input_tokens), sum(f.output_tokens), sum(f.cache_read_tokens), sum(f.cache_write_tokens),
               sum(f.cache_write_1h_tokens), sum(f.reasoning_tokens), sum(f.total_tokens),
               sum(f.input_cost_nano_usd), sum(f.output_cost_nano_usd), sum(f.cache_read_cost_nano_usd),
               sum(f.cache_write_cost_nano_usd), sum(f.reasoning_cost_nano_usd), sum(f.total_cost_nano_usd),
               sum(f.latency_sum_ms), sum(f.latency_count),
               f.model_id, f.endpoint_id, f.provider_id, f.success, f.user_id,
               @extschema@.usage_hist_sum(f.latency_hist)
        FROM pg_temp.tokenledger_fold f
        GROUP BY 1, f.model_id, f.endpoint_id, f.provider_id, f.success, f.user_id;
    ELSE
        INSERT INTO pg_temp.tokenledger_fold_daily
        SELECT u.day, sum(u.requests), sum(u.unpriced_requests),
               sum(u.input_tokens), sum(u.output_tokens), sum(u.cache_read_tokens), sum(u.cache_write_tokens),
               sum(u.cache_write_1h_tokens), sum(u.reasoning_tokens), sum(u.total_tokens),
               sum(u.input_cost_nano_usd), sum(u.output_cost_nano_usd), sum(u.cache_read_cost_nano_usd),
               sum(u.cache_write_cost_nano_usd), sum(u.reasoning_cost_nano_usd), sum(u.total_cost_nano_usd),
               sum(u.latency_sum_ms), sum(u.latency_count),
               u.model_id, u.endpoint_id, u.provider_id, u.success, u.user_id,
               @extschema@.usage_hist_sum(u.latency_hist)
        FROM (
            SELECT d.day, sum(f.requests), sum(f.unpriced_requests),
                   sum(f.input_tokens), sum(f.output_tokens), sum(f.cache_read_tokens), sum(f.cache_write_tokens),
                   sum(f.cache_write_1h_tokens), sum(f.reasoning_tokens), sum(f.total_tokens),
                   sum(f.input_cost_nano_usd), sum(f.output_cost_nano_usd), sum(f.cache_read_cost_nano_usd),
                   sum(f.cache_write_cost_nano_usd), sum(f.reasoning_cost_nano_usd), sum(f.total_cost_nano_usd),
                   sum(f.latency_sum_ms), sum(f.latency_count),
                   f.model_id, f.endpoint_id, f.provider_id, f.success, f.user_id,
                   @extschema@.usage_hist_sum(f.latency_hist)
            FROM pg_temp.tokenledger_fold f
            CROSS JOIN LATERAL (SELECT date_trunc('day', f.bucket, dtz) AS day) d
            WHERE d.day = date_trunc('day', f.bucket + interval '1 hour' - interval '1 microsecond', dtz)
            GROUP BY d.day, f.model_id, f.endpoint_id, f.provider_id, f.success, f.user_id
            UNION ALL
            SELECT date_trunc('day', l.occurred_at, dtz),
                   count(*), count(*) FILTER (WHERE l.total_cost_nano_usd IS NULL),
                   sum(l.input_tokens), sum(l.output_tokens), sum(l.cache_read_tokens), sum(l.cache_write_tokens),
                   sum(l.cache_write_1h_tokens), sum(l.reasoning_tokens), sum(l.total_tokens),
                   coalesce(sum(l.input_cost_nano_usd), 0), coalesce(sum(l.output_cost_nano_usd), 0),
                   coalesce(sum(l.cache_read_cost_nano_usd), 0), coalesce(sum(l.cache_write_cost_nano_usd), 0),
                   coalesce(sum(l.reasoning_cost_nano_usd), 0), coalesce(sum(l.total_cost_nano_usd), 0),
                   coalesce(sum(l.latency_ms), 0), count(l.latency_ms),
                   l.model_id, coalesce(l.endpoint_id, 0), coalesce(l.provider_id, 0), l.success, l.user_id,
                   @extschema@.usage_latency_hist(l.latency_ms)
            FROM @extschema@.usage_log l
            WHERE l.event_id > lo AND l.event_id <= hi
              AND EXISTS (SELECT 1 FROM pg_temp.tokenledger_fold x
                          WHERE date_trunc('day', x.bucket, dtz)
                                <> date_trunc('day', x.bucket + interval '1 hour' - interval '1 microsecond', dtz))
              AND date_trunc('day', date_trunc('hour', l.occurred_at, 'UTC'), dtz)
                  <> date_trunc('day', date_trunc('hour', l.occurred_at, 'UTC') + interval '1 hour' - interval '1 microsecond', dtz)
            GROUP BY 1, l.model_id, coalesce(l.endpoint_id, 0), coalesce(l.provider_id, 0), l.success, l.user_id
        ) AS u (day, requests, unpriced_requests, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, total_tokens,
                input_cost_nano_usd, output_cost_nano_usd, cache_read_cost_nano_usd, cache_write_cost_nano_usd,
                reasoning_cost_nano_usd, total_cost_nano_usd, latency_sum_ms, latency_count,
                model_id, endpoint_id, provider_id, success, user_id, latency_hist)
        GROUP BY u.day, u.model_id, u.endpoint_id, u.provider_id, u.success, u.user_id;
    END IF;
    PERFORM @extschema@.usage_rollup_merge('usage_rollup_daily', 'tokenledger_fold_daily');
    PERFORM @extschema@.usage_rollup_fan_out();
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_fold(bigint, bigint) IS
'Internal: adds the ledger rows with lo < event_id <= hi to the hourly and daily rollups and every summary table; returns how many rows it folded';

CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_fan_out()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    grain record;
BEGIN
    -- The platform tables: the hourly and the daily staged rows without the user.
    FOR grain IN SELECT * FROM (VALUES ('tokenledger_fold', 'usage_rollup_platform_hourly'),
                                       ('tokenledger_fold_daily', 'usage_rollup_platform_daily')) AS g (staged, target)
    LOOP
        TRUNCATE pg_temp.tokenledger_fold_platform;
        EXECUTE format($q$
            INSERT INTO pg_temp.tokenledger_fold_platform
            SELECT f.bucket, sum(f.requests), sum(f.unpriced_requests),
                   sum(f.input_tokens), sum(f.output_tokens), sum(f.cache_read_tokens), sum(f.cache_write_tokens),
                   sum(f.cache_write_1h_tokens), sum(f.reasoning_tokens), sum(f.total_tokens),
                   sum(f.input_cost_nano_usd), sum(f.output_cost_nano_usd), sum(f.cache_read_cost_nano_usd),
                   sum(f.cache_write_cost_nano_usd), sum(f.reasoning_cost_nano_usd), sum(f.total_cost_nano_usd),
                   sum(f.latency_sum_ms), sum(f.latency_count),
                   f.model_id, f.endpoint_id, f.provider_id, f.success, %1$I.usage_hist_sum(f.latency_hist)
            FROM pg_temp.%2$I f
            GROUP BY f.bucket, f.model_id, f.endpoint_id, f.provider_id, f.success$q$, '@extschema@', grain.staged);
        PERFORM @extschema@.usage_rollup_merge(grain.target, 'tokenledger_fold_platform');
    END LOOP;

    TRUNCATE pg_temp.tokenledger_user_delta;
    INSERT INTO pg_temp.tokenledger_user_delta
    SELECT f.user_id, f.bucket, sum(f.requests), coalesce(sum(f.requests) FILTER (WHERE NOT f.success), 0),
           sum(f.unpriced_requests), sum(f.total_tokens), sum(f.total_cost_nano_usd)
    FROM pg_temp.tokenledger_fold f
    GROUP BY f.user_id, f.bucket;
    PERFORM @extschema@.usage_rollup_add_user_deltas();
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_fan_out() IS
'Internal: adds the staged hourly and daily rollup amounts to the platform and per-user summary tables';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_fan_out() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_fan_out() TO tokenledger_admin;
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_fold(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_fold(bigint, bigint) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_apply_cost_deltas()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    wm bigint;
    dtz text;
    n bigint;
    created boolean;
BEGIN
    IF pg_catalog.to_regclass('pg_temp.tokenledger_cost_deltas') IS NULL THEN
        RAISE EXCEPTION 'temporary table tokenledger_cost_deltas does not exist'
            USING ERRCODE = 'undefined_table',
                  HINT = 'usage_reprice creates it; fill it with the per-event cost changes before calling this.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('tokenledger'), 1);
    SELECT s.watermark, s.day_timezone INTO wm, dtz FROM @extschema@.usage_rollup_state s;

    IF pg_catalog.to_regclass('pg_temp.tokenledger_delta_groups') IS NOT NULL THEN
        DROP TABLE pg_temp.tokenledger_delta_groups;
    END IF;
    CREATE TEMP TABLE tokenledger_delta_groups ON COMMIT DROP AS
    SELECT date_trunc('hour', d.occurred_at, 'UTC') AS hour, date_trunc('day', d.occurred_at, dtz) AS day,
           d.user_id, coalesce(d.provider_id, 0)::smallint AS provider_id, d.model_id,
           coalesce(d.endpoint_id, 0) AS endpoint_id, d.success,
           count(*) AS events,
           coalesce(sum(d.input_cost_nano_usd), 0) AS input_c, coalesce(sum(d.output_cost_nano_usd), 0) AS output_c,
           coalesce(sum(d.cache_read_cost_nano_usd), 0) AS cache_read_c, coalesce(sum(d.cache_write_cost_nano_usd), 0) AS cache_write_c,
           coalesce(sum(d.reasoning_cost_nano_usd), 0) AS reasoning_c, coalesce(sum(d.total_cost_nano_usd), 0) AS total_c
    FROM pg_temp.tokenledger_cost_deltas d
    WHERE d.event_id <= wm
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
    SELECT coalesce(sum(g.events), 0) INTO n FROM pg_temp.tokenledger_delta_groups g;

    -- The change to each touched hourly and daily row, as amounts to add:
    -- the cost deltas, and unpriced_requests recounted from the ledger
    -- minus its current value. The fan-out carries them into the summaries.
    created := @extschema@.usage_rollup_staging();
    TRUNCATE pg_temp.tokenledger_fold, pg_temp.tokenledger_fold_daily;
    INSERT INTO pg_temp.tokenledger_fold
    SELECT g.hour, 0,
           (SELECT count(*) FROM @extschema@.usage_log l
            WHERE l.occurred_at >= g.hour AND l.occurred_at < g.hour + interval '1 hour'
              AND l.event_id <= wm AND l.user_id = g.user_id AND l.model_id = g.model_id
              AND coalesce(l.provider_id, 0) = g.provider_id AND coalesce(l.endpoint_id, 0) = g.endpoint_id
              AND l.success = g.success AND l.total_cost_nano_usd IS NULL) - coalesce(t.unpriced_requests, 0),
           0, 0, 0, 0, 0, 0, 0,
           g.input_c, g.output_c, g.cache_read_c, g.cache_write_c, g.reasoning_c, g.total_c, 0, 0,
           g.model_id, g.endpoint_id, g.provider_id, g.success, g.user_id, '{}'
    FROM (SELECT hour, user_id, provider_id, model_id, endpoint_id, success,
                 sum(input_c) input_c, sum(output_c) output_c, sum(cache_read_c) cache_read_c,
                 sum(cache_write_c) cache_write_c, sum(reasoning_c) reasoning_c, sum(total_c) total_c
          FROM pg_temp.tokenledger_delta_groups GROUP BY 1, 2, 3, 4, 5, 6) g
    LEFT JOIN @extschema@.usage_rollup_hourly t
      ON t.bucket = g.hour AND t.user_id = g.user_id AND t.provider_id = g.provider_id
     AND t.model_id = g.model_id AND t.endpoint_id = g.endpoint_id AND t.success = g.success;

    INSERT INTO pg_temp.tokenledger_fold_daily
    SELECT g.day, 0,
           (SELECT count(*) FROM @extschema@.usage_log l
            WHERE l.occurred_at >= g.day
              AND l.occurred_at < ((g.day AT TIME ZONE dtz) + interval '1 day') AT TIME ZONE dtz
              AND l.event_id <= wm AND l.user_id = g.user_id AND l.model_id = g.model_id
              AND coalesce(l.provider_id, 0) = g.provider_id AND coalesce(l.endpoint_id, 0) = g.endpoint_id
              AND l.success = g.success AND l.total_cost_nano_usd IS NULL) - coalesce(t.unpriced_requests, 0),
           0, 0, 0, 0, 0, 0, 0,
           g.input_c, g.output_c, g.cache_read_c, g.cache_write_c, g.reasoning_c, g.total_c, 0, 0,
           g.model_id, g.endpoint_id, g.provider_id, g.success, g.user_id, '{}'
    FROM (SELECT day, user_id, provider_id, model_id, endpoint_id, success,
                 sum(input_c) input_c, sum(output_c) output_c, sum(cache_read_c) cache_read_c,
                 sum(cache_write_c) cache_write_c, sum(reasoning_c) reasoning_c, sum(total_c) total_c
          FROM pg_temp.tokenledger_delta_groups GROUP BY 1, 2, 3, 4, 5, 6) g
    LEFT JOIN @extschema@.usage_rollup_daily t
      ON t.bucket = g.day AND t.user_id = g.user_id AND t.provider_id = g.provider_id
     AND t.model_id = g.model_id AND t.endpoint_id = g.endpoint_id AND t.success = g.success;

    PERFORM @extschema@.usage_rollup_merge('usage_rollup_hourly', 'tokenledger_fold');
    PERFORM @extschema@.usage_rollup_merge('usage_rollup_daily', 'tokenledger_fold_daily');
    PERFORM @extschema@.usage_rollup_fan_out();
    -- usage_reprice runs as definer: staging tables made here would belong
    -- to its owner, out of reach of the session's own rollup runs.
    IF created THEN
        PERFORM @extschema@.usage_rollup_staging_drop();
    END IF;

    DROP TABLE pg_temp.tokenledger_delta_groups;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_apply_cost_deltas() IS
'Reprice hook: applies the per-event cost changes in temp table tokenledger_cost_deltas to the rollup and summary rows of events already rolled up; returns how many events it applied';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_apply_cost_deltas() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_apply_cost_deltas() TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_forget_user(user_id text, anonymous_id text DEFAULT NULL)
RETURNS TABLE (object text, rows_changed bigint, reassigned_to text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    old_id text := usage_forget_user.user_id;
    new_id text := coalesce(anonymous_id, 'forgotten:' || gen_random_uuid());
    n bigint;
    t text;
    created boolean;
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    IF old_id IS NULL OR old_id = '' THEN
        RAISE EXCEPTION 'user_id must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the app''s id of the user to forget.';
    END IF;
    IF new_id = '' OR new_id = old_id THEN
        RAISE EXCEPTION 'anonymous_id must differ from user_id and not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Omit anonymous_id to use a fresh random subject.';
    END IF;
    -- No rollup or reprice may run while rows move between subjects.
    PERFORM pg_advisory_xact_lock(hashtext('tokenledger'), 1);

    UPDATE @extschema@.usage_log l SET user_id = new_id WHERE l.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'usage_log'; rows_changed := n; reassigned_to := new_id; RETURN NEXT;

    -- Rollup rows move to the subject by merging, so they add to any rows
    -- the subject already has for the same key.
    IF pg_catalog.to_regclass('pg_temp.tokenledger_forget') IS NULL THEN
        CREATE TEMP TABLE tokenledger_forget (LIKE @extschema@.usage_rollup_hourly) ON COMMIT DROP;
    END IF;
    FOREACH t IN ARRAY ARRAY['usage_rollup_hourly', 'usage_rollup_daily'] LOOP
        TRUNCATE pg_temp.tokenledger_forget;
        EXECUTE format('WITH moved AS (DELETE FROM %I.%I r WHERE r.user_id = $1 RETURNING r.*) '
                       'INSERT INTO pg_temp.tokenledger_forget SELECT * FROM moved',
                       (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), t)
            USING old_id;
        UPDATE pg_temp.tokenledger_forget SET user_id = new_id;
        n := @extschema@.usage_rollup_merge(t, 'tokenledger_forget');
        object := t; rows_changed := n; RETURN NEXT;
    END LOOP;

    -- Per-user summaries: the user's hourly amounts (differences of the
    -- running totals) are added to the subject's, then the user's rows go.
    -- Platform summaries hold no user and stay as they are. Staging tables
    -- this definer call creates are dropped again, so that the caller's
    -- own rollup runs can create theirs.
    created := @extschema@.usage_rollup_staging();
    TRUNCATE pg_temp.tokenledger_user_delta;
    INSERT INTO pg_temp.tokenledger_user_delta
    SELECT new_id, c.bucket,
           c.requests - coalesce(lag(c.requests) OVER w, 0), c.failures - coalesce(lag(c.failures) OVER w, 0),
           c.unpriced_requests - coalesce(lag(c.unpriced_requests) OVER w, 0),
           c.total_tokens - coalesce(lag(c.total_tokens) OVER w, 0),
           c.total_cost_nano_usd - coalesce(lag(c.total_cost_nano_usd) OVER w, 0)
    FROM @extschema@.usage_rollup_user_cum c
    WHERE c.user_id = old_id
    WINDOW w AS (ORDER BY c.bucket);
    DELETE FROM @extschema@.usage_rollup_user_cum c WHERE c.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM @extschema@.usage_rollup_user_totals u WHERE u.user_id = old_id;
    PERFORM @extschema@.usage_rollup_add_user_deltas();
    object := 'usage_rollup_user_cum'; rows_changed := n; RETURN NEXT;
    IF created THEN
        PERFORM @extschema@.usage_rollup_staging_drop();
    END IF;

    -- Quota counters follow the ledger rows to the subject, adding to any
    -- the subject already has.
    WITH moved AS (DELETE FROM @extschema@.quota_usage_counters c WHERE c.user_id = old_id RETURNING c.*)
    INSERT INTO @extschema@.quota_usage_counters AS c
    SELECT new_id, m.grain, m.bucket, m.requests, m.tokens, m.cost_nano_usd, m.first_at FROM moved m
    ON CONFLICT ON CONSTRAINT quota_usage_counters_pkey DO UPDATE SET requests = c.requests + excluded.requests,
        tokens = c.tokens + excluded.tokens, cost_nano_usd = c.cost_nano_usd + excluded.cost_nano_usd,
        first_at = least(c.first_at, excluded.first_at);
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_usage_counters'; rows_changed := n; RETURN NEXT;

    -- Quota state must not name the user either. Holds are transient: drop them.
    DELETE FROM @extschema@.quota_reservations r WHERE r.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_reservations'; rows_changed := n; RETURN NEXT;

    -- Alerts move to the subject; one the subject already has for the same
    -- limit, threshold and window makes the user's copy redundant.
    DELETE FROM @extschema@.quota_alert_log a
    WHERE a.user_id = old_id
      AND EXISTS (SELECT 1 FROM @extschema@.quota_alert_log b
                  WHERE b.user_id = new_id AND b.limit_name = a.limit_name
                    AND b.threshold_pct = a.threshold_pct AND b.window_start = a.window_start);
    UPDATE @extschema@.quota_alert_log a SET user_id = new_id WHERE a.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_alert_log'; rows_changed := n; RETURN NEXT;

    -- The plan assignment and block belong to the person, not to the subject.
    DELETE FROM @extschema@.quota_users u WHERE u.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_users'; rows_changed := n; RETURN NEXT;

    -- Last, so it also covers the audit row of the delete just above.
    UPDATE @extschema@.quota_audit a
       SET object_key = new_id,
           old_value = CASE WHEN a.old_value ? 'user_id'
                            THEN jsonb_set(a.old_value, '{user_id}', to_jsonb(new_id)) ELSE a.old_value END,
           new_value = CASE WHEN a.new_value ? 'user_id'
                            THEN jsonb_set(a.new_value, '{user_id}', to_jsonb(new_id)) ELSE a.new_value END
     WHERE a.object_type = 'user' AND a.object_key = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_audit'; rows_changed := n; RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_forget_user(text, text) IS
'Erasure: reassigns every ledger, rollup, quota counter and quota alert row of user_id to an anonymous subject (default a fresh random id), keeping all totals; removes the user''s quota assignment, block and reservations and rewrites their audit rows; returns the rows changed per table and the subject they now belong to';
REVOKE ALL ON FUNCTION @extschema@.usage_forget_user(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_forget_user(text, text) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_report_segments(p_from timestamptz, p_to timestamptz, use_daily boolean DEFAULT true,
    OUT f timestamptz, OUT t timestamptz, OUT hs timestamptz, OUT he timestamptz,
    OUT ds timestamptz, OUT de timestamptz, OUT wm bigint, OUT hs_sub boolean, OUT he_sub boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    dtz text;
BEGIN
    f := coalesce(p_from, '-infinity');
    t := coalesce(p_to, 'infinity');
    IF f >= t THEN
        RAISE EXCEPTION 'the period is empty: from (%) must be before to (%)', f, t
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Periods are half-open ranges [from, to); pass NULL for an open end.';
    END IF;
    SELECT s.watermark, s.day_timezone INTO wm, dtz FROM @extschema@.usage_rollup_state s;
    hs := f;
    IF isfinite(f) THEN
        hs := date_trunc('hour', f, 'UTC');
        IF hs < f THEN hs := hs + interval '1 hour'; END IF;
    END IF;
    he := CASE WHEN isfinite(t) THEN date_trunc('hour', t, 'UTC') ELSE t END;
    IF hs >= he THEN
        hs := t; he := t;
    END IF;
    -- A partial edge hour that covers most of its hour, or that ends about
    -- now, is read as the hourly row minus the raw rows outside the period:
    -- for a period ending now that is almost nothing, however busy the
    -- current hour is.
    hs_sub := hs < he AND isfinite(f) AND hs - f > interval '30 minutes';
    -- (A period ending on an hour boundary has no partial end hour.)
    he_sub := hs < he AND isfinite(t) AND t > he
              AND (t - he > interval '30 minutes' OR t >= now() - interval '5 minutes');
    ds := hs; de := hs;
    IF use_daily AND dtz = @extschema@.usage_report_timezone() AND hs < he THEN
        ds := hs;
        IF isfinite(hs) THEN
            ds := date_trunc('day', hs, dtz);
            IF ds < hs THEN ds := ((ds AT TIME ZONE dtz) + interval '1 day') AT TIME ZONE dtz; END IF;
        END IF;
        de := CASE WHEN isfinite(he) THEN date_trunc('day', he, dtz) ELSE he END;
        IF NOT (ds < de)
           OR (isfinite(ds) AND date_trunc('hour', ds, 'UTC') <> ds)
           OR (isfinite(de) AND date_trunc('hour', de, 'UTC') <> de) THEN
            ds := hs; de := hs;
        END IF;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_report_segments(timestamptz, timestamptz, boolean) IS
'Internal: splits [from, to) into whole days (ds..de, daily rollup), whole hours (hs..he, hourly rollup) and raw edges (read as hour minus complement when hs_sub/he_sub), with the watermark';
REVOKE ALL ON FUNCTION @extschema@.usage_report_segments(timestamptz, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_report_segments(timestamptz, timestamptz, boolean) TO tokenledger_reader, tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_report_facts(p_from timestamptz, p_to timestamptz,
    p_user_id text DEFAULT NULL, use_daily boolean DEFAULT true)
RETURNS TABLE (granule timestamptz, user_id text, provider_id smallint, model_id integer, endpoint_id integer,
    success boolean, requests bigint, unpriced_requests bigint,
    input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint,
    cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint,
    input_cost_nano_usd bigint, output_cost_nano_usd bigint, cache_read_cost_nano_usd bigint,
    cache_write_cost_nano_usd bigint, reasoning_cost_nano_usd bigint, total_cost_nano_usd bigint,
    latency_sum_ms bigint, latency_count bigint, latency_hist bigint[])
LANGUAGE sql STABLE
AS $fn$
WITH s AS MATERIALIZED (SELECT * FROM @extschema@.usage_report_segments(p_from, p_to, use_daily)),
daily AS NOT MATERIALIZED (
    SELECT d.bucket, NULL::text AS user_id, d.provider_id, d.model_id, d.endpoint_id, d.success, d.requests, d.unpriced_requests,
           d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_write_tokens, d.cache_write_1h_tokens,
           d.reasoning_tokens, d.total_tokens, d.input_cost_nano_usd, d.output_cost_nano_usd,
           d.cache_read_cost_nano_usd, d.cache_write_cost_nano_usd, d.reasoning_cost_nano_usd, d.total_cost_nano_usd,
           d.latency_sum_ms, d.latency_count, d.latency_hist
    FROM @extschema@.usage_rollup_platform_daily d WHERE p_user_id IS NULL
    UNION ALL
    SELECT d.bucket, d.user_id, d.provider_id, d.model_id, d.endpoint_id, d.success, d.requests, d.unpriced_requests,
           d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_write_tokens, d.cache_write_1h_tokens,
           d.reasoning_tokens, d.total_tokens, d.input_cost_nano_usd, d.output_cost_nano_usd,
           d.cache_read_cost_nano_usd, d.cache_write_cost_nano_usd, d.reasoning_cost_nano_usd, d.total_cost_nano_usd,
           d.latency_sum_ms, d.latency_count, d.latency_hist
    FROM @extschema@.usage_rollup_daily d WHERE d.user_id = p_user_id),
hourly AS NOT MATERIALIZED (
    SELECT h.bucket, NULL::text AS user_id, h.provider_id, h.model_id, h.endpoint_id, h.success, h.requests, h.unpriced_requests,
           h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens, h.cache_write_1h_tokens,
           h.reasoning_tokens, h.total_tokens, h.input_cost_nano_usd, h.output_cost_nano_usd,
           h.cache_read_cost_nano_usd, h.cache_write_cost_nano_usd, h.reasoning_cost_nano_usd, h.total_cost_nano_usd,
           h.latency_sum_ms, h.latency_count, h.latency_hist
    FROM @extschema@.usage_rollup_platform_hourly h WHERE p_user_id IS NULL
    UNION ALL
    SELECT h.bucket, h.user_id, h.provider_id, h.model_id, h.endpoint_id, h.success, h.requests, h.unpriced_requests,
           h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens, h.cache_write_1h_tokens,
           h.reasoning_tokens, h.total_tokens, h.input_cost_nano_usd, h.output_cost_nano_usd,
           h.cache_read_cost_nano_usd, h.cache_write_cost_nano_usd, h.reasoning_cost_nano_usd, h.total_cost_nano_usd,
           h.latency_sum_ms, h.latency_count, h.latency_hist
    FROM @extschema@.usage_rollup_hourly h WHERE h.user_id = p_user_id),
raw AS NOT MATERIALIZED (
    SELECT l.occurred_at, l.event_id, NULL::text AS user_id, l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
           l.reasoning_tokens, l.total_tokens, l.input_cost_nano_usd, l.output_cost_nano_usd,
           l.cache_read_cost_nano_usd, l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd,
           l.latency_ms
    FROM @extschema@.usage_log l WHERE p_user_id IS NULL
    UNION ALL
    SELECT l.occurred_at, l.event_id, l.user_id, l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
           l.reasoning_tokens, l.total_tokens, l.input_cost_nano_usd, l.output_cost_nano_usd,
           l.cache_read_cost_nano_usd, l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd,
           l.latency_ms
    FROM @extschema@.usage_log l WHERE l.user_id = p_user_id),
-- Raw rows of the edge hours and the tail, each with the sign it counts
-- with and its granule. Inside the period at an edge: +1, unless that edge
-- hour is read whole from the rollup (hs_sub, he_sub), where the rolled-up
-- rows outside the period count -1 instead. One scan covers both edges,
-- reading only the part of each edge hour that counts.
edges AS (
    SELECT CASE WHEN r.occurred_at < (SELECT s.f FROM s) THEN -1
                WHEN r.occurred_at < (SELECT s.hs FROM s) THEN CASE WHEN (SELECT s.hs_sub FROM s) THEN 0 ELSE 1 END
                WHEN r.occurred_at < (SELECT s.t FROM s) THEN CASE WHEN (SELECT s.he_sub FROM s) THEN 0 ELSE 1 END
                ELSE -1 END AS sign,
           CASE WHEN r.occurred_at < (SELECT s.f FROM s) THEN (SELECT s.hs FROM s) - interval '1 hour'
                WHEN r.occurred_at < (SELECT s.hs FROM s) THEN greatest(date_trunc('hour', r.occurred_at, 'UTC'), (SELECT s.f FROM s))
                WHEN r.occurred_at < (SELECT s.t FROM s) THEN date_trunc('hour', r.occurred_at, 'UTC')
                ELSE (SELECT s.he FROM s) END AS granule,
           r.*
    FROM raw r
    WHERE r.event_id + 0 <= (SELECT s.wm FROM s)
      -- nothing to read when both edges are empty (bounds on hour
      -- boundaries): skip the scan, which would still visit index ranges
      AND (SELECT (s.hs_sub OR s.f < s.hs) OR (s.he_sub OR s.he < s.t) FROM s)
      AND ((r.occurred_at >= (SELECT CASE WHEN s.hs_sub THEN s.hs - interval '1 hour' ELSE s.f END FROM s)
            AND r.occurred_at < (SELECT CASE WHEN s.hs_sub THEN s.f ELSE s.hs END FROM s))
           OR (r.occurred_at >= (SELECT CASE WHEN s.he_sub THEN s.t ELSE s.he END FROM s)
               AND r.occurred_at < (SELECT CASE WHEN s.he_sub THEN s.he + interval '1 hour' ELSE s.t END FROM s)))),
raw_parts AS (
    SELECT e.granule, e.sign, e.occurred_at, e.user_id, e.provider_id, e.model_id, e.endpoint_id, e.success,
           e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.cache_write_1h_tokens,
           e.reasoning_tokens, e.total_tokens, e.input_cost_nano_usd, e.output_cost_nano_usd,
           e.cache_read_cost_nano_usd, e.cache_write_cost_nano_usd, e.reasoning_cost_nano_usd, e.total_cost_nano_usd,
           e.latency_ms
    FROM edges e WHERE e.sign <> 0
    UNION ALL
    -- the tail: every event not rolled up yet
    SELECT greatest(date_trunc('hour', r.occurred_at, 'UTC'), (SELECT s.f FROM s)), 1, r.occurred_at, r.user_id,
           r.provider_id, r.model_id, r.endpoint_id, r.success,
           r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cache_write_1h_tokens,
           r.reasoning_tokens, r.total_tokens, r.input_cost_nano_usd, r.output_cost_nano_usd,
           r.cache_read_cost_nano_usd, r.cache_write_cost_nano_usd, r.reasoning_cost_nano_usd, r.total_cost_nano_usd,
           r.latency_ms
    FROM raw r
    WHERE r.event_id > (SELECT s.wm FROM s)
      AND r.occurred_at >= (SELECT s.f FROM s) AND r.occurred_at < (SELECT s.t FROM s))
-- whole days
-- (the constant bounds repeat the segment bounds loosely so the planner can
-- estimate the range when the period is known at planning time)
SELECT d.* FROM daily d
WHERE d.bucket >= coalesce(p_from, '-infinity') - interval '1 day' AND d.bucket < coalesce(p_to, 'infinity')
  AND d.bucket >= (SELECT s.ds FROM s) AND d.bucket < (SELECT s.de FROM s)
UNION ALL
-- whole hours before the first whole day
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket >= (SELECT s.hs FROM s) AND h.bucket < (SELECT s.ds FROM s)
UNION ALL
-- whole hours after the last whole day
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket >= (SELECT s.de FROM s) AND h.bucket < (SELECT s.he FROM s)
UNION ALL
-- the edge hours read whole, when most of them lies inside the period (their
-- rows outside it come off in raw_parts)
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket = (SELECT s.hs FROM s) - interval '1 hour' AND (SELECT s.hs_sub FROM s)
UNION ALL
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket = (SELECT s.he FROM s) AND (SELECT s.he_sub FROM s)
UNION ALL
SELECT p.granule, p.user_id, coalesce(p.provider_id, 0)::smallint, p.model_id, coalesce(p.endpoint_id, 0), p.success,
       sum(p.sign), coalesce(sum(p.sign) FILTER (WHERE p.total_cost_nano_usd IS NULL), 0),
       sum(p.sign * p.input_tokens), sum(p.sign * p.output_tokens), sum(p.sign * p.cache_read_tokens),
       sum(p.sign * p.cache_write_tokens), sum(p.sign * p.cache_write_1h_tokens), sum(p.sign * p.reasoning_tokens),
       sum(p.sign * p.total_tokens),
       coalesce(sum(p.sign * p.input_cost_nano_usd), 0)::bigint, coalesce(sum(p.sign * p.output_cost_nano_usd), 0)::bigint,
       coalesce(sum(p.sign * p.cache_read_cost_nano_usd), 0)::bigint, coalesce(sum(p.sign * p.cache_write_cost_nano_usd), 0)::bigint,
       coalesce(sum(p.sign * p.reasoning_cost_nano_usd), 0)::bigint, coalesce(sum(p.sign * p.total_cost_nano_usd), 0)::bigint,
       coalesce(sum(p.sign * p.latency_ms), 0), coalesce(sum(p.sign) FILTER (WHERE p.latency_ms IS NOT NULL), 0),
       @extschema@.usage_hist_add(@extschema@.usage_latency_hist(p.latency_ms) FILTER (WHERE p.sign > 0),
                                  @extschema@.usage_hist_negate(@extschema@.usage_latency_hist(p.latency_ms) FILTER (WHERE p.sign < 0)))
FROM raw_parts p
GROUP BY p.granule, p.user_id, coalesce(p.provider_id, 0), p.model_id, coalesce(p.endpoint_id, 0), p.success
$fn$;
COMMENT ON FUNCTION @extschema@.usage_report_facts(timestamptz, timestamptz, text, boolean) IS
'Internal: every ledger fact in [from, to) (optionally for one user) from the daily and hourly rollups (platform summaries when no user is given), the raw edges and the raw tail above the watermark; granule is the hour (or day) it belongs to';
REVOKE ALL ON FUNCTION @extschema@.usage_report_facts(timestamptz, timestamptz, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_report_facts(timestamptz, timestamptz, text, boolean) TO tokenledger_reader, tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_running_total_bound(x timestamptz,
    OUT cum_before timestamptz, OUT raw_from timestamptz, OUT raw_to timestamptz, OUT sign integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h timestamptz;
BEGIN
    sign := 1;
    IF NOT isfinite(x) THEN
        cum_before := x; raw_from := x; raw_to := x;
        RETURN;
    END IF;
    h := date_trunc('hour', x, 'UTC');
    IF x = h OR (x - h <= interval '30 minutes' AND x < now() - interval '5 minutes') THEN
        -- the boundary below x, plus the raw rows from it up to x
        cum_before := h; raw_from := h; raw_to := x;
    ELSE
        -- the boundary above x, minus the raw rows from x up to it
        cum_before := h + interval '1 hour'; raw_from := x; raw_to := h + interval '1 hour'; sign := -1;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_running_total_bound(timestamptz) IS
'Internal: how usage_user_range reads the per-user running total at instant x: the usage_rollup_user_cum row before cum_before, plus sign times the rolled-up raw rows in [raw_from, raw_to)';
REVOKE ALL ON FUNCTION @extschema@.usage_running_total_bound(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_running_total_bound(timestamptz) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_user_range(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint,
               total_cost_nano_usd bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT (SELECT s.watermark FROM @extschema@.usage_rollup_state s) AS wm,
           coalesce(p_from, '-infinity') AS f, coalesce(p_to, 'infinity') AS t,
           lo.cum_before AS f_cum, lo.raw_from AS f_raw_from, lo.raw_to AS f_raw_to, lo.sign AS f_sign,
           hi.cum_before AS t_cum, hi.raw_from AS t_raw_from, hi.raw_to AS t_raw_to, hi.sign AS t_sign
    FROM @extschema@.usage_running_total_bound(coalesce(p_from, '-infinity')) lo,
         @extschema@.usage_running_total_bound(coalesce(p_to, 'infinity')) hi),
-- F(to) - F(from) from the running totals, one row per user: a user whose
-- rolled-up history lies wholly before a bound has its all-time totals
-- there, one whose history starts at or after it has 0, and only the
-- others need their latest usage_rollup_user_cum row before the bound (the
-- gating conditions skip the index probe for everyone else).
cum AS (
    SELECT u.user_id,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.requests ELSE coalesce(tc.requests, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.requests ELSE coalesce(fc.requests, 0) END AS requests,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.failures ELSE coalesce(tc.failures, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.failures ELSE coalesce(fc.failures, 0) END AS failures,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.unpriced_requests ELSE coalesce(tc.unpriced_requests, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.unpriced_requests ELSE coalesce(fc.unpriced_requests, 0) END AS unpriced_requests,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.total_tokens ELSE coalesce(tc.total_tokens, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.total_tokens ELSE coalesce(fc.total_tokens, 0) END AS total_tokens,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.total_cost_nano_usd ELSE coalesce(tc.total_cost_nano_usd, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.total_cost_nano_usd ELSE coalesce(fc.total_cost_nano_usd, 0) END AS total_cost_nano_usd
    FROM b bt
    CROSS JOIN @extschema@.usage_rollup_user_totals u
    LEFT JOIN LATERAL (SELECT c.requests, c.failures, c.unpriced_requests, c.total_tokens, c.total_cost_nano_usd
                       FROM @extschema@.usage_rollup_user_cum c
                       WHERE u.last_bucket >= bt.t_cum AND u.first_bucket < bt.t_cum
                         AND c.user_id = u.user_id AND c.bucket < bt.t_cum
                       ORDER BY c.bucket DESC LIMIT 1) tc ON true
    LEFT JOIN LATERAL (SELECT c.requests, c.failures, c.unpriced_requests, c.total_tokens, c.total_cost_nano_usd
                       FROM @extschema@.usage_rollup_user_cum c
                       WHERE u.last_bucket >= bt.f_cum AND u.first_bucket < bt.f_cum
                         AND c.user_id = u.user_id AND c.bucket < bt.f_cum
                       ORDER BY c.bucket DESC LIMIT 1) fc ON true
    WHERE u.first_bucket < bt.t_cum AND u.last_bucket >= bt.f_cum),
-- The raw rows next to the bounds (rolled up) and the tail, per user.
raw AS (
    SELECT r.user_id, sum(r.sign) AS requests, sum(r.sign) FILTER (WHERE NOT r.success) AS failures,
           sum(r.sign) FILTER (WHERE r.total_cost_nano_usd IS NULL) AS unpriced_requests,
           sum(r.sign * r.total_tokens) AS total_tokens, sum(r.sign * coalesce(r.total_cost_nano_usd, 0)) AS total_cost_nano_usd
    FROM (SELECT l.user_id, (SELECT b.t_sign FROM b) AS sign, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE (SELECT b.t_raw_from < b.t_raw_to FROM b)
            AND l.occurred_at >= (SELECT b.t_raw_from FROM b) AND l.occurred_at < (SELECT b.t_raw_to FROM b)
            AND l.event_id + 0 <= (SELECT b.wm FROM b)
          UNION ALL
          SELECT l.user_id, -(SELECT b.f_sign FROM b), l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE (SELECT b.f_raw_from < b.f_raw_to FROM b)
            AND l.occurred_at >= (SELECT b.f_raw_from FROM b) AND l.occurred_at < (SELECT b.f_raw_to FROM b)
            AND l.event_id + 0 <= (SELECT b.wm FROM b)
          UNION ALL
          SELECT l.user_id, 1, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE l.event_id > (SELECT b.wm FROM b)
            AND l.occurred_at >= (SELECT b.f FROM b) AND l.occurred_at < (SELECT b.t FROM b)) r
    GROUP BY r.user_id)
SELECT coalesce(c.user_id, r.user_id),
       (coalesce(c.requests, 0) + coalesce(r.requests, 0))::bigint,
       (coalesce(c.failures, 0) + coalesce(r.failures, 0))::bigint,
       (coalesce(c.unpriced_requests, 0) + coalesce(r.unpriced_requests, 0))::bigint,
       (coalesce(c.total_tokens, 0) + coalesce(r.total_tokens, 0))::bigint,
       (coalesce(c.total_cost_nano_usd, 0) + coalesce(r.total_cost_nano_usd, 0))::bigint
FROM cum c
FULL JOIN raw r ON r.user_id = c.user_id
WHERE coalesce(c.requests, 0) + coalesce(r.requests, 0) > 0
$fn$;
COMMENT ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz) IS
'Internal: every user''s requests, failures, unpriced requests, tokens and cost in [from, to) (users with events in it only), from the per-user running totals, raw edges of at most half an hour and the raw tail';
REVOKE ALL ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_user_summary(user_id text, from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS TABLE (period_from timestamptz, period_to timestamptz, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    p record;
BEGIN
    p := @extschema@.usage_period(from_time, to_time);
    RETURN QUERY
SELECT p.period_from, p.period_to,
       coalesce(sum(x.requests), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE x.success), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE NOT x.success), 0)::bigint,
       round(sum(x.requests) FILTER (WHERE x.success) / nullif(sum(x.requests), 0), 4),
       coalesce(sum(x.unpriced_requests), 0)::bigint,
       coalesce(sum(x.input_tokens), 0)::bigint,
       coalesce(sum(x.output_tokens), 0)::bigint,
       coalesce(sum(x.cache_read_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_1h_tokens), 0)::bigint,
       coalesce(sum(x.reasoning_tokens), 0)::bigint,
       coalesce(sum(x.total_tokens), 0)::bigint,
       @extschema@.usage_nano_to_usd(coalesce(sum(x.input_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.output_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_read_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_write_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.reasoning_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0)),
       round(sum(x.latency_sum_ms) / nullif(sum(x.latency_count), 0), 1),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.5),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.95),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.99)
FROM @extschema@.usage_report_facts(p.period_from, p.period_to, usage_user_summary.user_id) x;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_user_summary(text, timestamptz, timestamptz) IS
'One user''s requests, successes, failures, tokens per bucket, costs in USD and latency percentiles over [from_time, to_time) (default: this month in tokenledger.timezone); real-time (rollups plus the raw tail)';
REVOKE ALL ON FUNCTION @extschema@.usage_user_summary(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_user_summary(text, timestamptz, timestamptz) TO tokenledger_reader, tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_top_users(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL, "limit" integer DEFAULT 10, order_by text DEFAULT 'cost', "offset" integer DEFAULT 0)
RETURNS TABLE (rank bigint, user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint, total_cost_usd numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    p record;
BEGIN
    IF order_by IS NULL OR order_by NOT IN ('cost', 'tokens', 'requests') THEN
        RAISE EXCEPTION 'order_by must be cost, tokens or requests, got %', coalesce(quote_literal(order_by), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Rank by cost (the default), tokens or requests.';
    END IF;
    IF "limit" IS NULL OR "limit" < 1 OR "offset" IS NULL OR "offset" < 0 THEN
        RAISE EXCEPTION 'limit must be positive and offset zero or more'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Page with limit => 10, offset => 10 for the second page.';
    END IF;
    p := @extschema@.usage_period(from_time, to_time);
    RETURN QUERY
    SELECT row_number() OVER (ORDER BY CASE order_by WHEN 'cost' THEN g.cost WHEN 'tokens' THEN g.tokens ELSE g.requests END DESC, g.user_id),
           g.user_id, g.requests::bigint, coalesce(g.failures, 0)::bigint, g.unpriced::bigint, g.tokens::bigint,
           @extschema@.usage_nano_to_usd(g.cost)
    FROM (SELECT x.user_id, x.requests, x.failures, x.unpriced_requests AS unpriced, x.total_tokens AS tokens,
                 x.total_cost_nano_usd AS cost
          FROM @extschema@.usage_user_range(p.period_from, p.period_to) x) g
    ORDER BY CASE order_by WHEN 'cost' THEN g.cost WHEN 'tokens' THEN g.tokens ELSE g.requests END DESC, g.user_id
    LIMIT "limit" OFFSET "offset";
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_top_users(timestamptz, timestamptz, integer, text, integer) IS
'The heaviest users over [from_time, to_time) (default: this month), ranked by cost, tokens or requests, ties by user id; page with limit and offset';
REVOKE ALL ON FUNCTION @extschema@.usage_top_users(timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_top_users(timestamptz, timestamptz, integer, text, integer) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_timeseries(bucket text DEFAULT 'day', from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL, user_id text DEFAULT NULL, model text DEFAULT NULL, endpoint text DEFAULT NULL)
RETURNS TABLE (bucket_start timestamptz, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint, total_cost_usd numeric, avg_latency_ms numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    tz text := @extschema@.usage_report_timezone();
    step interval;
    f timestamptz;
    t timestamptz;
    m integer;
    e integer;
BEGIN
    IF bucket IS NULL OR bucket NOT IN ('hour', 'day', 'week', 'month') THEN
        RAISE EXCEPTION 'bucket must be hour, day, week or month, got %', coalesce(quote_literal(bucket), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass bucket => ''day'' for a daily series.';
    END IF;
    step := ('1 ' || bucket)::interval;
    t := coalesce(to_time, now());
    f := coalesce(from_time, ((t AT TIME ZONE tz) - CASE bucket WHEN 'hour' THEN interval '47 hours' WHEN 'day' THEN interval '29 days'
                                                                WHEN 'week' THEN interval '11 weeks' ELSE interval '11 months' END) AT TIME ZONE tz);
    IF f >= t OR NOT isfinite(f) OR NOT isfinite(t) THEN
        RAISE EXCEPTION 'the period must be finite and non-empty: from (%) must be before to (%)', f, t
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass from_time and to_time, or omit them for the last 30 days (48 hours, 12 weeks, 12 months).';
    END IF;
    -- Whole buckets: from rounds down, to rounds up.
    f := date_trunc(bucket, f, tz);
    IF date_trunc(bucket, t, tz) < t THEN
        t := ((date_trunc(bucket, t, tz) AT TIME ZONE tz) + step) AT TIME ZONE tz;
    END IF;
    IF (t AT TIME ZONE tz) - (f AT TIME ZONE tz) > step * 10000 THEN
        RAISE EXCEPTION 'the series would have more than 10000 buckets'
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Use a coarser bucket or a shorter period.';
    END IF;
    IF model IS NOT NULL THEN
        m := coalesce((SELECT d.model_id FROM @extschema@.usage_models d WHERE d.name = model), -1);
    END IF;
    IF endpoint IS NOT NULL THEN
        e := coalesce((SELECT d.endpoint_id FROM @extschema@.usage_endpoints d WHERE d.name = endpoint), -1);
    END IF;
    RETURN QUERY
    WITH g AS (
        SELECT date_trunc(bucket, x.granule, tz) AS b,
               sum(x.requests) AS requests, sum(x.requests) FILTER (WHERE NOT x.success) AS failures,
               sum(x.unpriced_requests) AS unpriced, sum(x.total_tokens) AS tokens,
               sum(x.total_cost_nano_usd) AS cost, sum(x.latency_sum_ms) AS lat_sum, sum(x.latency_count) AS lat_n
        FROM @extschema@.usage_report_facts(f, t, usage_timeseries.user_id, bucket <> 'hour') x
        WHERE (m IS NULL OR x.model_id = m) AND (e IS NULL OR x.endpoint_id = e)
        GROUP BY 1)
    SELECT s.ts AT TIME ZONE tz,
           coalesce(g.requests, 0)::bigint, coalesce(g.failures, 0)::bigint, coalesce(g.unpriced, 0)::bigint,
           coalesce(g.tokens, 0)::bigint, @extschema@.usage_nano_to_usd(coalesce(g.cost, 0)),
           round(g.lat_sum / nullif(g.lat_n, 0), 1)
    FROM generate_series(f AT TIME ZONE tz, (t AT TIME ZONE tz) - step, step) AS s(ts)
    LEFT JOIN g ON g.b = s.ts AT TIME ZONE tz
    ORDER BY 1;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_timeseries(text, timestamptz, timestamptz, text, text, text) IS
'A zero-filled series of requests, failures, tokens, USD cost and latency per hour, day, week or month (calendar buckets in tokenledger.timezone) over [from_time, to_time) rounded out to whole buckets (default: the last 30 days), optionally for one user, model or endpoint';
REVOKE ALL ON FUNCTION @extschema@.usage_timeseries(text, timestamptz, timestamptz, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_timeseries(text, timestamptz, timestamptz, text, text, text) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_breakdown(dimension text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (name text, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint, cost_share numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    p record;
BEGIN
    IF dimension IS NULL OR dimension NOT IN ('model', 'endpoint', 'provider') THEN
        RAISE EXCEPTION 'unknown breakdown dimension "%"', dimension
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use model, endpoint or provider.';
    END IF;
    p := @extschema@.usage_period(from_time, to_time);
    RETURN QUERY
    WITH grouped AS (
        -- Rollups store 0 for "no endpoint/provider", the raw tail NULL: one group.
        SELECT CASE dimension WHEN 'model' THEN x.model_id
                              WHEN 'endpoint' THEN nullif(x.endpoint_id, 0)
                              ELSE nullif(x.provider_id, 0) END AS key,
               sum(x.requests) AS requests,
               sum(x.requests) FILTER (WHERE x.success) AS successes,
               sum(x.requests) FILTER (WHERE NOT x.success) AS failures,
               sum(x.unpriced_requests) AS unpriced,
               sum(x.input_tokens) AS input_tokens, sum(x.output_tokens) AS output_tokens,
               sum(x.cache_read_tokens) AS cache_read_tokens, sum(x.cache_write_tokens) AS cache_write_tokens,
               sum(x.cache_write_1h_tokens) AS cache_write_1h_tokens, sum(x.reasoning_tokens) AS reasoning_tokens,
               sum(x.total_tokens) AS total_tokens,
               sum(x.input_cost_nano_usd) AS input_cost, sum(x.output_cost_nano_usd) AS output_cost,
               sum(x.cache_read_cost_nano_usd) AS cache_read_cost, sum(x.cache_write_cost_nano_usd) AS cache_write_cost,
               sum(x.reasoning_cost_nano_usd) AS reasoning_cost, sum(x.total_cost_nano_usd) AS total_cost,
               sum(x.latency_sum_ms) AS latency_sum, sum(x.latency_count) AS latency_count,
               @extschema@.usage_hist_sum(x.latency_hist) AS hist
        FROM @extschema@.usage_report_facts(p.period_from, p.period_to) x
        GROUP BY 1),
    named AS (
        SELECT CASE dimension
                   WHEN 'model' THEN (SELECT d.name FROM @extschema@.usage_models d WHERE d.model_id = g.key)
                   WHEN 'endpoint' THEN (SELECT d.name FROM @extschema@.usage_endpoints d WHERE d.endpoint_id = g.key)
                   ELSE (SELECT d.name FROM @extschema@.usage_providers d WHERE d.provider_id = g.key)
               END AS name, g.*
        FROM grouped g)
    SELECT n.name, coalesce(n.requests, 0)::bigint, coalesce(n.successes, 0)::bigint,
           coalesce(n.failures, 0)::bigint,
           round(n.successes / nullif(n.requests, 0), 4),
           coalesce(n.unpriced, 0)::bigint,
           coalesce(n.input_tokens, 0)::bigint, coalesce(n.output_tokens, 0)::bigint,
           coalesce(n.cache_read_tokens, 0)::bigint, coalesce(n.cache_write_tokens, 0)::bigint,
           coalesce(n.cache_write_1h_tokens, 0)::bigint, coalesce(n.reasoning_tokens, 0)::bigint,
           coalesce(n.total_tokens, 0)::bigint,
           @extschema@.usage_nano_to_usd(coalesce(n.input_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.output_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.cache_read_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.cache_write_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.reasoning_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.total_cost, 0)),
           round(n.latency_sum / nullif(n.latency_count, 0), 1),
           @extschema@.usage_hist_quantile(n.hist, 0.5),
           @extschema@.usage_hist_quantile(n.hist, 0.95),
           @extschema@.usage_hist_quantile(n.hist, 0.99),
           round(n.total_cost / nullif(sum(n.total_cost) OVER (), 0), 4)
    FROM named n
    ORDER BY coalesce(n.total_cost, 0) DESC, n.name NULLS LAST;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_breakdown(text, timestamptz, timestamptz) IS
'Internal: usage per model, endpoint or provider over [from_time, to_time), costliest first; behind usage_by_model, usage_by_endpoint and usage_by_provider';
REVOKE ALL ON FUNCTION @extschema@.usage_breakdown(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_breakdown(text, timestamptz, timestamptz) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_system_summary(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS TABLE (period_from timestamptz, period_to timestamptz, unique_users bigint, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint, days integer, avg_requests_per_day numeric, avg_cost_per_day_usd numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    p record;
BEGIN
    p := @extschema@.usage_period(from_time, to_time);
    RETURN QUERY
SELECT min(pp.period_from), min(pp.period_to),
       (SELECT count(*) FROM @extschema@.usage_user_range(p.period_from, p.period_to))::bigint,
       coalesce(sum(x.requests), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE x.success), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE NOT x.success), 0)::bigint,
       round(sum(x.requests) FILTER (WHERE x.success) / nullif(sum(x.requests), 0), 4),
       coalesce(sum(x.unpriced_requests), 0)::bigint,
       coalesce(sum(x.input_tokens), 0)::bigint,
       coalesce(sum(x.output_tokens), 0)::bigint,
       coalesce(sum(x.cache_read_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_1h_tokens), 0)::bigint,
       coalesce(sum(x.reasoning_tokens), 0)::bigint,
       coalesce(sum(x.total_tokens), 0)::bigint,
       @extschema@.usage_nano_to_usd(coalesce(sum(x.input_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.output_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_read_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_write_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.reasoning_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0)),
       round(sum(x.latency_sum_ms) / nullif(sum(x.latency_count), 0), 1),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.5),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.95),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.99),
       d.days,
       round(coalesce(sum(x.requests), 0) / d.days::numeric, 2),
       round(@extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0)) / d.days, 9)
FROM (SELECT p.period_from, p.period_to) pp
-- Calendar days in the period up to today; at least one.
CROSS JOIN (
    SELECT greatest(1, (date_trunc('day', least(p.period_to - interval '1 microsecond', now()), @extschema@.usage_report_timezone())::date
                        - date_trunc('day', CASE WHEN isfinite(p.period_from) THEN p.period_from
                                          ELSE coalesce((SELECT min(r.bucket) FROM @extschema@.usage_rollup_platform_daily r), now()) END,
                                     @extschema@.usage_report_timezone())::date) + 1) AS days) d
LEFT JOIN @extschema@.usage_report_facts(p.period_from, p.period_to) x ON true
GROUP BY d.days;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_system_summary(timestamptz, timestamptz) IS
'Platform totals over [from_time, to_time) (default: this month): requests, unique users, success rate, tokens, USD costs, latency p50/p95/p99, and averages per calendar day';
REVOKE ALL ON FUNCTION @extschema@.usage_system_summary(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_system_summary(timestamptz, timestamptz) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_totals()
RETURNS TABLE (period text, period_from timestamptz, period_to timestamptz, requests bigint, failures bigint, unique_users bigint, unpriced_requests bigint, total_tokens bigint, total_cost_usd numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    p record;
BEGIN
    FOR p IN
        SELECT 'all_time' AS name, '-infinity'::timestamptz AS f, 'infinity'::timestamptz AS t
        UNION ALL
        SELECT 'this_month', m.period_from, m.period_to FROM @extschema@.usage_period(NULL, NULL, 'month') m
        UNION ALL
        SELECT 'today', d.period_from, d.period_to FROM @extschema@.usage_period(NULL, NULL, 'day') d
    LOOP
        RETURN QUERY
        SELECT p.name, p.f, p.t,
               coalesce(sum(x.requests), 0)::bigint, coalesce(sum(x.requests) FILTER (WHERE NOT x.success), 0)::bigint,
               (SELECT count(*) FROM @extschema@.usage_user_range(p.f, p.t))::bigint, coalesce(sum(x.unpriced_requests), 0)::bigint,
               coalesce(sum(x.total_tokens), 0)::bigint, @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0))
        FROM @extschema@.usage_report_facts(p.f, p.t) x;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_totals() IS
'Platform-wide requests, users, tokens and USD cost for all time, this month and today (calendar periods in tokenledger.timezone)';
REVOKE ALL ON FUNCTION @extschema@.usage_totals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_totals() TO tokenledger_admin;

-- Backfill from the rollups as 0.1.0 left them, under the rollup lock so
-- that no rollup run interleaves.
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('tokenledger'), 1);
INSERT INTO @extschema@.usage_rollup_platform_hourly
SELECT h.bucket, sum(h.requests), sum(h.unpriced_requests),
       sum(h.input_tokens), sum(h.output_tokens), sum(h.cache_read_tokens), sum(h.cache_write_tokens),
       sum(h.cache_write_1h_tokens), sum(h.reasoning_tokens), sum(h.total_tokens),
       sum(h.input_cost_nano_usd), sum(h.output_cost_nano_usd), sum(h.cache_read_cost_nano_usd),
       sum(h.cache_write_cost_nano_usd), sum(h.reasoning_cost_nano_usd), sum(h.total_cost_nano_usd),
       sum(h.latency_sum_ms), sum(h.latency_count),
       h.model_id, h.endpoint_id, h.provider_id, h.success, @extschema@.usage_hist_sum(h.latency_hist)
FROM @extschema@.usage_rollup_hourly h
GROUP BY h.bucket, h.model_id, h.endpoint_id, h.provider_id, h.success;
INSERT INTO @extschema@.usage_rollup_platform_daily
SELECT d.bucket, sum(d.requests), sum(d.unpriced_requests),
       sum(d.input_tokens), sum(d.output_tokens), sum(d.cache_read_tokens), sum(d.cache_write_tokens),
       sum(d.cache_write_1h_tokens), sum(d.reasoning_tokens), sum(d.total_tokens),
       sum(d.input_cost_nano_usd), sum(d.output_cost_nano_usd), sum(d.cache_read_cost_nano_usd),
       sum(d.cache_write_cost_nano_usd), sum(d.reasoning_cost_nano_usd), sum(d.total_cost_nano_usd),
       sum(d.latency_sum_ms), sum(d.latency_count),
       d.model_id, d.endpoint_id, d.provider_id, d.success, @extschema@.usage_hist_sum(d.latency_hist)
FROM @extschema@.usage_rollup_daily d
GROUP BY d.bucket, d.model_id, d.endpoint_id, d.provider_id, d.success;
INSERT INTO @extschema@.usage_rollup_user_cum
SELECT u.user_id, u.bucket,
       sum(u.requests) OVER w, sum(u.failures) OVER w, sum(u.unpriced_requests) OVER w,
       sum(u.total_tokens) OVER w, sum(u.total_cost_nano_usd) OVER w
FROM (SELECT h.user_id, h.bucket, sum(h.requests) AS requests,
             coalesce(sum(h.requests) FILTER (WHERE NOT h.success), 0) AS failures,
             sum(h.unpriced_requests) AS unpriced_requests, sum(h.total_tokens) AS total_tokens,
             sum(h.total_cost_nano_usd) AS total_cost_nano_usd
      FROM @extschema@.usage_rollup_hourly h GROUP BY 1, 2) u
WINDOW w AS (PARTITION BY u.user_id ORDER BY u.bucket);
INSERT INTO @extschema@.usage_rollup_user_totals
SELECT h.user_id, min(h.bucket), max(h.bucket), sum(h.requests),
       coalesce(sum(h.requests) FILTER (WHERE NOT h.success), 0),
       sum(h.unpriced_requests), sum(h.total_tokens), sum(h.total_cost_nano_usd)
FROM @extschema@.usage_rollup_hourly h
GROUP BY h.user_id;

-- ==== batch insert: usage_log_insert_batch ====
CREATE FUNCTION @extschema@.usage_log_insert_batch(
    user_id               text[],
    model                 text[],
    input_tokens          bigint[]      DEFAULT NULL,
    output_tokens         bigint[]      DEFAULT NULL,
    cache_read_tokens     bigint[]      DEFAULT NULL,
    cache_write_tokens    bigint[]      DEFAULT NULL,
    cache_write_1h_tokens bigint[]      DEFAULT NULL,
    reasoning_tokens      bigint[]      DEFAULT NULL,
    provider              text[]        DEFAULT NULL,
    endpoint              text[]        DEFAULT NULL,
    request_type          text[]        DEFAULT NULL,
    session_id            text[]        DEFAULT NULL,
    message_id            text[]        DEFAULT NULL,
    request_id            text[]        DEFAULT NULL,
    occurred_at           timestamptz[] DEFAULT NULL,
    latency_ms            integer[]     DEFAULT NULL,
    success               boolean[]     DEFAULT NULL,
    error_type            text[]        DEFAULT NULL,
    metadata              jsonb[]       DEFAULT NULL,
    service_tier          text[]        DEFAULT NULL,
    reservation_id        bigint[]      DEFAULT NULL
) RETURNS bigint[]
AS 'MODULE_PATHNAME', 'usage_log_insert_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE
-- Definer rights like usage_log_insert: apps need no table privileges, and
-- the pinned search_path keeps callers from hijacking the internal queries.
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.usage_log_insert_batch(text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], timestamptz[], integer[], boolean[], text[], jsonb[], text[], bigint[]) IS
'Records many LLM calls in one statement and returns their event ids in input order. Element i of every array describes event i (parameters as in usage_log_insert); an omitted array or a NULL element takes usage_log_insert''s default. All or nothing: the first invalid element raises usage_log_insert''s error prefixed with its 1-based position, and nothing is written. A request_id already in the ledger, or repeated within the batch, records nothing and returns the original event id';

REVOKE ALL ON FUNCTION @extschema@.usage_log_insert_batch(text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], timestamptz[], integer[], boolean[], text[], jsonb[], text[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_log_insert_batch(text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], timestamptz[], integer[], boolean[], text[], jsonb[], text[], bigint[])
    TO tokenledger_writer, tokenledger_admin;
