-- What an admin wants to see first, answered by the report functions
-- (rollups + the raw tail, so the last second is included).
\pset footer off
\echo
\echo '== Platform totals: all time, this month, today'
SELECT period, requests, failures, unique_users, total_tokens, round(total_cost_usd, 2) AS cost_usd
FROM usage_totals();

\echo '== Last 30 days: success rate, latency, daily averages'
SELECT unique_users, requests, round(100 * success_rate, 2) AS success_pct,
       p50_latency_ms, p95_latency_ms, p99_latency_ms,
       round(avg_requests_per_day) AS requests_per_day, round(avg_cost_per_day_usd, 2) AS cost_per_day_usd
FROM usage_system_summary(now() - interval '30 days', now());

\echo '== Heaviest users by cost (last 30 days)'
SELECT rank, user_id, requests, total_tokens, round(total_cost_usd, 4) AS cost_usd
FROM usage_top_users(now() - interval '30 days', now(), 5);

\echo '== Cost by model'
SELECT model, requests, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens,
       round(total_cost_usd, 2) AS cost_usd, round(100 * cost_share, 1) AS cost_pct
FROM usage_by_model(now() - interval '30 days', now());

\echo '== Daily trend (last 7 days)'
SELECT bucket_start::date AS day, requests, failures, total_tokens, round(total_cost_usd, 2) AS cost_usd
FROM usage_timeseries('day', date_trunc('day', now()) - interval '6 days', now());

\echo '== One user this month, with latency percentiles'
SELECT requests, failures, total_tokens, round(total_cost_usd, 4) AS cost_usd, p50_latency_ms, p95_latency_ms
FROM usage_user_summary('user-000');

\echo '== Models seen without a price (add them with price_set)'
SELECT * FROM usage_unpriced_models;

\echo '== Quota status of a heavy user on the beta plan'
SELECT * FROM quota_status('user-000');
