-- Incremental hourly and daily rollups of the ledger.
--
-- Exactly-once folding: usage_rollup() keeps a watermark over event_id. Every
-- event with event_id <= watermark is counted in both rollup tables, every
-- other event in neither. To advance, it reads the sequence's last value
-- (the candidate), waits for every transaction holding a write lock on
-- usage_log to end (usage_rollup_wait_for_writers, C; usage_log_insert locks
-- the ledger before it draws an id, and the sequence is CACHE 1), then folds
-- the ids in (watermark, candidate] in batches, committing after each batch
-- together with the new watermark. Reports add the raw rows above the
-- watermark (the tail), so they are exact and real-time.

-- Latency histograms (C, rollup_support.c).
CREATE FUNCTION @extschema@.usage_latency_bucket(latency_ms integer)
RETURNS integer
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'usage_latency_bucket';
COMMENT ON FUNCTION @extschema@.usage_latency_bucket(integer) IS
'The latency histogram bucket of a latency in ms: 0 for 0, then two log-spaced buckets per power of two';
REVOKE ALL ON FUNCTION @extschema@.usage_latency_bucket(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_latency_bucket(integer) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_hist_accum(bigint[], integer)
RETURNS bigint[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'usage_hist_accum';
COMMENT ON FUNCTION @extschema@.usage_hist_accum(bigint[], integer) IS
'Internal: transition function of usage_latency_hist';
REVOKE ALL ON FUNCTION @extschema@.usage_hist_accum(bigint[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_hist_accum(bigint[], integer) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_hist_merge(bigint[], bigint[])
RETURNS bigint[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'usage_hist_merge';
COMMENT ON FUNCTION @extschema@.usage_hist_merge(bigint[], bigint[]) IS
'Internal: transition function of usage_hist_sum';
REVOKE ALL ON FUNCTION @extschema@.usage_hist_merge(bigint[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_hist_merge(bigint[], bigint[]) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_hist_trim(bigint[])
RETURNS bigint[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'usage_hist_trim';
COMMENT ON FUNCTION @extschema@.usage_hist_trim(bigint[]) IS
'Internal: final function of the histogram aggregates; drops trailing empty buckets';
REVOKE ALL ON FUNCTION @extschema@.usage_hist_trim(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_hist_trim(bigint[]) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_hist_add(bigint[], bigint[])
RETURNS bigint[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'usage_hist_add';
COMMENT ON FUNCTION @extschema@.usage_hist_add(bigint[], bigint[]) IS
'Elementwise sum of two latency histograms (NULL counts as empty)';
REVOKE ALL ON FUNCTION @extschema@.usage_hist_add(bigint[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_hist_add(bigint[], bigint[]) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_hist_negate(bigint[])
RETURNS bigint[]
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'usage_hist_negate';
COMMENT ON FUNCTION @extschema@.usage_hist_negate(bigint[]) IS
'A latency histogram with every count negated (to subtract one histogram from another with usage_hist_add)';
REVOKE ALL ON FUNCTION @extschema@.usage_hist_negate(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_hist_negate(bigint[]) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_hist_quantile(hist bigint[], q double precision)
RETURNS bigint
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'usage_hist_quantile';
COMMENT ON FUNCTION @extschema@.usage_hist_quantile(bigint[], double precision) IS
'The q-quantile of a latency histogram in ms: the upper bound of the bucket holding it (at most 1.5x the exact value); NULL when empty';
REVOKE ALL ON FUNCTION @extschema@.usage_hist_quantile(bigint[], double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_hist_quantile(bigint[], double precision) TO tokenledger_reader, tokenledger_admin;

CREATE AGGREGATE @extschema@.usage_latency_hist(integer) (
    SFUNC = @extschema@.usage_hist_accum,
    STYPE = bigint[],
    FINALFUNC = @extschema@.usage_hist_trim,
    COMBINEFUNC = @extschema@.usage_hist_add,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.usage_latency_hist(integer) IS
'Latency histogram (bigint[] of counts per log-spaced bucket) of a set of latencies in ms; NULLs are skipped';
REVOKE ALL ON FUNCTION @extschema@.usage_latency_hist(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_latency_hist(integer) TO tokenledger_reader, tokenledger_admin;

CREATE AGGREGATE @extschema@.usage_hist_sum(bigint[]) (
    SFUNC = @extschema@.usage_hist_merge,
    STYPE = bigint[],
    FINALFUNC = @extschema@.usage_hist_trim,
    COMBINEFUNC = @extschema@.usage_hist_add,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.usage_hist_sum(bigint[]) IS
'Sum of latency histograms';
REVOKE ALL ON FUNCTION @extschema@.usage_hist_sum(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_hist_sum(bigint[]) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_rollup_wait_for_writers()
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'usage_rollup_wait_for_writers';
COMMENT ON FUNCTION @extschema@.usage_rollup_wait_for_writers() IS
'Internal: waits until every transaction writing usage_log at the time of the call has ended (takes no lock itself)';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_wait_for_writers() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_rollup_wait_for_writers() TO tokenledger_admin;

-- The watermark. One row.
CREATE TABLE @extschema@.usage_rollup_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark      bigint NOT NULL DEFAULT 0,
    day_timezone   text NOT NULL,
    last_rollup_at timestamptz,
    events_folded  bigint NOT NULL DEFAULT 0
);
INSERT INTO @extschema@.usage_rollup_state (day_timezone)
VALUES (coalesce(current_setting('tokenledger.timezone', true), 'UTC'));
-- pg_restore copies the dumped state row into a table that CREATE EXTENSION
-- has already filled; fold the copied row into the existing one so a restore
-- carries the watermark over instead of failing on the primary key.
CREATE FUNCTION @extschema@.usage_rollup_state_restore() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    UPDATE @extschema@.usage_rollup_state
       SET watermark = NEW.watermark, day_timezone = NEW.day_timezone,
           last_rollup_at = NEW.last_rollup_at, events_folded = NEW.events_folded;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_rollup_state_restore() IS
'Trigger: an inserted state row (as pg_restore writes it) replaces the existing single row';
REVOKE ALL ON FUNCTION @extschema@.usage_rollup_state_restore() FROM PUBLIC;
CREATE TRIGGER usage_rollup_state_single_row BEFORE INSERT ON @extschema@.usage_rollup_state
    FOR EACH ROW EXECUTE FUNCTION @extschema@.usage_rollup_state_restore();
COMMENT ON TABLE @extschema@.usage_rollup_state IS 'Rollup progress: every event with event_id <= watermark is counted in the rollup tables, no other';
COMMENT ON COLUMN @extschema@.usage_rollup_state.watermark IS 'Highest event id folded into the rollups';
COMMENT ON COLUMN @extschema@.usage_rollup_state.day_timezone IS 'Time zone of usage_rollup_daily''s days (tokenledger.timezone when the extension was created)';
COMMENT ON COLUMN @extschema@.usage_rollup_state.last_rollup_at IS 'When usage_rollup last committed a batch';
COMMENT ON COLUMN @extschema@.usage_rollup_state.events_folded IS 'Ledger rows folded so far, all runs together';

-- Rollup rows. provider_id and endpoint_id hold 0 for "none" (dimension ids
-- start at 1), so the key needs no NULLs.
CREATE TABLE @extschema@.usage_rollup_hourly (
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
    user_id               text NOT NULL,
    latency_hist          bigint[] NOT NULL,
    PRIMARY KEY (bucket, user_id, provider_id, model_id, endpoint_id, success)
);
CREATE INDEX usage_rollup_hourly_user_idx ON @extschema@.usage_rollup_hourly (user_id, bucket);
CREATE TABLE @extschema@.usage_rollup_daily (LIKE @extschema@.usage_rollup_hourly INCLUDING ALL);

COMMENT ON TABLE @extschema@.usage_rollup_hourly IS 'Ledger totals per UTC hour, user, provider, model, endpoint and success; maintained by usage_rollup';
COMMENT ON TABLE @extschema@.usage_rollup_daily IS 'Ledger totals per calendar day (in usage_rollup_state.day_timezone), user, provider, model, endpoint and success; maintained by usage_rollup';
DO $comments$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage_rollup_hourly', 'usage_rollup_daily'] LOOP
        EXECUTE format($c$
            COMMENT ON COLUMN %1$I.%2$I.bucket IS 'Start of the hour (hourly) or of the day (daily)';
            COMMENT ON COLUMN %1$I.%2$I.requests IS 'Ledger rows counted';
            COMMENT ON COLUMN %1$I.%2$I.unpriced_requests IS 'Rows whose total cost is NULL (unpriced); their costs count as 0';
            COMMENT ON COLUMN %1$I.%2$I.input_tokens IS 'Sum of input_tokens';
            COMMENT ON COLUMN %1$I.%2$I.output_tokens IS 'Sum of output_tokens';
            COMMENT ON COLUMN %1$I.%2$I.cache_read_tokens IS 'Sum of cache_read_tokens';
            COMMENT ON COLUMN %1$I.%2$I.cache_write_tokens IS 'Sum of cache_write_tokens';
            COMMENT ON COLUMN %1$I.%2$I.cache_write_1h_tokens IS 'Sum of cache_write_1h_tokens';
            COMMENT ON COLUMN %1$I.%2$I.reasoning_tokens IS 'Sum of reasoning_tokens';
            COMMENT ON COLUMN %1$I.%2$I.total_tokens IS 'Sum of total_tokens';
            COMMENT ON COLUMN %1$I.%2$I.input_cost_nano_usd IS 'Sum of input costs, 1e-9 USD';
            COMMENT ON COLUMN %1$I.%2$I.output_cost_nano_usd IS 'Sum of output costs, 1e-9 USD';
            COMMENT ON COLUMN %1$I.%2$I.cache_read_cost_nano_usd IS 'Sum of cache read costs, 1e-9 USD';
            COMMENT ON COLUMN %1$I.%2$I.cache_write_cost_nano_usd IS 'Sum of cache write costs, 1e-9 USD';
            COMMENT ON COLUMN %1$I.%2$I.reasoning_cost_nano_usd IS 'Sum of reasoning costs, 1e-9 USD';
            COMMENT ON COLUMN %1$I.%2$I.total_cost_nano_usd IS 'Sum of total costs, 1e-9 USD';
            COMMENT ON COLUMN %1$I.%2$I.latency_sum_ms IS 'Sum of latency_ms over rows that have one';
            COMMENT ON COLUMN %1$I.%2$I.latency_count IS 'Rows with a latency_ms';
            COMMENT ON COLUMN %1$I.%2$I.model_id IS 'References usage_models';
            COMMENT ON COLUMN %1$I.%2$I.endpoint_id IS 'References usage_endpoints; 0 when the events had none';
            COMMENT ON COLUMN %1$I.%2$I.provider_id IS 'References usage_providers; 0 when the events had none';
            COMMENT ON COLUMN %1$I.%2$I.success IS 'Whether the calls succeeded';
            COMMENT ON COLUMN %1$I.%2$I.user_id IS 'The app''s user id';
            COMMENT ON COLUMN %1$I.%2$I.latency_hist IS 'Latency histogram (see usage_latency_bucket)';
        $c$, (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), t);
    END LOOP;
END
$comments$;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.usage_rollup_state', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.usage_rollup_hourly', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.usage_rollup_daily', '');

REVOKE ALL ON @extschema@.usage_rollup_state, @extschema@.usage_rollup_hourly, @extschema@.usage_rollup_daily FROM PUBLIC;
GRANT SELECT ON @extschema@.usage_rollup_state TO tokenledger_reader, tokenledger_admin;
GRANT SELECT ON @extschema@.usage_rollup_hourly, @extschema@.usage_rollup_daily TO tokenledger_reader, tokenledger_admin;
GRANT UPDATE ON @extschema@.usage_rollup_state TO tokenledger_admin;
GRANT INSERT, UPDATE ON @extschema@.usage_rollup_hourly, @extschema@.usage_rollup_daily TO tokenledger_admin;
GRANT SELECT ON @extschema@.usage_event_id_seq TO tokenledger_admin;

-- Readers see their own rollup rows, as in the ledger.
ALTER TABLE @extschema@.usage_rollup_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.usage_rollup_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY usage_rollup_hourly_admin ON @extschema@.usage_rollup_hourly TO tokenledger_admin USING (true) WITH CHECK (true);
CREATE POLICY usage_rollup_hourly_reader ON @extschema@.usage_rollup_hourly FOR SELECT TO tokenledger_reader USING (user_id = CURRENT_USER);
CREATE POLICY usage_rollup_daily_admin ON @extschema@.usage_rollup_daily TO tokenledger_admin USING (true) WITH CHECK (true);
CREATE POLICY usage_rollup_daily_reader ON @extschema@.usage_rollup_daily FOR SELECT TO tokenledger_reader USING (user_id = CURRENT_USER);
COMMENT ON POLICY usage_rollup_hourly_admin ON @extschema@.usage_rollup_hourly IS 'Admins read and maintain every rollup row';
COMMENT ON POLICY usage_rollup_hourly_reader ON @extschema@.usage_rollup_hourly IS 'A reader sees only rows whose user_id is their own role name';
COMMENT ON POLICY usage_rollup_daily_admin ON @extschema@.usage_rollup_daily IS 'Admins read and maintain every rollup row';
COMMENT ON POLICY usage_rollup_daily_reader ON @extschema@.usage_rollup_daily IS 'A reader sees only rows whose user_id is their own role name';

-- The one place that says how rollup rows combine: adds the rows of a
-- pg_temp staging table (with the target's column names, one row per key)
-- into a rollup or summary table; a new key is inserted, an existing one
-- has every counter summed (histograms elementwise; first/last buckets take
-- the earlier/later). Used by the fold, the reprice hook and erasure.
CREATE FUNCTION @extschema@.usage_rollup_merge(target text, source text)
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

-- Folds the ledger rows with lo < event_id <= hi into every rollup and
-- summary table. One pass over the raw rows gives the hourly rows; every
-- other table is derived from those (days from hours) in the same
-- transaction. Internal: only usage_rollup calls it, under the rollup lock.
-- Hash aggregation of a batch needs more than the default work_mem; JIT
-- compiles longer than these queries run.
CREATE FUNCTION @extschema@.usage_rollup_fold(lo bigint, hi bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
SET jit = off
AS $fn$
DECLARE
    dtz text := (SELECT s.day_timezone FROM @extschema@.usage_rollup_state s);
    sort_setting text := pg_catalog.current_setting('enable_sort');
    n bigint;
    hours bigint;
    straddles boolean;  -- some hour crosses a day boundary of the day zone
BEGIN
    PERFORM @extschema@.usage_rollup_staging();
    TRUNCATE pg_temp.tokenledger_fold;
    -- One pass over the raw rows, grouped by hour and key. The planner
    -- guesses one key per event and sorts them all; a minute of traffic
    -- has ten times fewer keys than events, and hashing them took 40% less
    -- time than the sort (a backlog spanning weeks, where keys are nearly
    -- events, takes about 10% longer; hashing spills to disk past work_mem).
    -- The UTC hour by date_bin: plain arithmetic, half the time of
    -- date_trunc's time zone lookup per row. Its origin is the earliest
    -- timestamp, so no event lies before it (older 15.x minors binned such
    -- events one hour early).
    PERFORM pg_catalog.set_config('enable_sort', 'off', true);
    INSERT INTO pg_temp.tokenledger_fold
    SELECT date_bin(interval '1 hour', l.occurred_at, timestamptz '4714-11-24 00:00:00+00 BC'),
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
    PERFORM pg_catalog.set_config('enable_sort', sort_setting, true);
    SELECT coalesce(sum(f.requests), 0), count(DISTINCT f.bucket),
           coalesce(bool_or(date_trunc('day', f.bucket, dtz)
                            <> date_trunc('day', f.bucket + interval '1 hour' - interval '1 microsecond', dtz)), false)
      INTO n, hours, straddles
    FROM pg_temp.tokenledger_fold f;

    PERFORM @extschema@.usage_rollup_merge('usage_rollup_hourly', 'tokenledger_fold');

    -- Days from hours, except hours that straddle a day boundary of the day
    -- zone (zones with half-hour offsets), which come from the raw rows.
    TRUNCATE pg_temp.tokenledger_fold_daily;
    IF hours = 1 AND NOT straddles THEN
        -- One hour (a rollup run every minute): its rows are the day's rows.
        INSERT INTO pg_temp.tokenledger_fold_daily
        SELECT date_trunc('day', f.bucket, dtz), f.requests, f.unpriced_requests,
               f.input_tokens, f.output_tokens, f.cache_read_tokens, f.cache_write_tokens,
               f.cache_write_1h_tokens, f.reasoning_tokens, f.total_tokens,
               f.input_cost_nano_usd, f.output_cost_nano_usd, f.cache_read_cost_nano_usd,
               f.cache_write_cost_nano_usd, f.reasoning_cost_nano_usd, f.total_cost_nano_usd,
               f.latency_sum_ms, f.latency_count,
               f.model_id, f.endpoint_id, f.provider_id, f.success, f.user_id, f.latency_hist
        FROM pg_temp.tokenledger_fold f;
    ELSIF NOT straddles THEN
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

-- Derives the summary tables' share from the staged hourly and daily rows
-- (tokenledger_fold, tokenledger_fold_daily) and adds it. The staged rows
-- are amounts to add: new events (fold), cost changes (reprice).
CREATE FUNCTION @extschema@.usage_rollup_fan_out()
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
            GROUP BY f.bucket, f.model_id, f.endpoint_id, f.provider_id, f.success$q$,
            (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), grain.staged);
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

-- Folds every committed ledger row above the watermark into the rollups.
-- Commits after every batch of tokenledger.rollup_batch_size ids, so call
-- it outside an explicit transaction block. Each batch takes the rollup
-- lock (hashtext('tokenledger'), 1) for its own transaction and re-reads
-- the watermark under it: two runs never fold at the same time nor fold a
-- row twice, usage_reprice and usage_forget_user (same key) run between
-- batches, and a run that fails leaves no lock behind on a pooled session.
CREATE PROCEDURE @extschema@.usage_rollup(batch_size integer DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
DECLARE
    bs bigint := coalesce(batch_size,
                          coalesce(pg_catalog.current_setting('tokenledger.rollup_batch_size', true), '500000')::integer);
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

    -- Candidate watermark, then wait until every transaction that could have
    -- drawn an id at or below it has ended.
    target := coalesce(pg_catalog.pg_sequence_last_value('@extschema@.usage_event_id_seq'::regclass), 0);
    PERFORM @extschema@.usage_rollup_wait_for_writers();
    COMMIT;

    LOOP
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('tokenledger'), 1);
        SELECT s.watermark INTO wm FROM @extschema@.usage_rollup_state s;
        EXIT WHEN wm >= target;
        hi := least(wm + bs, target);
        n := @extschema@.usage_rollup_fold(wm, hi);
        UPDATE @extschema@.usage_rollup_state
        SET watermark = hi, last_rollup_at = pg_catalog.now(), events_folded = events_folded + n;
        COMMIT;
    END LOOP;
END
$fn$;
COMMENT ON PROCEDURE @extschema@.usage_rollup(integer) IS
'Folds every committed ledger row above the watermark into usage_rollup_hourly, usage_rollup_daily and the summary tables, exactly once, in batches that each commit; safe to re-run and never overlaps another run';
REVOKE ALL ON PROCEDURE @extschema@.usage_rollup(integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE @extschema@.usage_rollup(integer) TO tokenledger_admin;

-- The reprice hook. usage_reprice updates the ledger's costs, fills the temp
-- table tokenledger_cost_deltas with new - old per event (NULL as 0), and
-- calls this under the rollup lock. Events at or below the watermark have
-- their deltas added to their hourly and daily rows and to every summary
-- table; the others will be folded from their (already updated) raw rows.
-- unpriced_requests of the touched rows is recounted from the ledger.
-- Returns the events applied.
CREATE FUNCTION @extschema@.usage_rollup_apply_cost_deltas()
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
