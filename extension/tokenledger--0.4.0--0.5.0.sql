-- tokenledger 0.4.0 -> 0.5.0
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.5.0'" to load this file. \quit

-- Faster reports; the shared library is unchanged.

-- usage_user_range can rank only the given users.
DROP FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz);
CREATE FUNCTION @extschema@.usage_user_range(p_from timestamptz, p_to timestamptz, p_users text[] DEFAULT NULL)
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
    WHERE u.first_bucket < bt.t_cum AND u.last_bucket >= bt.f_cum
      AND (p_users IS NULL OR u.user_id IN (SELECT unnest(p_users)))),
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
  AND (p_users IS NULL OR coalesce(c.user_id, r.user_id) IN (SELECT unnest(p_users)))
$fn$;
COMMENT ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz, text[]) IS
'Internal: every user''s (or only the given users'') requests, failures, unpriced requests, tokens and cost in [from, to) (users with events in it only), from the per-user running totals, raw edges of at most half an hour and the raw tail';
REVOKE ALL ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz, text[]) TO tokenledger_admin;

-- usage_top_users ranks exactly only the users who can still make its page:
-- those whose upper bound reaches the k-th exact value among the users with
-- the largest bounds.
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
               x.total_cost_nano_usd AS cost
        FROM @extschema@.usage_user_range(p.period_from, p.period_to, first_users) x),
    -- The k-th value among them, if k of them have events in the period.
    threshold AS (
        SELECT min(v.value) AS value
        FROM (SELECT CASE order_by WHEN 'cost' THEN f.cost WHEN 'tokens' THEN f.tokens ELSE f.requests END AS value
              FROM first_ranked f ORDER BY 1 DESC LIMIT k) v
        HAVING count(*) = k),
    -- Everyone else who can still reach it (everyone, without a threshold).
    rest_users AS MATERIALIZED (
        SELECT ARRAY(SELECT c.u FROM unnest(users, bounds) c(u, b)
                     WHERE c.b >= coalesce((SELECT t.value FROM threshold t), -1)
                       AND c.u NOT IN (SELECT unnest(first_users))) AS users),
    ranked AS (
        SELECT * FROM first_ranked
        UNION ALL
        SELECT x.user_id, x.requests, x.failures, x.unpriced_requests, x.total_tokens, x.total_cost_nano_usd
        FROM rest_users r, @extschema@.usage_user_range(p.period_from, p.period_to, r.users) x
        WHERE cardinality(r.users) > 0)
    SELECT row_number() OVER (ORDER BY CASE order_by WHEN 'cost' THEN g.cost WHEN 'tokens' THEN g.tokens ELSE g.requests END DESC, g.user_id),
           g.user_id, g.requests::bigint, coalesce(g.failures, 0)::bigint, g.unpriced::bigint, g.tokens::bigint,
           @extschema@.usage_nano_to_usd(g.cost)
    FROM ranked g
    ORDER BY CASE order_by WHEN 'cost' THEN g.cost WHEN 'tokens' THEN g.tokens ELSE g.requests END DESC, g.user_id
    LIMIT "limit" OFFSET "offset";
END
$fn$;

-- Planning these reports' query took several times longer than running it;
-- they keep one generic plan per session.
ALTER FUNCTION @extschema@.usage_user_summary(text, timestamptz, timestamptz) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION @extschema@.usage_timeseries(text, timestamptz, timestamptz, text, text, text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION @extschema@.usage_breakdown(text, timestamptz, timestamptz) SET plan_cache_mode = force_generic_plan;
