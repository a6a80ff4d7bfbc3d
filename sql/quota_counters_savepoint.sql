SET client_min_messages = warning; DROP EXTENSION IF EXISTS tokenledger CASCADE; CREATE EXTENSION tokenledger; RESET client_min_messages;
\set SHOW_CONTEXT never
-- A transaction's queued counter updates survive savepoints: a flush that
-- a rolled-back savepoint (or PL/pgSQL exception block) undoes is written
-- again at commit. Checks and reservations count the transaction's own
-- events exactly without writing the counters (so they lock no counter
-- rows; isolation spec quota_check_no_lock). "Equal" means equal to a
-- brute-force sum over the ledger.
CREATE FUNCTION pg_temp.counters_equal_ledger(u text) RETURNS boolean LANGUAGE sql AS $$
    SELECT coalesce(bool_and(c.requests = l.requests AND c.tokens = l.tokens), false)
      FROM (SELECT grain, sum(requests) AS requests, sum(tokens) AS tokens
              FROM quota_usage_counters WHERE user_id = u GROUP BY grain) c,
           (SELECT count(*) AS requests, sum(total_tokens) AS tokens
              FROM usage_log WHERE user_id = u) l
$$;
-- Every limit of u as measured equals the ledger rows in its window.
CREATE FUNCTION pg_temp.windows_exact(u text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(s.limit_name || CASE WHEN s.used = b.used THEN ' ok' ELSE ' ' || s.used || ' <> ' || b.used END,
                      ', ' ORDER BY s.limit_name)
      FROM quota_status(u) s
      CROSS JOIN LATERAL (
        SELECT CASE s.unit WHEN 'requests' THEN count(*) ELSE coalesce(sum(l.total_tokens), 0) END AS used
          FROM usage_log l
         WHERE l.user_id = u
           AND CASE WHEN s.window_kind IN ('minute', 'hour') THEN l.occurred_at > s.window_start
                    ELSE l.occurred_at >= s.window_start END) b
$$;
SELECT (quota_plan_set('sp', requests_per_minute => 1000, requests_per_hour => 1000,
                       requests_per_day => 1000, tokens_per_minute => 1000000,
                       tokens_per_day => 1000000, tokens_per_month => 1000000,
                       timezone => 'Asia/Kolkata')).plan;
SELECT (quota_assign('sp-user', 'sp')).plan;
-- Ten seconds ago: the sliding minute, the binding window of the check
-- below, then holds both events whatever the time of day.
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 1, occurred_at => now() - interval '10 seconds') > 0 AS recorded;

-- The review's scenario: a check inside a savepoint that rolls back.
BEGIN;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 10) > 0 AS recorded;
SAVEPOINT s;
SELECT allowed, used FROM quota_check('sp-user');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT pg_temp.counters_equal_ledger('sp-user') AS equal_after_check_in_rolled_back_savepoint;

-- A flush (as erasure, reprice, rebuild, prune and TRUNCATE do) inside a
-- savepoint that rolls back: the events queued before it are written again.
BEGIN;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 20) > 0 AS recorded;
SAVEPOINT s;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 30) > 0 AS recorded;
SELECT quota_counters_flush() AS flushed;
ROLLBACK TO SAVEPOINT s;
SELECT quota_counters_flush() AS flushed_again;
SELECT pg_temp.counters_equal_ledger('sp-user') AS equal_in_transaction;
COMMIT;
SELECT pg_temp.counters_equal_ledger('sp-user') AS equal_after_flush_in_rolled_back_savepoint;

-- A flush in a released savepoint is undone with the savepoint around it;
-- a flush at the top level before it stays.
BEGIN;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 40) > 0 AS recorded;
SELECT quota_counters_flush() AS flushed;
SAVEPOINT a;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 50) > 0 AS recorded;
SAVEPOINT b;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 60) > 0 AS recorded;
SELECT quota_counters_flush() AS flushed;
RELEASE SAVEPOINT b;
ROLLBACK TO SAVEPOINT a;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 70) > 0 AS recorded;
COMMIT;
SELECT pg_temp.counters_equal_ledger('sp-user') AS equal_after_nested_savepoints;

-- A flush in a released savepoint stays when a later sibling rolls back.
BEGIN;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 80) > 0 AS recorded;
SAVEPOINT a;
SELECT quota_counters_flush() AS flushed;
RELEASE SAVEPOINT a;
SAVEPOINT b;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 90) > 0 AS recorded;
ROLLBACK TO SAVEPOINT b;
SELECT quota_counters_flush() AS nothing_left;
COMMIT;
SELECT pg_temp.counters_equal_ledger('sp-user') AS equal_after_sibling_rollback;

-- The same through a PL/pgSQL exception block.
BEGIN;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 100) > 0 AS recorded;
DO $$
BEGIN
    PERFORM quota_counters_flush();
    RAISE EXCEPTION 'the call failed';
EXCEPTION WHEN raise_exception THEN
    NULL;
END
$$;
COMMIT;
SELECT pg_temp.counters_equal_ledger('sp-user') AS equal_after_exception_block;

-- Checks and reservations inside the transaction count its own events in
-- every window, edges included, and leave the counters to the commit.
SELECT pg_temp.windows_exact('sp-user') AS committed;
BEGIN;
SELECT count(usage_log_insert('sp-user', 'gpt-4o', input_tokens => 1000 + abs(s) % 1000,
                              occurred_at => now() + s * interval '1 second'))
  FROM unnest(ARRAY[10, 0, -30, -59, -61, -59 * 60, -61 * 60, -5 * 3600, -20 * 86400]) s;
SELECT pg_temp.windows_exact('sp-user') AS own_events;
SELECT NOT pg_temp.counters_equal_ledger('sp-user') AS check_left_counters_to_commit;
SELECT c1 IS NOT DISTINCT FROM c2 AS same_statement_checks_agree
  FROM quota_check('sp-user') c1, quota_check('sp-user') c2;
SELECT allowed FROM quota_reserve('sp-user', 10);
SELECT pg_temp.windows_exact('sp-user') AS after_reserve;
SELECT NOT pg_temp.counters_equal_ledger('sp-user') AS reserve_left_counters_to_commit;
SAVEPOINT s;
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 5) > 0 AS recorded;
SELECT quota_counters_flush() AS flushed;
SELECT pg_temp.windows_exact('sp-user') AS after_flush;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.windows_exact('sp-user') AS after_rollback;
-- A flush earlier in the same statement counts too (read in a newer snapshot).
SELECT usage_log_insert('sp-user', 'gpt-4o', input_tokens => 6) > 0 AS recorded;
SELECT f.flushed, m.used = (SELECT count(*) FROM usage_log l
                             WHERE l.user_id = 'sp-user' AND l.occurred_at >= m.window_start) AS exact
  FROM (SELECT quota_counters_flush() AS flushed OFFSET 0) f
 CROSS JOIN LATERAL quota_measure('sp-user', now() + f.flushed * interval '0') m
 WHERE m.limit_name = 'requests_per_day';
COMMIT;
SELECT pg_temp.counters_equal_ledger('sp-user') AS equal_after_commit;
SELECT pg_temp.windows_exact('sp-user') AS committed;
