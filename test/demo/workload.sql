-- 30 days of LLM traffic for a few hundred users, recorded the way an app
-- would: one usage_log_insert per call. Deterministic request ids make a
-- second run record nothing new; a slice of calls is retried on purpose.
SELECT setseed(0.42);

CREATE TEMP TABLE demo_models (k int, provider text, model text, endpoint text, in_mean int, out_mean int, cache_share numeric, reasoning boolean);
INSERT INTO demo_models VALUES
    (0, 'openai',    'gpt-4o',                     'chat',        1800, 450, 0.5, false),
    (1, 'openai',    'gpt-4o-mini',                'chat',        1200, 300, 0.4, false),
    (2, 'openai',    'o4-mini',                    'reasoning',   2500, 600, 0.3, true),
    (3, 'anthropic', 'claude-sonnet-4-5-20250929', 'summarize',   6000, 800, 0.6, false),
    (4, 'anthropic', 'claude-haiku-4-5-20251001',  'classify',     900,  60, 0.2, false),
    (5, 'google',    'gemini-2.5-flash',           'search',      3000, 500, 0.3, true),
    (6, 'openai',    'text-embedding-3-small',     'embed',        400,   0, 0.0, false),
    (7, 'mistral',   'mistral-large-latest',       'translate',   1500, 900, 0.0, false);

WITH calls AS (
    SELECT n,
           now() - interval '30 days' + (n * interval '30 days' / 60000) AS at,
           -- a long tail of users: a few heavy, most light
           'user-' || lpad((floor(300 * power(random(), 2.5)))::int::text, 3, '0') AS user_id,
           (floor(random() * 8))::int AS m,
           random() AS r1, random() AS r2, random() AS r3
    FROM generate_series(1, 60000) n
), shaped AS (
    SELECT c.*, dm.provider, dm.model, dm.endpoint, dm.cache_share, dm.reasoning,
           greatest(1, (dm.in_mean * (0.3 + 1.4 * r1)))::bigint AS prompt,
           (dm.out_mean * (0.2 + 1.6 * r2))::bigint AS completion,
           r3 < 0.03 AS failed
    FROM calls c JOIN demo_models dm ON dm.k = c.m
)
SELECT count(usage_log_insert(
           user_id => user_id,
           model => model,
           provider => provider,
           endpoint => endpoint,
           request_type => CASE WHEN model LIKE 'text-embedding%' THEN 'embedding' ELSE 'chat' END,
           input_tokens => (prompt * (1 - cache_share))::bigint,
           cache_read_tokens => (prompt * cache_share)::bigint,
           cache_write_tokens => CASE WHEN provider = 'anthropic' AND r1 < 0.1 THEN prompt / 2 ELSE 0 END,
           output_tokens => CASE WHEN failed THEN 0 WHEN reasoning THEN completion / 2 ELSE completion END,
           reasoning_tokens => CASE WHEN reasoning AND NOT failed THEN completion / 2 ELSE 0 END,
           session_id => user_id || '-s' || (n / 40),
           message_id => 'm' || n,
           request_id => 'demo-' || n,
           occurred_at => at,
           latency_ms => (200 + completion * 8 * (0.5 + r2))::int,
           success => NOT failed,
           error_type => CASE WHEN failed THEN (ARRAY['timeout', 'rate_limit', 'server_error'])[1 + (n % 3)] END,
           metadata => jsonb_build_object('app', 'demo', 'region', (ARRAY['eu', 'us'])[1 + (n % 2)])
       )) AS calls_recorded
FROM shaped;

-- Retries: the app re-sends 2% of calls with the same request id after a
-- client-side timeout. They must not count twice.
SELECT count(usage_log_insert(user_id => 'user-000', model => 'gpt-4o', input_tokens => 999999,
                              request_id => 'demo-' || n)) AS retries_sent
FROM generate_series(1, 60000, 50) n;
