-- Reports over a small fixed workload: rollups, the raw tail and the edges
-- of a period all count, and every answer is exact.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

-- January 2026: alice and bob on two models, two endpoints; one failure,
-- one unpriced event.
SELECT count(*) AS events FROM (
    SELECT usage_log_insert(user_id => u, model => m, provider => p, endpoint => e, session_id => s,
           input_tokens => i, output_tokens => o, latency_ms => lat, success => ok, occurred_at => t::timestamptz)
    FROM (VALUES
        ('alice', 'gpt-4o', 'openai', 'chat', 'chat-1', 1000, 100, 400, true, '2026-01-05 09:10+00'),
        ('alice', 'gpt-4o', 'openai', 'chat', 'chat-1', 2000, 200, 900, true, '2026-01-05 09:40+00'),
        ('alice', 'claude-sonnet-4-5', 'anthropic', 'summarize', NULL, 500, 50, 1500, true, '2026-01-06 14:00+00'),
        ('bob', 'gpt-4o', 'openai', 'chat', 'chat-2', 300, 30, 200, true, '2026-01-05 23:30+00'),
        ('bob', 'gpt-4o', 'openai', 'chat', 'chat-2', 100, 0, 30000, false, '2026-01-07 00:15+00'),
        ('carol', 'claude-sonnet-4-5', 'anthropic', NULL, NULL, 50, 5, NULL, true, '2026-01-07 10:00+00')
    ) AS v(u, m, p, e, s, i, o, lat, ok, t)) x;
-- Prices (as the pricing stage would set them): $2.50/M input, $10/M output
-- for gpt-4o, $3/M and $15/M for claude; carol's event stays unpriced.
UPDATE usage_log l SET
    input_cost_nano_usd = l.input_tokens * CASE m.name WHEN 'gpt-4o' THEN 2500 ELSE 3000 END,
    output_cost_nano_usd = l.output_tokens * CASE m.name WHEN 'gpt-4o' THEN 10000 ELSE 15000 END,
    cache_read_cost_nano_usd = 0, cache_write_cost_nano_usd = 0, reasoning_cost_nano_usd = 0,
    total_cost_nano_usd = l.input_tokens * CASE m.name WHEN 'gpt-4o' THEN 2500 ELSE 3000 END
                        + l.output_tokens * CASE m.name WHEN 'gpt-4o' THEN 10000 ELSE 15000 END
FROM usage_models m WHERE m.model_id = l.model_id AND l.user_id <> 'carol';
CALL usage_rollup();
-- Logged after the rollup: only the raw tail has it.
SELECT usage_log_insert('alice', 'gpt-4o', provider => 'openai', endpoint => 'chat', session_id => 'chat-1',
       input_tokens => 10, output_tokens => 1, latency_ms => 100, occurred_at => '2026-01-07 12:00+00') > 0 AS tail_event;

-- How many tokens did alice use this month?
SELECT requests, successes, failures, success_rate, unpriced_requests, input_tokens, output_tokens, total_tokens,
       input_cost_usd, output_cost_usd, total_cost_usd, avg_latency_ms, p50_latency_ms, p95_latency_ms, p99_latency_ms
FROM usage_user_summary('alice', '2026-01-01+00', '2026-02-01+00');
-- A period that cuts hours: only 09:40 is inside [09:30, 09:50).
SELECT requests, total_tokens FROM usage_user_summary('alice', '2026-01-05 09:30+00', '2026-01-05 09:50+00');
-- Someone with no usage gets zeros, not an empty result.
SELECT requests, total_tokens, total_cost_usd, p50_latency_ms FROM usage_user_summary('nobody', '2026-01-01+00', '2026-02-01+00');

-- Who are the heaviest consumers?
SELECT * FROM usage_top_users('2026-01-01+00', '2026-02-01+00');
SELECT rank, user_id, requests FROM usage_top_users('2026-01-01+00', '2026-02-01+00', order_by => 'requests');
SELECT rank, user_id, total_tokens FROM usage_top_users('2026-01-01+00', '2026-02-01+00', "limit" => 1, "offset" => 1, order_by => 'tokens');
SELECT * FROM usage_top_users(order_by => 'vibes');
SELECT * FROM usage_top_users("limit" => 0);

-- What is the total cost across all users (in a given week)?
SELECT unique_users, requests, successes, failures, success_rate, unpriced_requests, total_tokens, total_cost_usd,
       p50_latency_ms, p95_latency_ms, p99_latency_ms, days, avg_requests_per_day, avg_cost_per_day_usd
FROM usage_system_summary('2026-01-05+00', '2026-01-12+00');

-- The trend: zero-filled days, and hours of one day for one user.
SELECT * FROM usage_timeseries('day', '2026-01-04+00', '2026-01-09+00');
SELECT bucket_start, requests, total_tokens FROM usage_timeseries('hour', '2026-01-05 08:00+00', '2026-01-05 11:00+00', user_id => 'alice');
SELECT bucket_start, requests, total_cost_usd FROM usage_timeseries('week', '2026-01-01+00', '2026-01-20+00', model => 'gpt-4o');
SELECT bucket_start, requests FROM usage_timeseries('month', '2026-01-01+00', '2026-03-01+00', endpoint => 'summarize');
SELECT count(*) AS buckets, sum(requests) AS requests FROM usage_timeseries('day', '2026-01-01+00', '2026-02-01+00', model => 'no-such-model');
SELECT * FROM usage_timeseries('fortnight');
SELECT * FROM usage_timeseries('day', '2026-01-09+00', '2026-01-04+00');

-- What did this chat cost?
SELECT user_ids, first_at, last_at, requests, total_tokens, total_cost_usd, unpriced_requests, avg_latency_ms
FROM usage_session_summary('chat-1');
SELECT requests, total_cost_usd FROM usage_session_summary('no-such-chat');

-- Which models, endpoints and providers cost the most?
SELECT model, requests, failures, total_tokens, total_cost_usd, unpriced_requests, cost_share, p50_latency_ms
FROM usage_by_model('2026-01-01+00', '2026-02-01+00');
SELECT endpoint, requests, total_tokens, total_cost_usd, cost_share FROM usage_by_endpoint('2026-01-01+00', '2026-02-01+00');
SELECT provider, requests, success_rate, avg_latency_ms, total_cost_usd FROM usage_by_provider('2026-01-01+00', '2026-02-01+00');

-- Keyset-paginated history, newest first.
SELECT event_id AS newest_id FROM usage_user_history('alice', 1) \gset
SELECT occurred_at, model, total_tokens, total_cost_usd FROM usage_user_history('alice', 2);
SELECT occurred_at, model, total_tokens FROM usage_user_history('alice', 2, before_id => :newest_id);
SELECT count(*) FROM usage_user_history('alice', 0);
SELECT count(*) FROM usage_user_history('bob', 5, before_id => :newest_id);

-- All time (today and this month hold nothing in this fixed workload
-- unless the clock says January 2026).
SELECT period, requests, unique_users, total_tokens, total_cost_usd FROM usage_totals() WHERE period = 'all_time';
SELECT count(*) AS periods FROM usage_totals();

-- Views for ad-hoc SQL include the tail.
SELECT bucket, user_id, model, endpoint, requests, total_tokens, total_cost_usd FROM usage_daily ORDER BY bucket, user_id, model;
SELECT sum(requests) AS hourly_requests, sum(total_tokens) AS hourly_tokens FROM usage_hourly;

-- Every report works inside COPY for export.
COPY (SELECT rank, user_id, total_cost_usd FROM usage_top_users('2026-01-01+00', '2026-02-01+00')) TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT bucket_start, requests FROM usage_timeseries('day', '2026-01-05+00', '2026-01-07+00')) TO STDOUT WITH (FORMAT csv, HEADER);

-- Calendar days follow tokenledger.timezone: in New York, bob's 23:30 UTC
-- call on the 5th is on the 5th and his 00:15 UTC call on the 7th is on
-- the 6th.
SET tokenledger.timezone = 'America/New_York';
SELECT bucket_start, requests FROM usage_timeseries('day', '2026-01-05 00:00-05', '2026-01-08 00:00-05', user_id => 'bob');
SELECT requests FROM usage_user_summary('bob', '2026-01-06 00:00-05', '2026-01-07 00:00-05');
SET tokenledger.timezone = 'Mars/Olympus_Mons';
SELECT * FROM usage_user_summary('bob');
RESET tokenledger.timezone;

-- Empty periods are rejected.
SELECT * FROM usage_user_summary('alice', '2026-01-02+00', '2026-01-01+00');
