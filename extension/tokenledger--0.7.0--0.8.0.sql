-- tokenledger 0.7.0 -> 0.8.0
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.8.0'" to load this file. \quit

-- Faster incremental rollups, top-users ranking and platform reports; the
-- shared library is unchanged.

-- Recent traffic is grouped by hashing, a fold of one hour derives the day's
-- rows without regrouping them.
CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_fold(lo bigint, hi bigint)
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
    SELECT coalesce(sum(f.requests), 0), count(DISTINCT f.bucket) INTO n, hours FROM pg_temp.tokenledger_fold f;

    PERFORM @extschema@.usage_rollup_merge('usage_rollup_hourly', 'tokenledger_fold');

    -- Days from hours, except hours that straddle a day boundary of the day
    -- zone (zones with half-hour offsets), which come from the raw rows.
    TRUNCATE pg_temp.tokenledger_fold_daily;
    IF hours = 1 AND NOT EXISTS (SELECT 1 FROM pg_temp.tokenledger_fold x
                                 WHERE date_trunc('day', x.bucket, dtz)
                                       <> date_trunc('day', x.bucket + interval '1 hour' - interval '1 microsecond', dtz)) THEN
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
    ELSIF NOT EXISTS (SELECT 1 FROM pg_temp.tokenledger_fold x
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

-- The per-user running totals: one index probe per new user-hour, and the
-- update walks each user's index range instead of hashing the table.
CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_add_user_deltas()
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

-- Reports read a short raw tail by event id, not through the time index.
CREATE FUNCTION @extschema@.usage_tail_is_short(history bigint)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT CASE WHEN has_sequence_privilege('@extschema@.usage_event_id_seq', 'SELECT')
            THEN coalesce(coalesce(pg_sequence_last_value('@extschema@.usage_event_id_seq'), 0)
                          - (SELECT s.watermark FROM @extschema@.usage_rollup_state s) < history, false)
            ELSE false END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_tail_is_short(bigint) IS
'Internal: whether fewer than history events lie above the rollup watermark (false for callers who may not read the event id sequence); reports then read the raw tail by event id';
REVOKE ALL ON FUNCTION @extschema@.usage_tail_is_short(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_tail_is_short(bigint) TO tokenledger_reader, tokenledger_admin;

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
-- Whether the tail is read by event id (every event above the watermark,
-- then those in the period and of the user) instead of through the time or
-- user index: when it is shorter than the rolled-up history, the platform's
-- or the user's (see usage_tail_is_short).
tail_pick AS MATERIALIZED (
    SELECT @extschema@.usage_tail_is_short(
               CASE WHEN p_user_id IS NULL THEN (SELECT r.events_folded FROM @extschema@.usage_rollup_state r)
                    ELSE coalesce((SELECT u.requests FROM @extschema@.usage_rollup_user_totals u WHERE u.user_id = p_user_id), 0)
               END) AS by_id),
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
    WHERE (SELECT NOT tp.by_id FROM tail_pick tp)
      AND r.event_id > (SELECT s.wm FROM s)
      AND r.occurred_at >= (SELECT s.f FROM s) AND r.occurred_at < (SELECT s.t FROM s)
    UNION ALL
    -- the tail by event id (IS TRUE keeps the user and time indexes out of it)
    SELECT greatest(date_trunc('hour', l.occurred_at, 'UTC'), (SELECT s.f FROM s)), 1, l.occurred_at, p_user_id,
           l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
           l.reasoning_tokens, l.total_tokens, l.input_cost_nano_usd, l.output_cost_nano_usd,
           l.cache_read_cost_nano_usd, l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd,
           l.latency_ms
    FROM @extschema@.usage_log l
    WHERE (SELECT tp.by_id FROM tail_pick tp)
      AND l.event_id > (SELECT s.wm FROM s)
      AND ((p_user_id IS NULL OR l.user_id = p_user_id)
           AND l.occurred_at >= (SELECT s.f FROM s) AND l.occurred_at < (SELECT s.t FROM s)) IS TRUE)
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

CREATE OR REPLACE FUNCTION @extschema@.usage_active_user_count(p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT x.f, x.t, (SELECT s.watermark FROM @extschema@.usage_rollup_state s) AS wm,
           @extschema@.usage_tail_is_short((SELECT s.events_folded FROM @extschema@.usage_rollup_state s)) AS tail_by_id,
           -- the whole UTC hours inside the period: [hf, ht)
           CASE WHEN isfinite(x.f) THEN date_trunc('hour', x.f - interval '1 microsecond', 'UTC') + interval '1 hour'
                ELSE x.f END AS hf,
           CASE WHEN isfinite(x.t) THEN date_trunc('hour', x.t, 'UTC') ELSE x.t END AS ht
    FROM (SELECT coalesce(p_from, '-infinity'::timestamptz) AS f, coalesce(p_to, 'infinity'::timestamptz) AS t) x),
overlapping AS (
    SELECT u.user_id,
           (u.first_bucket >= b.hf AND u.first_bucket < b.ht)
           OR (u.last_bucket >= b.hf AND u.last_bucket < b.ht)
           OR EXISTS (SELECT 1 FROM @extschema@.usage_rollup_user_cum c
                      WHERE c.user_id = u.user_id AND c.bucket >= b.hf AND c.bucket < b.ht) AS settled
    FROM b
    JOIN @extschema@.usage_rollup_user_totals u
      ON u.first_bucket < b.t AND u.last_bucket + interval '1 hour' > b.f),
unsettled AS (
    SELECT pg_catalog.array_agg(o.user_id) AS users FROM overlapping o WHERE NOT o.settled)
SELECT count(*)
FROM (SELECT o.user_id FROM overlapping o WHERE o.settled
      UNION
      SELECT r.user_id
      FROM unsettled n
      CROSS JOIN LATERAL @extschema@.usage_user_range(p_from, p_to, n.users) r
      WHERE n.users IS NOT NULL
      UNION
      -- the tail: by event id when it is short (IS TRUE keeps the time index out)
      SELECT l.user_id
      FROM @extschema@.usage_log l
      WHERE (SELECT b.tail_by_id FROM b)
        AND l.event_id > (SELECT b.wm FROM b)
        AND (l.occurred_at >= (SELECT b.f FROM b) AND l.occurred_at < (SELECT b.t FROM b)) IS TRUE
      UNION
      SELECT l.user_id
      FROM @extschema@.usage_log l
      WHERE NOT (SELECT b.tail_by_id FROM b)
        AND l.event_id > (SELECT b.wm FROM b)
        AND l.occurred_at >= (SELECT b.f FROM b) AND l.occurred_at < (SELECT b.t FROM b)) a
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.usage_top_users(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL, "limit" integer DEFAULT 10, order_by text DEFAULT 'cost', "offset" integer DEFAULT 0)
RETURNS TABLE (rank bigint, user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint, total_cost_usd numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
-- Starting workers would cost more than the few rows they read.
SET max_parallel_workers_per_gather = 0
AS $fn$
DECLARE
    p record;
    k bigint := "limit"::bigint + "offset";
    users text[];
    bounds bigint[];
    first_users text[];
    from_hour timestamptz;
    tail_by_id boolean;
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
    from_hour := date_trunc('hour', p.period_from, 'UTC');  -- once, not per user
    tail_by_id := @extschema@.usage_tail_is_short((SELECT s.events_folded FROM @extschema@.usage_rollup_state s));

    -- Every user who may have events in the period, with their bound.
    -- (the tail by event id when it is short: IS TRUE keeps the time index out)
    WITH tail AS (
        SELECT l.user_id, count(*) AS requests, sum(l.total_tokens) AS tokens,
               coalesce(sum(l.total_cost_nano_usd), 0) AS cost
        FROM (SELECT x.user_id, x.total_tokens, x.total_cost_nano_usd
              FROM @extschema@.usage_log x
              WHERE tail_by_id AND x.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
                AND (x.occurred_at >= p.period_from AND x.occurred_at < p.period_to) IS TRUE
              UNION ALL
              SELECT x.user_id, x.total_tokens, x.total_cost_nano_usd
              FROM @extschema@.usage_log x
              WHERE NOT tail_by_id AND x.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
                AND x.occurred_at >= p.period_from AND x.occurred_at < p.period_to) l
        GROUP BY l.user_id),
    rolled AS (
        SELECT u.user_id, u.requests, u.total_tokens AS tokens, u.total_cost_nano_usd AS cost
        FROM @extschema@.usage_rollup_user_totals u
        WHERE u.first_bucket < p.period_to
          AND u.last_bucket >= from_hour)
    SELECT array_agg(coalesce(r.user_id, t.user_id)),
           array_agg((CASE order_by WHEN 'cost' THEN coalesce(r.cost, 0) + coalesce(t.cost, 0)
                                    WHEN 'tokens' THEN coalesce(r.tokens, 0) + coalesce(t.tokens, 0)
                                    ELSE coalesce(r.requests, 0) + coalesce(t.requests, 0) END)::bigint)
    INTO users, bounds
    FROM rolled r FULL JOIN tail t ON t.user_id = r.user_id;

    -- The users with the largest bounds are ranked exactly first.
    first_users := CASE WHEN cardinality(users) > 2 * k + 50
                        THEN ARRAY(SELECT c.u FROM unnest(users, bounds) c(u, b) ORDER BY c.b DESC, c.u LIMIT 2 * k + 50)
                        ELSE coalesce(users, '{}') END;

    RETURN QUERY
    WITH first_ranked AS MATERIALIZED (
        SELECT x.user_id, x.requests, x.failures, x.unpriced_requests AS unpriced, x.total_tokens AS tokens,
               x.total_cost_nano_usd AS cost,
               CASE order_by WHEN 'cost' THEN x.total_cost_nano_usd WHEN 'tokens' THEN x.total_tokens
                             ELSE x.requests END AS value
        FROM @extschema@.usage_user_range(p.period_from, p.period_to, first_users) x),
    -- The k-th value among them, if k of them have events in the period.
    threshold AS (
        SELECT min(v.value) AS value
        FROM (SELECT f.value FROM first_ranked f ORDER BY 1 DESC LIMIT k) v
        HAVING count(*) = k),
    -- Everyone else who can still reach it (everyone, without a threshold).
    rest_users AS MATERIALIZED (
        SELECT ARRAY(SELECT c.u FROM unnest(users, bounds) c(u, b)
                     WHERE c.b >= coalesce((SELECT t.value FROM threshold t), -1)
                       AND c.u NOT IN (SELECT unnest(first_users))) AS users),
    ranked AS (
        SELECT * FROM first_ranked
        UNION ALL
        SELECT x.user_id, x.requests, x.failures, x.unpriced_requests, x.total_tokens, x.total_cost_nano_usd,
               CASE order_by WHEN 'cost' THEN x.total_cost_nano_usd WHEN 'tokens' THEN x.total_tokens
                             ELSE x.requests END
        FROM rest_users r, @extschema@.usage_user_range(p.period_from, p.period_to, r.users) x
        WHERE cardinality(r.users) > 0)
    SELECT row_number() OVER (ORDER BY g.value DESC, g.user_id),
           g.user_id, g.requests::bigint, coalesce(g.failures, 0)::bigint, g.unpriced::bigint, g.tokens::bigint,
           @extschema@.usage_nano_to_usd(g.cost)
    FROM ranked g
    ORDER BY g.value DESC, g.user_id
    LIMIT "limit" OFFSET "offset";
END
$fn$;

-- Ranking passes aggregate the raw rows of the users they rank only, and read
-- a short tail by event id.
CREATE OR REPLACE FUNCTION @extschema@.usage_user_range(p_from timestamptz, p_to timestamptz, p_users text[] DEFAULT NULL)
RETURNS TABLE (user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint,
               total_cost_nano_usd bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT (SELECT s.watermark FROM @extschema@.usage_rollup_state s) AS wm,
           @extschema@.usage_tail_is_short((SELECT s.events_folded FROM @extschema@.usage_rollup_state s)) AS tail_by_id,
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
    WHERE u.first_bucket < bt.t_cum AND u.last_bucket >= bt.f_cum
      AND (p_users IS NULL OR u.user_id IN (SELECT unnest(p_users)))),
-- The raw rows next to the bounds (rolled up) and the tail, per user; only
-- the given users' rows are aggregated (a ranking pass names a few dozen).
raw AS (
    SELECT r.user_id, sum(r.sign) AS requests, sum(r.sign) FILTER (WHERE NOT r.success) AS failures,
           sum(r.sign) FILTER (WHERE r.total_cost_nano_usd IS NULL) AS unpriced_requests,
           sum(r.sign * r.total_tokens) AS total_tokens, sum(r.sign * coalesce(r.total_cost_nano_usd, 0)) AS total_cost_nano_usd
    FROM (SELECT l.user_id, (SELECT b.t_sign FROM b) AS sign, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE (SELECT b.t_raw_from < b.t_raw_to FROM b)
            AND l.occurred_at >= (SELECT b.t_raw_from FROM b) AND l.occurred_at < (SELECT b.t_raw_to FROM b)
            AND l.event_id + 0 <= (SELECT b.wm FROM b)
            AND (p_users IS NULL OR l.user_id IN (SELECT unnest(p_users)))
          UNION ALL
          SELECT l.user_id, -(SELECT b.f_sign FROM b), l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE (SELECT b.f_raw_from < b.f_raw_to FROM b)
            AND l.occurred_at >= (SELECT b.f_raw_from FROM b) AND l.occurred_at < (SELECT b.f_raw_to FROM b)
            AND l.event_id + 0 <= (SELECT b.wm FROM b)
            AND (p_users IS NULL OR l.user_id IN (SELECT unnest(p_users)))
          UNION ALL
          -- the tail: by event id when it is short (IS TRUE keeps the time index out)
          SELECT l.user_id, 1, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE (SELECT b.tail_by_id FROM b)
            AND l.event_id > (SELECT b.wm FROM b)
            AND (l.occurred_at >= (SELECT b.f FROM b) AND l.occurred_at < (SELECT b.t FROM b)) IS TRUE
            AND (p_users IS NULL OR l.user_id IN (SELECT unnest(p_users)))
          UNION ALL
          SELECT l.user_id, 1, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE NOT (SELECT b.tail_by_id FROM b)
            AND l.event_id > (SELECT b.wm FROM b)
            AND l.occurred_at >= (SELECT b.f FROM b) AND l.occurred_at < (SELECT b.t FROM b)
            AND (p_users IS NULL OR l.user_id IN (SELECT unnest(p_users)))) r
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
