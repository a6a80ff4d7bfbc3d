-- Upgrading from 0.1.0 backfills the summary tables from the 0.1.0 rollups:
-- right after ALTER EXTENSION UPDATE every summary equals brute force over
-- the rolled-up ledger rows and the reports that read them agree with the
-- raw ledger; the next rollup keeps them exact.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger VERSION '0.1.0';
RESET client_min_messages;
SELECT setseed(0.17);

SELECT count(usage_log_insert(
           user_id => 'user' || (random() * 8)::int,
           model => (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5'])[1 + (random() * 2)::int],
           endpoint => (ARRAY['chat', 'search', NULL])[1 + (random() * 2)::int],
           input_tokens => (random() * 3000)::int, output_tokens => (random() * 500)::int,
           latency_ms => (exp(random() * 8))::int, success => random() > 0.1,
           occurred_at => '2026-05-01+00'::timestamptz + random() * interval '20 days')) AS events_before_upgrade
FROM generate_series(1, 800);
CALL usage_rollup();
SELECT count(usage_log_insert('user' || (random() * 8)::int, 'gpt-4o', input_tokens => 10,
                              occurred_at => '2026-05-01+00'::timestamptz + random() * interval '20 days')) AS tail_before_upgrade
FROM generate_series(1, 30);

ALTER EXTENSION tokenledger UPDATE TO '0.2.0';

CREATE FUNCTION upgrade_mismatches() RETURNS TABLE (summary text, mismatches bigint) LANGUAGE sql AS $$
WITH rolled AS (SELECT * FROM usage_log WHERE event_id <= (SELECT watermark FROM usage_rollup_state)),
pd_fast AS (SELECT bucket, provider_id::int, model_id, endpoint_id, success, requests, unpriced_requests, total_tokens,
                   total_cost_nano_usd, latency_count, latency_hist FROM usage_rollup_platform_daily),
pd_raw AS (SELECT date_trunc('day', occurred_at, 'UTC'), coalesce(provider_id, 0)::int, model_id, coalesce(endpoint_id, 0), success,
                  count(*), count(*) FILTER (WHERE total_cost_nano_usd IS NULL), sum(total_tokens),
                  coalesce(sum(total_cost_nano_usd), 0), count(latency_ms), usage_latency_hist(latency_ms)
           FROM rolled GROUP BY 1, 2, 3, 4, 5),
ph_fast AS (SELECT bucket, provider_id::int, model_id, endpoint_id, success, requests, total_tokens, latency_hist
            FROM usage_rollup_platform_hourly),
ph_raw AS (SELECT date_trunc('hour', occurred_at, 'UTC'), coalesce(provider_id, 0)::int, model_id, coalesce(endpoint_id, 0), success,
                  count(*), sum(total_tokens), usage_latency_hist(latency_ms)
           FROM rolled GROUP BY 1, 2, 3, 4, 5),
uh AS (SELECT user_id, date_trunc('hour', occurred_at, 'UTC') AS bucket, count(*) AS requests,
              count(*) FILTER (WHERE NOT success) AS failures, sum(total_tokens) AS tokens,
              coalesce(sum(total_cost_nano_usd), 0) AS cost
       FROM rolled GROUP BY 1, 2),
uc_fast AS (SELECT user_id, bucket, requests::numeric, failures::numeric, total_tokens::numeric, total_cost_nano_usd::numeric
            FROM usage_rollup_user_cum),
uc_raw AS (SELECT user_id, bucket, sum(requests) OVER w, sum(failures) OVER w, sum(tokens) OVER w, sum(cost) OVER w
           FROM uh WINDOW w AS (PARTITION BY user_id ORDER BY bucket)),
ut_fast AS (SELECT user_id, first_bucket, last_bucket, requests::numeric, total_cost_nano_usd::numeric FROM usage_rollup_user_totals),
ut_raw AS (SELECT user_id, min(bucket), max(bucket), sum(requests), sum(cost) FROM uh GROUP BY 1)
SELECT 'platform_daily', count(*) FROM ((SELECT * FROM pd_fast EXCEPT ALL SELECT * FROM pd_raw)
                                        UNION ALL (SELECT * FROM pd_raw EXCEPT ALL SELECT * FROM pd_fast)) d
UNION ALL
SELECT 'platform_hourly', count(*) FROM ((SELECT * FROM ph_fast EXCEPT ALL SELECT * FROM ph_raw)
                                         UNION ALL (SELECT * FROM ph_raw EXCEPT ALL SELECT * FROM ph_fast)) d
UNION ALL
SELECT 'user_cum', count(*) FROM ((SELECT * FROM uc_fast EXCEPT ALL SELECT * FROM uc_raw)
                                  UNION ALL (SELECT * FROM uc_raw EXCEPT ALL SELECT * FROM uc_fast)) d
UNION ALL
SELECT 'user_totals', count(*) FROM ((SELECT * FROM ut_fast EXCEPT ALL SELECT * FROM ut_raw)
                                     UNION ALL (SELECT * FROM ut_raw EXCEPT ALL SELECT * FROM ut_fast)) d
$$;
SELECT (SELECT count(*) FROM usage_rollup_user_totals) > 0 AS backfilled, * FROM upgrade_mismatches();

-- Reports right after the upgrade (summaries plus the tail) agree with the ledger.
SELECT count(*) AS top_users_mismatches FROM (
    (SELECT user_id, requests, total_tokens, total_cost_usd FROM usage_top_users('2026-05-03 10:30+00', '2026-05-17 07:45+00', 100)
     EXCEPT ALL
     SELECT user_id, count(*), sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9) FROM usage_log
     WHERE occurred_at >= '2026-05-03 10:30+00' AND occurred_at < '2026-05-17 07:45+00' GROUP BY user_id)
    UNION ALL
    (SELECT user_id, count(*), sum(total_tokens), round(coalesce(sum(total_cost_nano_usd), 0) / 1e9, 9) FROM usage_log
     WHERE occurred_at >= '2026-05-03 10:30+00' AND occurred_at < '2026-05-17 07:45+00' GROUP BY user_id
     EXCEPT ALL
     SELECT user_id, requests, total_tokens, total_cost_usd FROM usage_top_users('2026-05-03 10:30+00', '2026-05-17 07:45+00', 100))) d;
SELECT s.requests = r.requests AND s.unique_users = r.users AND s.total_tokens = r.tokens AS system_summary_matches
FROM usage_system_summary('2026-05-02+00', '2026-05-19 12:00+00') s,
     (SELECT count(*) AS requests, count(DISTINCT user_id) AS users, sum(total_tokens) AS tokens FROM usage_log
      WHERE occurred_at >= '2026-05-02+00' AND occurred_at < '2026-05-19 12:00+00') r;

-- The next rollup folds the tail into every table.
CALL usage_rollup();
SELECT * FROM upgrade_mismatches();
