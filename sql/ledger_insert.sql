-- usage_log_insert: recording, defaults, deduplication, the kill switch.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

-- The README's first example works unqualified.
SELECT usage_log_insert(user_id => 'u1', model => 'gpt-4o', input_tokens => 1200, output_tokens => 300) AS first_id \gset
SELECT :first_id > 0 AS has_id;

SELECT user_id, model, provider, endpoint, request_type, service_tier, success,
       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
       cache_write_1h_tokens, reasoning_tokens, total_tokens, priced,
       occurred_at BETWEEN now() - interval '1 minute' AND now() AS recent
FROM usage_events WHERE event_id = :first_id;

-- Every argument lands in its column.
SELECT usage_log_insert(
    user_id => 'alice@example.com', model => 'claude-sonnet-4-5', provider => 'anthropic',
    endpoint => 'summarize', request_type => 'chat', session_id => 's-1', message_id => 'm-1',
    request_id => 'req-1', occurred_at => '2026-01-15 10:00:00+00', latency_ms => 812,
    success => false, error_type => 'timeout', metadata => '{"team": "search"}',
    input_tokens => 10, output_tokens => 20, cache_read_tokens => 30, cache_write_tokens => 40,
    cache_write_1h_tokens => 50, reasoning_tokens => 60, service_tier => 'batch') AS full_id \gset
SELECT user_id, model, provider, endpoint, session_id, message_id, request_id, occurred_at,
       latency_ms, success, error_type, metadata, service_tier, total_tokens
FROM usage_events WHERE event_id = :full_id;

-- A retried request id records nothing and returns the original event id.
SELECT usage_log_insert(user_id => 'alice@example.com', model => 'gpt-4o', request_id => 'req-1',
                        input_tokens => 999) = :full_id AS same_id;
SELECT count(*) AS rows_for_req_1 FROM usage_log WHERE request_id = 'req-1';

-- NULL request ids are never deduplicated.
SELECT usage_log_insert('u2', 'gpt-4o') <> usage_log_insert('u2', 'gpt-4o') AS distinct_ids;
SELECT count(*) AS u2_rows FROM usage_log WHERE user_id = 'u2';

-- Dimension strings are stored once.
SELECT name FROM usage_models ORDER BY model_id;
SELECT name FROM usage_providers ORDER BY provider_id;

-- A dimension created in an aborted transaction is not reused from cache.
BEGIN;
SELECT usage_log_insert('u3', 'rolled-back-model') > 0 AS inserted;
ROLLBACK;
SELECT usage_log_insert('u3', 'rolled-back-model') > 0 AS inserted_again;
SELECT m.name FROM usage_log l JOIN usage_models m USING (model_id) WHERE l.user_id = 'u3';

-- The kill switch: off records nothing and returns NULL.
SET tokenledger.enabled = off;
SELECT usage_log_insert('u4', 'gpt-4o') IS NULL AS disabled;
RESET tokenledger.enabled;
SELECT count(*) AS u4_rows FROM usage_log WHERE user_id = 'u4';

-- The extension keeps working after being dropped and re-created in the same backend.
SET client_min_messages = warning;
DROP EXTENSION tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;
SELECT usage_log_insert('u5', 'gpt-4o', provider => 'openai') AS id_after_recreate;
SELECT model, provider FROM usage_events;

-- Dimension rows are append-only: keys are cached per backend and referenced by history.
UPDATE usage_models SET name = 'gpt-5' WHERE name = 'gpt-4o';
DELETE FROM usage_providers;
TRUNCATE usage_endpoints;
SELECT model, provider FROM usage_events;
