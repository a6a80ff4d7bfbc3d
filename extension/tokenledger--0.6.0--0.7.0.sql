-- tokenledger 0.6.0 -> 0.7.0
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.7.0'" to load this file. \quit

-- Faster one-user reports for heavy users; the shared library is unchanged.

-- One user's raw tail is read by event id when the whole tail is smaller
-- than the user's rolled-up history.
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
-- Whether one user's tail is read by event id (every event above the
-- watermark, then the user's) instead of through the user's index, which
-- finds the few tail events among all the user's events in the period: yes
-- when the whole tail is smaller than the user's rolled-up history. Only a
-- caller who may read the event id sequence (admins) learns the tail's size.
tail_pick AS MATERIALIZED (
    SELECT p_user_id IS NOT NULL
           AND CASE WHEN pg_catalog.has_sequence_privilege('@extschema@.usage_event_id_seq', 'SELECT')
                    THEN coalesce(pg_catalog.pg_sequence_last_value('@extschema@.usage_event_id_seq'), 0) - (SELECT s.wm FROM s)
                         < coalesce((SELECT u.requests FROM @extschema@.usage_rollup_user_totals u WHERE u.user_id = p_user_id), 0)
                    ELSE false END AS by_id),
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
    -- one user's tail by event id (IS TRUE keeps the user and time indexes out of it)
    SELECT greatest(date_trunc('hour', l.occurred_at, 'UTC'), (SELECT s.f FROM s)), 1, l.occurred_at, l.user_id,
           l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
           l.reasoning_tokens, l.total_tokens, l.input_cost_nano_usd, l.output_cost_nano_usd,
           l.cache_read_cost_nano_usd, l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd,
           l.latency_ms
    FROM @extschema@.usage_log l
    WHERE (SELECT tp.by_id FROM tail_pick tp)
      AND l.event_id > (SELECT s.wm FROM s)
      AND (l.user_id = p_user_id AND l.occurred_at >= (SELECT s.f FROM s) AND l.occurred_at < (SELECT s.t FROM s)) IS TRUE)
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
