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

-- TRUNCATE usage_log (tests, a fresh start) empties the counters with it.
CREATE FUNCTION @extschema@.quota_counters_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
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
BEGIN
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
