-- tokenledger 0.8.0 -> 0.9.0
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.9.0'" to load this file. \quit

-- Internal simplifications; results and the shared library are unchanged.

-- One reader of the raw tail for the per-user reports, instead of a by-id and
-- a by-time copy in each.
CREATE FUNCTION @extschema@.usage_tail_events(p_from timestamptz, p_to timestamptz)
RETURNS SETOF @extschema@.usage_log
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET max_parallel_workers_per_gather = 0
AS $fn$
BEGIN
    IF @extschema@.usage_tail_is_short((SELECT s.events_folded FROM @extschema@.usage_rollup_state s)) THEN
        RETURN QUERY
        SELECT l.* FROM @extschema@.usage_log l
        WHERE l.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
          AND (l.occurred_at >= p_from AND l.occurred_at < p_to) IS TRUE;
    ELSE
        RETURN QUERY
        SELECT l.* FROM @extschema@.usage_log l
        WHERE l.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
          AND l.occurred_at >= p_from AND l.occurred_at < p_to;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_tail_events(timestamptz, timestamptz) IS
'Internal: the ledger rows above the rollup watermark in [from, to), read by event id or through the time index as usage_tail_is_short decides';
REVOKE ALL ON FUNCTION @extschema@.usage_tail_events(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_tail_events(timestamptz, timestamptz) TO tokenledger_admin;

CREATE OR REPLACE FUNCTION @extschema@.usage_user_range(p_from timestamptz, p_to timestamptz, p_users text[] DEFAULT NULL)
RETURNS TABLE (user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint,
               total_cost_nano_usd bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT (SELECT s.watermark FROM @extschema@.usage_rollup_state s) AS wm,
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
          SELECT l.user_id, 1, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_tail_events(coalesce(p_from, '-infinity'), coalesce(p_to, 'infinity')) l
          WHERE p_users IS NULL OR l.user_id IN (SELECT unnest(p_users))) r
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

CREATE OR REPLACE FUNCTION @extschema@.usage_active_user_count(p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT x.f, x.t,
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
      FROM @extschema@.usage_tail_events(coalesce(p_from, '-infinity'), coalesce(p_to, 'infinity')) l) a
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
        FROM @extschema@.usage_tail_events(p.period_from, p.period_to) l
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

-- Whether some hour crosses a day boundary is computed once per fold.
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
