-- tokenledger 0.5.0 -> 0.6.0
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.6.0'" to load this file. \quit

-- Faster unique-user counts; the shared library is unchanged.

-- Counts the users active in a period, settling most of them from the
-- per-user summaries instead of computing every user's totals.
CREATE FUNCTION @extschema@.usage_active_user_count(p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT x.f, x.t, (SELECT s.watermark FROM @extschema@.usage_rollup_state s) AS wm,
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
      SELECT l.user_id
      FROM @extschema@.usage_log l
      WHERE l.event_id > (SELECT b.wm FROM b)
        AND l.occurred_at >= (SELECT b.f FROM b) AND l.occurred_at < (SELECT b.t FROM b)) a
$fn$;
COMMENT ON FUNCTION @extschema@.usage_active_user_count(timestamptz, timestamptz) IS
'Internal: the number of users with an event in [from, to), from the per-user summaries where they settle it and usage_user_range for the rest';
REVOKE ALL ON FUNCTION @extschema@.usage_active_user_count(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_active_user_count(timestamptz, timestamptz) TO tokenledger_admin;

-- usage_system_summary and usage_totals count unique users with it.
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
       @extschema@.usage_active_user_count(p.period_from, p.period_to),
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
               @extschema@.usage_active_user_count(p.f, p.t), coalesce(sum(x.unpriced_requests), 0)::bigint,
               coalesce(sum(x.total_tokens), 0)::bigint, @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0))
        FROM @extschema@.usage_report_facts(p.f, p.t) x;
    END LOOP;
END
$fn$;

-- usage_top_users names its rank value once per pass (no change in results).
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

    -- Every user who may have events in the period, with their bound.
    WITH tail AS (
        SELECT l.user_id, count(*) AS requests, sum(l.total_tokens) AS tokens,
               coalesce(sum(l.total_cost_nano_usd), 0) AS cost
        FROM @extschema@.usage_log l
        WHERE l.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
          AND l.occurred_at >= p.period_from AND l.occurred_at < p.period_to
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
