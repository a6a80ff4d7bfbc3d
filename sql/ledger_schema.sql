-- Installing into its own schema, and immunity to the caller's search_path.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
DROP SCHEMA IF EXISTS ledger CASCADE;
CREATE SCHEMA ledger;
CREATE EXTENSION tokenledger SCHEMA ledger;
RESET client_min_messages;

SELECT ledger.usage_log_insert(user_id => 'u1', model => 'gpt-4o', input_tokens => 1200, output_tokens => 300) > 0 AS recorded;

-- A hostile search_path with look-alike objects cannot redirect the insert.
CREATE SCHEMA evil;
CREATE TABLE evil.usage_log (LIKE ledger.usage_log);
CREATE TABLE evil.usage_models (model_id int, name text);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;
SET search_path = evil, public;
SELECT ledger.usage_log_insert_usage('u2', 'anthropic', 'claude-haiku-4-5', '{"input_tokens": 3, "output_tokens": 4}') > 0 AS recorded;
RESET search_path;
SELECT count(*) AS evil_rows FROM evil.usage_log;
SELECT user_id, model, provider, input_tokens, output_tokens, occurred_at > '2020-01-01' AS real_clock
FROM ledger.usage_events ORDER BY event_id;

SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
DROP EXTENSION tokenledger;
DROP SCHEMA ledger;
RESET client_min_messages;

-- A schema whose name needs quoting: the rollup, erasure and repricing,
-- which build SQL naming their own schema, still work.
SET client_min_messages = warning;
CREATE SCHEMA "Token Ledger";
CREATE EXTENSION tokenledger SCHEMA "Token Ledger";
RESET client_min_messages;
SELECT count("Token Ledger".usage_log_insert('u' || i % 2, 'gpt-4o', input_tokens => 10 * i,
                                             occurred_at => '2026-01-05 10:00+00'::timestamptz + i * interval '1 hour'))
FROM generate_series(1, 4) i;
CALL "Token Ledger".usage_rollup();
SELECT bucket, requests, total_tokens FROM "Token Ledger".usage_rollup_platform_daily ORDER BY bucket;
SELECT object, rows_changed FROM "Token Ledger".usage_forget_user('u1', 'anon')
WHERE object IN ('usage_log', 'usage_rollup_hourly', 'usage_rollup_user_cum') ORDER BY object;
SELECT events_changed FROM "Token Ledger".usage_reprice('2026-01-01', '2026-02-01');
SELECT user_id, requests, total_tokens FROM "Token Ledger".usage_rollup_user_totals ORDER BY user_id;
SET client_min_messages = warning;
DROP EXTENSION tokenledger;
DROP SCHEMA "Token Ledger";
RESET client_min_messages;
