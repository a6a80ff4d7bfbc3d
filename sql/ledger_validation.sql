-- Bad input: a clear error (SQLSTATE, message, hint) and nothing written.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;
-- Runs a statement that must fail and shows what the user sees.
CREATE FUNCTION pg_temp.fails(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || E'\n       hint: ' || hint;
END $$;

SELECT pg_temp.fails($$SELECT usage_log_insert(NULL, 'gpt-4o')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('', 'gpt-4o')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert(repeat('u', 257), 'gpt-4o')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', NULL)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', '')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', input_tokens => -1)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', reasoning_tokens => -5)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', output_tokens => 100000001)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', input_tokens => 60000000, output_tokens => 60000000)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', input_tokens => 9223372036854775807)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', occurred_at => '2999-01-01 00:00:00+00')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', occurred_at => 'infinity')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', occurred_at => NULL)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', request_type => 'telepathy')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', request_type => NULL)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', metadata => '[1, 2]')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', metadata => jsonb_build_object('prompt', repeat('x', 5000)))$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', latency_ms => -3)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', success => NULL)$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', request_id => '')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', service_tier => 'turbo')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', repeat('m', 201))$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_usage('u1', 'openai', 'gpt-4o', '"not an object"')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_usage('u1', 'openai', 'gpt-4o', '{"prompt_tokens": -4, "completion_tokens": 1}')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_usage('u1', 'openai', 'gpt-4o', '{"prompt_tokens": "12", "completion_tokens": 1}')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_usage('u1', 'openai', 'gpt-4o', '{"prompt_tokens": 1.5, "completion_tokens": 1}')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_usage('u1', 'openai', 'gpt-4o', '{"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 11}}')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_usage('u1', 'acme', 'm1', '{"tokens": 10}')$$);
SELECT pg_temp.fails($$SELECT usage_log_insert_usage('u1', 'acme', 'm1', '{"input_tokens": 10}', usage_format => 'cobol')$$);

-- An admin may tighten the limits.
SET tokenledger.max_metadata_bytes = 16;
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', metadata => '{"team": "search-and-rescue"}')$$);
RESET tokenledger.max_metadata_bytes;
SET tokenledger.max_future_skew = 0;
SELECT pg_temp.fails($$SELECT usage_log_insert('u1', 'gpt-4o', occurred_at => now() + interval '1 second')$$);
RESET tokenledger.max_future_skew;

-- Nothing above wrote a row, and no failed call left a dimension behind.
SELECT count(*) AS ledger_rows FROM usage_log;
SELECT count(*) AS request_ids FROM usage_request_ids;
SELECT count(*) AS models FROM usage_models;

-- Settings are superuser-only, so an app cannot switch off its own accounting.
CREATE ROLE regress_tl_app IN ROLE tokenledger_writer;
SET ROLE regress_tl_app;
SET tokenledger.enabled = off;
RESET ROLE;
DROP ROLE regress_tl_app;
-- The prefix is reserved: a typo is an error, not a silent placeholder.
SET tokenledger.enabeld = off;
