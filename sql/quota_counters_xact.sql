SET client_min_messages = warning; DROP EXTENSION IF EXISTS tokenledger CASCADE; CREATE EXTENSION tokenledger; RESET client_min_messages;
\set SHOW_CONTEXT never
-- Quota counters are written once per transaction, just before commit: a
-- transaction recording many events for one user stays linear, a rolled-back
-- savepoint's events never count, and checks inside the transaction see its
-- own events. "Equal" always means: equal to a brute-force sum over the ledger.
CREATE FUNCTION pg_temp.counters_equal_ledger(u text) RETURNS boolean LANGUAGE sql AS $$
    SELECT bool_and(c.requests = l.requests AND c.tokens = l.tokens AND c.cost = l.cost)
      FROM (SELECT grain, sum(requests) AS requests, sum(tokens) AS tokens, sum(cost_nano_usd) AS cost
              FROM quota_usage_counters WHERE user_id = u GROUP BY grain) c,
           (SELECT count(*) AS requests, sum(total_tokens) AS tokens,
                   coalesce(sum(total_cost_nano_usd), 0) AS cost
              FROM usage_log WHERE user_id = u) l
$$;
SELECT (quota_plan_set('xact', requests_per_day => 100000, tokens_per_day => 100000000)).plan;
SELECT (quota_assign('bulk', 'xact')).plan;

-- 5,000 events of one user in one statement (a backfill).
SELECT count(usage_log_insert('bulk', 'gpt-4o', input_tokens => g, output_tokens => 1,
                              occurred_at => now() - g * interval '1 second'))
  FROM generate_series(1, 5000) g;
SELECT pg_temp.counters_equal_ledger('bulk') AS equal_after_commit,
       (SELECT requests FROM quota_usage_counters WHERE user_id = 'bulk' AND grain = 'd'
         ORDER BY bucket DESC LIMIT 1) > 0 AS counted;

BEGIN;
SELECT usage_log_insert('bulk', 'gpt-4o', input_tokens => 10) > 0 AS recorded;
-- Not written yet: the counters lag the ledger inside the transaction ...
SELECT pg_temp.counters_equal_ledger('bulk') AS equal_before_flush;
-- ... but a check sees the transaction's own events.
SELECT used = (SELECT count(*) FROM usage_log WHERE user_id = 'bulk'
                 AND occurred_at >= date_trunc('day', now(), 'UTC')) AS check_sees_own_event
  FROM quota_status('bulk') WHERE limit_name = 'requests_per_day';
-- It adds them from memory and leaves the counters to the commit.
SELECT pg_temp.counters_equal_ledger('bulk') AS equal_after_check;
SAVEPOINT s;
SELECT usage_log_insert('bulk', 'gpt-4o', input_tokens => 20) > 0 AS recorded;
SAVEPOINT inner_s;
SELECT usage_log_insert('bulk', 'gpt-4o', input_tokens => 30) > 0 AS recorded;
RELEASE SAVEPOINT inner_s;
ROLLBACK TO SAVEPOINT s;
SELECT usage_log_insert('bulk', 'gpt-4o', input_tokens => 40) > 0 AS recorded;
SELECT quota_counters_flush() AS flushed;
SELECT pg_temp.counters_equal_ledger('bulk') AS equal_after_savepoint_rollback;
COMMIT;
SELECT pg_temp.counters_equal_ledger('bulk') AS equal_after_commit;

-- A writer's events are counted at its commit, though it may not write the
-- counters itself; its search_path cannot redirect the counting query.
CREATE SCHEMA evil;
CREATE FUNCTION evil.sum(bigint) RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
GRANT USAGE ON SCHEMA evil TO tokenledger_writer;
SET ROLE tokenledger_writer;
SET search_path = evil, public, pg_catalog;
SELECT usage_log_insert('bulk', 'gpt-4o', input_tokens => 50) > 0 AS recorded;
SELECT has_table_privilege('quota_usage_counters', 'UPDATE') AS writer_may_update_counters;
RESET search_path;
RESET ROLE;
SELECT pg_temp.counters_equal_ledger('bulk') AS equal_after_writer_commit;
DROP SCHEMA evil CASCADE;

-- A transaction that fails after recording counts nothing.
BEGIN;
SELECT usage_log_insert('bulk', 'gpt-4o', input_tokens => 60) > 0 AS recorded;
SELECT 1 / 0;
ROLLBACK;
SELECT pg_temp.counters_equal_ledger('bulk') AS equal_after_abort;

-- Erasure in the same transaction as the user's last events leaves no
-- counter row under the old id.
BEGIN;
SELECT usage_log_insert('bulk', 'gpt-4o', input_tokens => 70) > 0 AS recorded;
SELECT count(*) > 0 AS forgot FROM usage_forget_user('bulk', 'bulk-anon');
COMMIT;
SELECT count(*) AS counter_rows_of_old_id FROM quota_usage_counters WHERE user_id = 'bulk';
SELECT pg_temp.counters_equal_ledger('bulk-anon') AS equal_under_new_id;
