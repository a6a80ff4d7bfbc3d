-- Least privilege: writers record but cannot read; readers see only their own rows.
BEGIN;
SELECT plan(9);

CREATE ROLE tap_app LOGIN IN ROLE tokenledger_writer;
CREATE ROLE tap_alice LOGIN IN ROLE tokenledger_reader;
CREATE ROLE tap_admin LOGIN IN ROLE tokenledger_admin;
CREATE ROLE tap_nobody LOGIN;

SET ROLE tap_app;
SELECT lives_ok($$ SELECT usage_log_insert('tap_alice', 'gpt-4o', input_tokens => 5) $$,
    'a writer records usage through usage_log_insert');
SELECT lives_ok($$ SELECT usage_log_insert('bob', 'gpt-4o', input_tokens => 7) $$,
    'a writer records usage for any user');
SELECT throws_ok($$ SELECT count(*) FROM usage_log $$, '42501', NULL,
    'a writer cannot read the ledger');
SELECT throws_ok($$ INSERT INTO usage_log (occurred_at, event_id, model_id, request_type_id, user_id) VALUES (now(), -1, 1, 1, 'x') $$,
    '42501', NULL, 'a writer cannot write the ledger table directly');
RESET ROLE;

SET ROLE tap_nobody;
SELECT throws_ok($$ SELECT usage_log_insert('x', 'gpt-4o') $$, '42501', NULL,
    'a role without tokenledger_writer cannot record usage');
RESET ROLE;

SET ROLE tap_alice;
SELECT is((SELECT count(*)::int FROM usage_log WHERE user_id IN ('tap_alice', 'bob')), 1,
    'a reader sees only their own rows');
SELECT is((SELECT count(*)::int FROM usage_events WHERE user_id = 'bob'), 0,
    'the usage_events view applies the reader''s row security');
RESET ROLE;

SET ROLE tap_admin;
SELECT is((SELECT count(*)::int FROM usage_log WHERE user_id IN ('tap_alice', 'bob')), 2,
    'an admin sees every row');
RESET ROLE;

SELECT is(
    (SELECT count(*)::int FROM pg_proc p
      WHERE p.prosecdef
        AND p.oid IN (SELECT objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                       WHERE e.extname = 'tokenledger' AND d.classid = 'pg_proc'::regclass)
        AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
    0, 'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');

SELECT * FROM finish();
ROLLBACK;
