-- Randomized: every report equals the same question answered by a
-- brute-force GROUP BY over the raw ledger, for random periods that cut
-- hours and days, with events rolled up, events logged after the last
-- rollup (the tail), and late events for old buckets.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;
SELECT setseed(0.42);

CREATE FUNCTION random_events(n integer, t0 timestamptz, span interval) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(usage_log_insert(
        user_id => 'user' || (random() * 12)::int,
        model => (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-pro'])[1 + (random() * 3)::int],
        provider => (ARRAY['openai', 'anthropic', NULL])[1 + (random() * 2)::int],
        endpoint => (ARRAY['chat', 'summarize', 'search', NULL])[1 + (random() * 3)::int],
        input_tokens => (random() * 5000)::int, output_tokens => (random() * 800)::int,
        cache_read_tokens => (random() * 1000)::int, cache_write_tokens => (random() * 100)::int,
        cache_write_1h_tokens => (random() * 50)::int, reasoning_tokens => (random() * 300)::int,
        latency_ms => CASE WHEN random() < 0.1 THEN NULL ELSE (exp(random() * 10))::int END,
        success => random() > 0.1,
        occurred_at => t0 + random() * span))
    FROM generate_series(1, n)
$$;
-- Prices: a random part of the events gets costs (the rest stays unpriced).
CREATE FUNCTION price_some() RETURNS void LANGUAGE sql AS $$
    UPDATE usage_log SET input_cost_nano_usd = input_tokens * 2500, output_cost_nano_usd = output_tokens * 10000,
           cache_read_cost_nano_usd = cache_read_tokens * 1250, cache_write_cost_nano_usd = (cache_write_tokens + cache_write_1h_tokens) * 3750,
           reasoning_cost_nano_usd = reasoning_tokens * 10000,
           total_cost_nano_usd = input_tokens * 2500 + output_tokens * 10000 + cache_read_tokens * 1250
                               + (cache_write_tokens + cache_write_1h_tokens) * 3750 + reasoning_tokens * 10000
    WHERE total_cost_nano_usd IS NULL AND event_id % 5 <> 0
$$;

SELECT random_events(3000, '2026-03-01+00', interval '40 days') AS rolled_up_events;
SELECT price_some();
CALL usage_rollup(batch_size => 700);
SELECT random_events(400, '2026-03-01+00', interval '40 days') AS tail_events;
SELECT random_events(50, '2026-03-02+00', interval '1 day') AS late_events;
SELECT price_some();
SELECT count(*) > 0 AS has_tail FROM usage_log WHERE event_id > (SELECT watermark FROM usage_rollup_state);

-- Random periods: whole days, whole hours and arbitrary instants.
CREATE TABLE periods AS
SELECT i, f, f + len AS t, 'user' || (random() * 12)::int AS u
FROM (SELECT i, CASE i % 3 WHEN 0 THEN date_trunc('day', ts, 'UTC') WHEN 1 THEN date_trunc('hour', ts, 'UTC') ELSE ts END AS f,
             CASE i % 4 WHEN 0 THEN interval '7 days' WHEN 1 THEN random() * interval '3 days'
                        WHEN 2 THEN random() * interval '90 minutes' ELSE interval '30 days' END AS len
      FROM (SELECT i, timestamptz '2026-02-27+00' + random() * interval '45 days' AS ts FROM generate_series(1, 24) i) a) b;
INSERT INTO periods VALUES (0, '-infinity', 'infinity', 'user3');
-- A period ending now (its last partial hour is read as hour minus complement).
INSERT INTO periods VALUES (25, date_trunc('hour', now(), 'UTC') - interval '3000 days 20 minutes', now(), 'user5');

CREATE FUNCTION raw_in(f timestamptz, t timestamptz) RETURNS SETOF usage_log LANGUAGE sql AS $$
    SELECT * FROM usage_log WHERE occurred_at >= f AND occurred_at < t
$$;

-- usage_user_summary
SELECT count(*) AS user_summary_mismatches FROM periods p, LATERAL (
    (SELECT s.requests, s.successes, s.failures, s.unpriced_requests, s.input_tokens, s.output_tokens, s.cache_read_tokens,
            s.cache_write_tokens, s.cache_write_1h_tokens, s.reasoning_tokens, s.total_tokens, s.input_cost_usd,
            s.output_cost_usd, s.cache_read_cost_usd, s.cache_write_cost_usd, s.reasoning_cost_usd, s.total_cost_usd,
            s.avg_latency_ms, s.p50_latency_ms, s.p95_latency_ms, s.p99_latency_ms
     FROM usage_user_summary(p.u, p.f, p.t) s
     EXCEPT ALL
     SELECT count(*), count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success),
            count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
            coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(cache_read_tokens), 0),
            coalesce(sum(cache_write_tokens), 0), coalesce(sum(cache_write_1h_tokens), 0), coalesce(sum(reasoning_tokens), 0),
            coalesce(sum(total_tokens), 0),
            round(coalesce(sum(input_cost_nano_usd), 0) / 1e9, 9), round(coalesce(sum(output_cost_nano_usd), 0) / 1e9, 9),
            round(coalesce(sum(cache_read_cost_nano_usd), 0) / 1e9, 9), round(coalesce(sum(cache_write_cost_nano_usd), 0) / 1e9, 9),
            round(coalesce(sum(reasoning_cost_nano_usd), 0) / 1e9, 9), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9),
            round(avg(latency_ms), 1),
            usage_hist_quantile(usage_latency_hist(latency_ms), 0.5), usage_hist_quantile(usage_latency_hist(latency_ms), 0.95),
            usage_hist_quantile(usage_latency_hist(latency_ms), 0.99)
     FROM raw_in(p.f, p.t) WHERE user_id = p.u)
) x;
-- ... and the ones a user with no events in the period gets.
SELECT sum(requests) AS requests_in_all_user_summaries, (SELECT count(*) FROM periods p, raw_in(p.f, p.t) r WHERE r.user_id = p.u) AS brute_force
FROM periods p, usage_user_summary(p.u, p.f, p.t);

-- usage_top_users, every rank order, whole list
CREATE FUNCTION top_users_mismatches(o text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM periods p, LATERAL (
        (SELECT * FROM usage_top_users(p.f, p.t, 1000, o)
         EXCEPT ALL
         SELECT row_number() OVER (ORDER BY CASE o WHEN 'cost' THEN coalesce(sum(total_cost_nano_usd), 0)
                                                  WHEN 'tokens' THEN sum(total_tokens) ELSE count(*) END DESC, user_id),
                user_id, count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
                sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
         FROM raw_in(p.f, p.t) GROUP BY user_id)
        UNION ALL
        (SELECT row_number() OVER (ORDER BY CASE o WHEN 'cost' THEN coalesce(sum(total_cost_nano_usd), 0)
                                                  WHEN 'tokens' THEN sum(total_tokens) ELSE count(*) END DESC, user_id),
                user_id, count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
                sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
         FROM raw_in(p.f, p.t) GROUP BY user_id
         EXCEPT ALL
         SELECT * FROM usage_top_users(p.f, p.t, 1000, o))) x
$$;
SELECT o AS order_by, top_users_mismatches(o) FROM unnest(ARRAY['cost', 'tokens', 'requests']) o ORDER BY o;

-- usage_system_summary
SELECT count(*) AS system_summary_mismatches FROM periods p, LATERAL (
    SELECT s.unique_users, s.requests, s.failures, s.unpriced_requests, s.total_tokens, s.total_cost_usd, s.reasoning_cost_usd,
           s.avg_latency_ms, s.p50_latency_ms, s.p95_latency_ms, s.p99_latency_ms
    FROM usage_system_summary(p.f, p.t) s
    EXCEPT ALL
    SELECT count(DISTINCT user_id), count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
           coalesce(sum(total_tokens), 0), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9),
           round(coalesce(sum(reasoning_cost_nano_usd), 0) / 1e9, 9), round(avg(latency_ms), 1),
           usage_hist_quantile(usage_latency_hist(latency_ms), 0.5), usage_hist_quantile(usage_latency_hist(latency_ms), 0.95),
           usage_hist_quantile(usage_latency_hist(latency_ms), 0.99)
    FROM raw_in(p.f, p.t)
) x;

-- usage_timeseries: every bucket size, with and without filters, UTC and
-- another zone (where the daily rollup cannot serve and hours do).
CREATE TABLE series_cases AS
SELECT b, tz, flt FROM unnest(ARRAY['hour', 'day', 'week', 'month']) b, unnest(ARRAY['UTC', 'Asia/Tokyo']) tz,
       unnest(ARRAY['none', 'user', 'model', 'endpoint']) flt;
CREATE FUNCTION series_mismatches(b text, tz text, flt text, f timestamptz, t timestamptz, u text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('tokenledger.timezone', tz, true);
    IF to_regclass('pg_temp.rep') IS NOT NULL THEN DROP TABLE pg_temp.rep; END IF;
    CREATE TEMP TABLE rep AS
        SELECT * FROM usage_timeseries(b, f, t, CASE flt WHEN 'user' THEN u END, CASE flt WHEN 'model' THEN 'gpt-4o' END,
                                       CASE flt WHEN 'endpoint' THEN 'chat' END);
    WITH brute AS (
        SELECT date_trunc(b, l.occurred_at, tz) AS bucket_start, count(*) AS requests, count(*) FILTER (WHERE NOT l.success) AS failures,
               count(*) FILTER (WHERE l.total_cost_nano_usd IS NULL) AS unpriced, sum(l.total_tokens) AS tokens,
               round(coalesce(sum(l.total_cost_nano_usd), 0) / 1e9, 9) AS cost, round(avg(l.latency_ms), 1) AS lat
        FROM usage_log l
        LEFT JOIN usage_models m ON m.model_id = l.model_id
        LEFT JOIN usage_endpoints e ON e.endpoint_id = l.endpoint_id
        WHERE l.occurred_at >= (SELECT min(bucket_start) FROM pg_temp.rep)
          AND l.occurred_at < (SELECT ((max(bucket_start) AT TIME ZONE tz) + ('1 ' || b)::interval) AT TIME ZONE tz FROM pg_temp.rep)
          AND (flt <> 'user' OR l.user_id = u) AND (flt <> 'model' OR m.name = 'gpt-4o') AND (flt <> 'endpoint' OR e.name = 'chat')
        GROUP BY 1)
    SELECT count(*) INTO n FROM (
        (SELECT * FROM pg_temp.rep WHERE requests > 0 EXCEPT ALL SELECT * FROM brute)
        UNION ALL
        (SELECT * FROM brute EXCEPT ALL SELECT * FROM pg_temp.rep)) d;
    -- Zero-filled: one row per bucket, consecutive.
    IF EXISTS (SELECT 1 FROM (SELECT bucket_start, lead(bucket_start) OVER (ORDER BY bucket_start) AS nxt FROM pg_temp.rep) r
               WHERE r.nxt IS NOT NULL AND r.nxt <> ((r.bucket_start AT TIME ZONE tz) + ('1 ' || b)::interval) AT TIME ZONE tz) THEN
        n := n + 1000;
    END IF;
    RETURN n;
END
$$;
SELECT c.b AS bucket, sum(series_mismatches(c.b, c.tz, c.flt, p.f, p.t, p.u)) AS timeseries_mismatches
FROM series_cases c, periods p
WHERE p.i > 0 AND (c.b <> 'hour' OR p.t - p.f <= interval '8 days')
GROUP BY c.b ORDER BY c.b;

-- usage_by_model, usage_by_endpoint, usage_by_provider
SELECT count(*) AS by_model_mismatches FROM periods p, LATERAL (
    (SELECT model, requests, failures, unpriced_requests, total_tokens, total_cost_usd, p95_latency_ms FROM usage_by_model(p.f, p.t)
     EXCEPT ALL
     SELECT m.name, count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
            sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9), usage_hist_quantile(usage_latency_hist(latency_ms), 0.95)
     FROM raw_in(p.f, p.t) r JOIN usage_models m USING (model_id) GROUP BY m.name)
    UNION ALL
    (SELECT m.name, count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
            sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9), usage_hist_quantile(usage_latency_hist(latency_ms), 0.95)
     FROM raw_in(p.f, p.t) r JOIN usage_models m USING (model_id) GROUP BY m.name
     EXCEPT ALL
     SELECT model, requests, failures, unpriced_requests, total_tokens, total_cost_usd, p95_latency_ms FROM usage_by_model(p.f, p.t))
) x;
SELECT count(*) AS by_endpoint_mismatches FROM periods p, LATERAL (
    (SELECT endpoint, requests, total_tokens, total_cost_usd FROM usage_by_endpoint(p.f, p.t)
     EXCEPT ALL
     SELECT e.name, count(*), sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
     FROM raw_in(p.f, p.t) r LEFT JOIN usage_endpoints e USING (endpoint_id) GROUP BY e.name)
    UNION ALL
    (SELECT e.name, count(*), sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
     FROM raw_in(p.f, p.t) r LEFT JOIN usage_endpoints e USING (endpoint_id) GROUP BY e.name
     EXCEPT ALL
     SELECT endpoint, requests, total_tokens, total_cost_usd FROM usage_by_endpoint(p.f, p.t))
) x;
SELECT count(*) AS by_provider_mismatches FROM periods p, LATERAL (
    (SELECT provider, requests, successes, avg_latency_ms, total_cost_usd FROM usage_by_provider(p.f, p.t)
     EXCEPT ALL
     SELECT v.name, count(*), count(*) FILTER (WHERE success), round(avg(latency_ms), 1), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
     FROM raw_in(p.f, p.t) r LEFT JOIN usage_providers v USING (provider_id) GROUP BY v.name)
    UNION ALL
    (SELECT v.name, count(*), count(*) FILTER (WHERE success), round(avg(latency_ms), 1), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
     FROM raw_in(p.f, p.t) r LEFT JOIN usage_providers v USING (provider_id) GROUP BY v.name
     EXCEPT ALL
     SELECT provider, requests, successes, avg_latency_ms, total_cost_usd FROM usage_by_provider(p.f, p.t))
) x;

-- usage_totals (all time) and the views
SELECT (SELECT requests FROM usage_totals() WHERE period = 'all_time') = count(*) AS totals_requests_match,
       (SELECT total_cost_usd FROM usage_totals() WHERE period = 'all_time') = round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9) AS totals_cost_match,
       (SELECT unique_users FROM usage_totals() WHERE period = 'all_time') = count(DISTINCT user_id) AS totals_users_match
FROM usage_log;
SELECT count(*) AS daily_view_mismatches FROM (
    (SELECT bucket, user_id, provider, model, endpoint, success, requests, total_tokens, total_cost_usd FROM usage_daily
     EXCEPT ALL
     SELECT date_trunc('day', occurred_at, 'UTC'), user_id, v.name, m.name, e.name, success, count(*), sum(total_tokens),
            round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
     FROM usage_log JOIN usage_models m USING (model_id) LEFT JOIN usage_providers v USING (provider_id) LEFT JOIN usage_endpoints e USING (endpoint_id)
     GROUP BY 1, 2, 3, 4, 5, 6)
    UNION ALL
    (SELECT date_trunc('day', occurred_at, 'UTC'), user_id, v.name, m.name, e.name, success, count(*), sum(total_tokens),
            round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9)
     FROM usage_log JOIN usage_models m USING (model_id) LEFT JOIN usage_providers v USING (provider_id) LEFT JOIN usage_endpoints e USING (endpoint_id)
     GROUP BY 1, 2, 3, 4, 5, 6
     EXCEPT ALL
     SELECT bucket, user_id, provider, model, endpoint, success, requests, total_tokens, total_cost_usd FROM usage_daily)
) x;
SELECT count(*) AS hourly_view_mismatches FROM (
    (SELECT bucket, user_id, provider, model, endpoint, success, requests, unpriced_requests, total_tokens, total_cost_usd, avg_latency_ms FROM usage_hourly
     EXCEPT ALL
     SELECT date_trunc('hour', occurred_at, 'UTC'), user_id, v.name, m.name, e.name, success, count(*), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
            sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9), round(coalesce(sum(latency_ms), 0)::numeric / nullif(count(latency_ms), 0), 1)
     FROM usage_log JOIN usage_models m USING (model_id) LEFT JOIN usage_providers v USING (provider_id) LEFT JOIN usage_endpoints e USING (endpoint_id)
     GROUP BY 1, 2, 3, 4, 5, 6)
    UNION ALL
    (SELECT date_trunc('hour', occurred_at, 'UTC'), user_id, v.name, m.name, e.name, success, count(*), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
            sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9), round(coalesce(sum(latency_ms), 0)::numeric / nullif(count(latency_ms), 0), 1)
     FROM usage_log JOIN usage_models m USING (model_id) LEFT JOIN usage_providers v USING (provider_id) LEFT JOIN usage_endpoints e USING (endpoint_id)
     GROUP BY 1, 2, 3, 4, 5, 6
     EXCEPT ALL
     SELECT bucket, user_id, provider, model, endpoint, success, requests, unpriced_requests, total_tokens, total_cost_usd, avg_latency_ms FROM usage_hourly)
) x;


-- The summary tables against brute force over the rolled-up ledger rows
-- (EXCEPT ALL both ways): platform hours and days, per-user running totals
-- and all-time totals.
CREATE FUNCTION summary_mismatches() RETURNS TABLE (summary text, mismatches bigint) LANGUAGE sql AS $$
WITH st AS (SELECT watermark, day_timezone FROM usage_rollup_state),
rolled AS (SELECT * FROM usage_log WHERE event_id <= (SELECT watermark FROM st)),
ph_fast AS (SELECT bucket, provider_id::int, model_id, endpoint_id, success, requests, unpriced_requests, input_tokens,
                   total_tokens, input_cost_nano_usd, total_cost_nano_usd, latency_sum_ms, latency_count, latency_hist
            FROM usage_rollup_platform_hourly),
ph_raw AS (SELECT date_trunc('hour', occurred_at, 'UTC'), coalesce(provider_id, 0)::int, model_id, coalesce(endpoint_id, 0), success,
                  count(*), count(*) FILTER (WHERE total_cost_nano_usd IS NULL), sum(input_tokens), sum(total_tokens),
                  coalesce(sum(input_cost_nano_usd), 0), coalesce(sum(total_cost_nano_usd), 0), coalesce(sum(latency_ms), 0),
                  count(latency_ms), usage_latency_hist(latency_ms)
           FROM rolled GROUP BY 1, 2, 3, 4, 5),
pd_fast AS (SELECT bucket, provider_id::int, model_id, endpoint_id, success, requests, unpriced_requests, input_tokens,
                   total_tokens, input_cost_nano_usd, total_cost_nano_usd, latency_sum_ms, latency_count, latency_hist
            FROM usage_rollup_platform_daily),
pd_raw AS (SELECT date_trunc('day', occurred_at, (SELECT day_timezone FROM st)), coalesce(provider_id, 0)::int, model_id,
                  coalesce(endpoint_id, 0), success,
                  count(*), count(*) FILTER (WHERE total_cost_nano_usd IS NULL), sum(input_tokens), sum(total_tokens),
                  coalesce(sum(input_cost_nano_usd), 0), coalesce(sum(total_cost_nano_usd), 0), coalesce(sum(latency_ms), 0),
                  count(latency_ms), usage_latency_hist(latency_ms)
           FROM rolled GROUP BY 1, 2, 3, 4, 5),
uh AS (SELECT user_id, date_trunc('hour', occurred_at, 'UTC') AS bucket, count(*) AS requests,
              count(*) FILTER (WHERE NOT success) AS failures, count(*) FILTER (WHERE total_cost_nano_usd IS NULL) AS unpriced,
              sum(total_tokens) AS tokens, coalesce(sum(total_cost_nano_usd), 0) AS cost
       FROM rolled GROUP BY 1, 2),
uc_fast AS (SELECT user_id, bucket, requests::numeric, failures::numeric, unpriced_requests::numeric, total_tokens::numeric,
                   total_cost_nano_usd::numeric FROM usage_rollup_user_cum),
uc_raw AS (SELECT user_id, bucket, sum(requests) OVER w, sum(failures) OVER w, sum(unpriced) OVER w, sum(tokens) OVER w,
                  sum(cost) OVER w
           FROM uh WINDOW w AS (PARTITION BY user_id ORDER BY bucket)),
ut_fast AS (SELECT user_id, first_bucket, last_bucket, requests::numeric, failures::numeric, unpriced_requests::numeric,
                   total_tokens::numeric, total_cost_nano_usd::numeric FROM usage_rollup_user_totals),
ut_raw AS (SELECT user_id, min(bucket), max(bucket), sum(requests), sum(failures), sum(unpriced), sum(tokens), sum(cost)
           FROM uh GROUP BY 1)
SELECT 'platform_hourly', count(*) FROM ((SELECT * FROM ph_fast EXCEPT ALL SELECT * FROM ph_raw)
                                         UNION ALL (SELECT * FROM ph_raw EXCEPT ALL SELECT * FROM ph_fast)) d
UNION ALL
SELECT 'platform_daily', count(*) FROM ((SELECT * FROM pd_fast EXCEPT ALL SELECT * FROM pd_raw)
                                        UNION ALL (SELECT * FROM pd_raw EXCEPT ALL SELECT * FROM pd_fast)) d
UNION ALL
SELECT 'user_cum', count(*) FROM ((SELECT * FROM uc_fast EXCEPT ALL SELECT * FROM uc_raw)
                                  UNION ALL (SELECT * FROM uc_raw EXCEPT ALL SELECT * FROM uc_fast)) d
UNION ALL
SELECT 'user_totals', count(*) FROM ((SELECT * FROM ut_fast EXCEPT ALL SELECT * FROM ut_raw)
                                     UNION ALL (SELECT * FROM ut_raw EXCEPT ALL SELECT * FROM ut_fast)) d
$$;
-- Per-user usage over every period (top users, unique users) against brute force.
CREATE FUNCTION user_range_mismatches() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM periods p, LATERAL (
        (SELECT * FROM usage_user_range(p.f, p.t)
         EXCEPT ALL
         SELECT user_id, count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
                sum(total_tokens), coalesce(sum(total_cost_nano_usd), 0) FROM raw_in(p.f, p.t) GROUP BY user_id)
        UNION ALL
        (SELECT user_id, count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
                sum(total_tokens), coalesce(sum(total_cost_nano_usd), 0) FROM raw_in(p.f, p.t) GROUP BY user_id
         EXCEPT ALL
         SELECT * FROM usage_user_range(p.f, p.t))) x
$$;
SELECT * FROM summary_mismatches();

-- Late events, then a rollup in small batches.
SELECT random_events(200, '2026-03-01+00', interval '40 days') AS more_events;
CALL usage_rollup(batch_size => 90);
SELECT * FROM summary_mismatches();
SELECT user_range_mismatches();

-- The reprice hook keeps every summary exact (costs and unpriced counts).
SELECT events_changed > 0 AS repriced FROM usage_reprice('2026-03-05+00', '2026-03-25+00');
SELECT * FROM summary_mismatches();
SELECT user_range_mismatches();

-- Erasure into a subject that already has history (running totals merge),
-- and into a fresh random subject; platform summaries stay as they were.
CREATE TEMP TABLE platform_before AS SELECT * FROM usage_rollup_platform_daily;
SELECT object, rows_changed > 0 AS changed FROM usage_forget_user('user3', 'user4') WHERE object LIKE 'usage_rollup_user%';
SELECT object, rows_changed > 0 AS changed FROM usage_forget_user('user5') WHERE object LIKE 'usage_rollup_user%';
SELECT * FROM summary_mismatches();
SELECT user_range_mismatches();
SELECT count(*) AS platform_changed FROM ((TABLE usage_rollup_platform_daily EXCEPT ALL TABLE platform_before)
                                          UNION ALL (TABLE platform_before EXCEPT ALL TABLE usage_rollup_platform_daily)) d;
SELECT count(*) AS rows_naming_forgotten_users FROM (
    SELECT user_id FROM usage_rollup_user_cum UNION ALL SELECT user_id FROM usage_rollup_user_totals
    UNION ALL SELECT user_id FROM usage_rollup_hourly UNION ALL SELECT user_id FROM usage_rollup_daily) u
WHERE user_id IN ('user3', 'user5');

-- Days in a zone with a half-hour offset: every rollup rebuilt from the
-- ledger with day_timezone Asia/Kolkata (hours that straddle two days),
-- then the summaries and the platform and per-user reports in that zone.
TRUNCATE usage_rollup_hourly, usage_rollup_daily, usage_rollup_platform_hourly, usage_rollup_platform_daily,
         usage_rollup_user_cum, usage_rollup_user_totals;
UPDATE usage_rollup_state SET watermark = 0, day_timezone = 'Asia/Kolkata';
CALL usage_rollup(batch_size => 1000);
-- A rollup of one hour that crosses a Kolkata midnight (18:00-19:00 UTC is
-- 23:30-00:30 there): its day rows come from the raw rows, not the hour's.
SELECT random_events(30, '2026-03-10 18:00+00', interval '1 hour') AS midnight_hour_events;
CALL usage_rollup();
SELECT random_events(100, '2026-03-01+00', interval '40 days') AS tail_events;
-- The reports below also see a rollup that has fallen behind: with a raw
-- tail longer than the rolled-up history (events_folded), they read the tail
-- through the time index instead of by event id (usage_tail_is_short).
UPDATE usage_rollup_state SET events_folded = 50;
SELECT usage_tail_is_short(events_folded) AS tail_is_short FROM usage_rollup_state;
SET tokenledger.timezone = 'Asia/Kolkata';
SELECT * FROM summary_mismatches();
SELECT user_range_mismatches();
SELECT o AS order_by, top_users_mismatches(o) AS behind_top_users_mismatches FROM unnest(ARRAY['cost', 'requests']) o ORDER BY o;
SELECT count(*) AS kolkata_system_summary_mismatches FROM periods p, LATERAL (
    SELECT s.unique_users, s.requests, s.failures, s.unpriced_requests, s.total_tokens, s.total_cost_usd, s.p95_latency_ms
    FROM usage_system_summary(p.f, p.t) s
    EXCEPT ALL
    SELECT count(DISTINCT user_id), count(*), count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE total_cost_nano_usd IS NULL),
           coalesce(sum(total_tokens), 0), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9),
           usage_hist_quantile(usage_latency_hist(latency_ms), 0.95)
    FROM raw_in(p.f, p.t)
) x;
-- Days in a zone with daylight saving time (New York changes on 8 March
-- 2026): the day, week and month series come from the daily summaries.
TRUNCATE usage_rollup_hourly, usage_rollup_daily, usage_rollup_platform_hourly, usage_rollup_platform_daily,
         usage_rollup_user_cum, usage_rollup_user_totals;
UPDATE usage_rollup_state SET watermark = 0, day_timezone = 'America/New_York';
CALL usage_rollup();
SELECT random_events(100, '2026-03-01+00', interval '40 days') AS tail_events;
SET tokenledger.timezone = 'America/New_York';
SELECT * FROM summary_mismatches();
SELECT c.b AS bucket, sum(series_mismatches(c.b, 'America/New_York', c.flt, p.f, p.t, p.u)) AS new_york_timeseries_mismatches
FROM (SELECT DISTINCT b, flt FROM series_cases WHERE b <> 'hour' AND flt IN ('none', 'user', 'model')) c, periods p
WHERE p.i > 0 AND p.i <= 12
GROUP BY c.b ORDER BY c.b;
RESET tokenledger.timezone;
