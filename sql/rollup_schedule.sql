-- usage_schedule without pg_cron in this database: a clear error whose hint
-- is the statement to run where pg_cron lives (cron.database_name).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

SELECT current_setting('cron.database_name', true) <> current_database() AS pg_cron_elsewhere;
\set VERBOSITY default
SELECT * FROM usage_schedule();
SELECT * FROM usage_unschedule();
SELECT * FROM usage_schedule(NULL);
-- Everything also works by hand.
SELECT usage_log_insert('u1', 'gpt-4o', input_tokens => 1, occurred_at => '2026-01-01 00:00+00') > 0 AS ok;
CALL usage_rollup();
SELECT sum(requests) FROM usage_rollup_hourly;
