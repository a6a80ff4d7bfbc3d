-- What an admin wants to see first.
\pset footer off
\echo
\echo '== Ledger'
SELECT count(*) AS events,
       count(DISTINCT user_id) AS users,
       round(100.0 * avg(success::int), 2) AS success_pct,
       sum(total_tokens) AS tokens,
       min(occurred_at)::date AS first_day,
       max(occurred_at)::date AS last_day
FROM usage_events;

\echo '== Heaviest users (last 30 days)'
SELECT user_id, count(*) AS requests, sum(total_tokens) AS tokens,
       sum(total_cost_usd) AS cost_usd
FROM usage_events WHERE occurred_at >= now() - interval '30 days'
GROUP BY user_id ORDER BY tokens DESC LIMIT 5;

\echo '== By model'
SELECT provider, model, count(*) AS requests, sum(input_tokens) AS input,
       sum(cache_read_tokens) AS cache_read, sum(output_tokens) AS output,
       sum(reasoning_tokens) AS reasoning, sum(total_cost_usd) AS cost_usd
FROM usage_events GROUP BY 1, 2 ORDER BY requests DESC;

\echo '== Last 7 days'
SELECT occurred_at::date AS day, count(*) AS requests, sum(total_tokens) AS tokens,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)) AS p95_latency_ms,
       count(*) FILTER (WHERE NOT success) AS failures
FROM usage_events WHERE occurred_at >= now() - interval '7 days'
GROUP BY 1 ORDER BY 1;
