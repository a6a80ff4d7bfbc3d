-- Who may run what: readers see only their own usage through the reports
-- scoped to a user; platform reports and upkeep are for admins; writers
-- record only. Every function of this area documents itself and pins its
-- search_path when it runs as definer.
BEGIN;
SELECT plan(23);

CREATE ROLE tap_rp_app LOGIN IN ROLE tokenledger_writer;
CREATE ROLE tap_rp_alice LOGIN IN ROLE tokenledger_reader;
CREATE ROLE tap_rp_admin LOGIN IN ROLE tokenledger_admin;

SELECT usage_log_insert('tap_rp_alice', 'gpt-4o', input_tokens => 5, session_id => 'tap-rp-chat', occurred_at => '2020-01-02 10:00+00');
SELECT usage_log_insert('tap_rp_bob', 'gpt-4o', input_tokens => 7, session_id => 'tap-rp-chat', occurred_at => '2020-01-02 11:00+00');

SET ROLE tap_rp_alice;
SELECT is((SELECT total_tokens FROM usage_user_summary('tap_rp_alice', '2020-01-01+00', '2020-02-01+00')), 5::bigint,
    'a reader sees their own summary');
SELECT is((SELECT total_tokens FROM usage_user_summary('tap_rp_bob', '2020-01-01+00', '2020-02-01+00')), 0::bigint,
    'a reader gets nothing of another user''s usage (row security)');
SELECT is((SELECT requests FROM usage_session_summary('tap-rp-chat')), 1::bigint,
    'a reader sees only their own part of a session');
SELECT is((SELECT count(*)::int FROM usage_user_history('tap_rp_bob')), 0, 'a reader cannot page through another user''s events');
SELECT throws_ok($$ SELECT * FROM usage_top_users() $$, '42501', NULL, 'a reader cannot rank users');
SELECT throws_ok($$ SELECT * FROM usage_system_summary() $$, '42501', NULL, 'a reader cannot see platform totals');
SELECT throws_ok($$ SELECT usage_active_user_count(NULL, NULL) $$, '42501', NULL, 'a reader cannot count the platform''s users');
SELECT throws_ok($$ SELECT * FROM usage_forget_user('tap_rp_bob') $$, '42501', NULL, 'a reader cannot erase users');
SELECT is(usage_tail_is_short(1000000000), false, 'a reader is never told how long the raw tail is');
SELECT throws_ok($$ SELECT count(*) FROM usage_tail_events(NULL, NULL) $$, '42501', NULL, 'a reader cannot read the platform''s raw tail');
RESET ROLE;

SET ROLE tap_rp_app;
SELECT throws_ok($$ SELECT * FROM usage_user_summary('tap_rp_alice') $$, '42501', NULL, 'a writer cannot read reports');
SELECT throws_ok($$ CALL usage_rollup() $$, '42501', NULL, 'a writer cannot run the rollup');
SELECT throws_ok($$ SELECT usage_create_partition(now()) $$, '42501', NULL, 'a writer cannot add partitions');
RESET ROLE;

SET ROLE tap_rp_admin;
SELECT is((SELECT count(*)::int FROM usage_top_users('2020-01-01+00', '2020-02-01+00')), 2, 'an admin ranks every user');
SELECT is((SELECT requests FROM usage_system_summary('2020-01-01+00', '2020-02-01+00')), 2::bigint, 'an admin sees platform totals');
SELECT is(usage_tail_is_short(1000000000), true, 'an admin learns whether the raw tail is short');
SELECT is((SELECT rows_changed FROM usage_forget_user('tap_rp_bob', 'tap-anon') WHERE object = 'usage_log'), 1::bigint,
    'an admin erases a user through the definer function');
-- Erasure and repricing run as definer; the rollup staging tables they use
-- must not be left behind owned by the definer, out of the admin's reach.
SELECT lives_ok($$ SELECT usage_rollup_fold(w.watermark, w.watermark) FROM usage_rollup_state w $$,
    'after an erasure the admin''s own rollup work can stage its rows');
SELECT lives_ok($$ SELECT usage_reprice('2020-01-01+00', '2020-02-01+00') $$, 'an admin reprices');
SELECT lives_ok($$ SELECT usage_rollup_fold(w.watermark, w.watermark) FROM usage_rollup_state w $$,
    'after a reprice the admin''s own rollup work can stage its rows');
RESET ROLE;

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'tokenledger'
    WHERE p.prosecdef AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))
$$, 'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'tokenledger'
    WHERE obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every function, procedure and aggregate has a comment');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.proname IN ('usage_user_summary', 'usage_top_users', 'usage_user_history', 'usage_session_summary',
                        'usage_system_summary', 'usage_timeseries', 'usage_by_model', 'usage_by_endpoint',
                        'usage_by_provider', 'usage_totals', 'usage_report_facts', 'usage_active_user_count',
                        'usage_tail_is_short', 'usage_tail_events') AND p.prosecdef
$$, 'reports run as SECURITY INVOKER');

SELECT * FROM finish();
ROLLBACK;
