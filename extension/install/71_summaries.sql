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
-- Only tables the current user made are reused (usage_temp_table_usable).
CREATE FUNCTION @extschema@.usage_rollup_staging()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s text := (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace);
    t record;
    created boolean := false;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('tokenledger_fold', 'usage_rollup_hourly', ''),
                                   ('tokenledger_fold_daily', 'usage_rollup_hourly', ''),
                                   ('tokenledger_fold_platform', 'usage_rollup_platform_hourly', ''),
                                   ('tokenledger_user_delta', 'usage_rollup_user_cum', ''),
                                   ('tokenledger_user_run', 'usage_rollup_user_cum', ' INCLUDING INDEXES'),
                                   ('tokenledger_user_new', 'usage_rollup_user_cum', ''),
                                   ('tokenledger_user_sum', 'usage_rollup_user_totals', '')) AS v (staged, model, extra)
    LOOP
        CONTINUE WHEN @extschema@.usage_temp_table_usable(t.staged);
        EXECUTE format('CREATE TEMP TABLE %I (LIKE %I.%I%s) ON COMMIT DELETE ROWS', t.staged, s, t.model, t.extra);
        created := true;
    END LOOP;
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
-- the fold, the reprice hook and erasure. Returns the user-hours it saw.
-- No hash or merge joins: the update must walk each user's index range
-- from their first changed hour. A fold touches few rows per user, but the
-- planner guessed a third of the table and hashed all of it (270 ms to
-- update no row at 1M events).
CREATE FUNCTION @extschema@.usage_rollup_add_user_deltas()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET enable_hashjoin = off
SET enable_mergejoin = off
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

    -- New hours, from the user's latest earlier row before any change. One
    -- probe finds the user's latest row at or before the hour: the hour's
    -- own row (then it is not new) or the earlier one to start from.
    INSERT INTO pg_temp.tokenledger_user_new
    SELECT r.user_id, r.bucket,
           coalesce(b.requests, 0) + r.requests, coalesce(b.failures, 0) + r.failures,
           coalesce(b.unpriced_requests, 0) + r.unpriced_requests, coalesce(b.total_tokens, 0) + r.total_tokens,
           coalesce(b.total_cost_nano_usd, 0) + r.total_cost_nano_usd
    FROM pg_temp.tokenledger_user_run r
    LEFT JOIN LATERAL (SELECT c.bucket, c.requests, c.failures, c.unpriced_requests, c.total_tokens, c.total_cost_nano_usd
                       FROM @extschema@.usage_rollup_user_cum c
                       WHERE c.user_id = r.user_id AND c.bucket <= r.bucket
                       ORDER BY c.bucket DESC LIMIT 1) b ON true
    WHERE b.bucket IS DISTINCT FROM r.bucket;

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
