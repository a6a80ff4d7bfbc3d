-- Quotas: apps check, reserve, release and record; only admins change plans,
-- assignments and blocks, and every such change is audited.
BEGIN;
SELECT plan(20);

CREATE ROLE tap_q_app LOGIN IN ROLE tokenledger_writer;
CREATE ROLE tap_q_admin LOGIN IN ROLE tokenledger_admin;
CREATE ROLE tap_q_nobody LOGIN;

SET ROLE tap_q_admin;
SELECT lives_ok($$ SELECT quota_plan_set('tap_plan', requests_per_day => 2, cost_per_day => 1) $$,
    'an admin creates a plan');
SELECT lives_ok($$ SELECT quota_assign('tap_user', 'tap_plan', '{"tokens_per_day": 500}') $$,
    'an admin assigns a plan with overrides');
SELECT lives_ok($$ SELECT quota_block('tap_blocked', 'fraud') $$, 'an admin blocks a user');
RESET ROLE;

SET ROLE tap_q_app;
SELECT is((SELECT allowed FROM quota_check('tap_user')), true, 'an app checks a quota');
SELECT is((SELECT count(*)::int FROM quota_status('tap_user')), 3, 'an app reads a user''s quota status');
SELECT isnt((SELECT reservation_id FROM quota_reserve('tap_user', 10)), NULL, 'an app reserves');
SELECT is(quota_release((SELECT reservation_id FROM quota_reserve('tap_user', 10))), true, 'an app releases its reservation');
SELECT lives_ok($$ SELECT usage_log_insert('tap_user', 'gpt-4o', input_tokens => 10,
                        reservation_id => (SELECT reservation_id FROM quota_reserve('tap_user', 10))) $$,
    'an app settles a reservation by recording usage');
SELECT is((SELECT block_reason FROM quota_check('tap_blocked')), 'fraud', 'an app sees why a user is blocked');
SELECT throws_ok($$ SELECT quota_plan_set('tap_plan', requests_per_day => 1000) $$, '42501', NULL,
    'an app cannot change a plan');
SELECT throws_ok($$ SELECT quota_assign('tap_user', 'unlimited') $$, '42501', NULL,
    'an app cannot reassign a user');
SELECT throws_ok($$ SELECT quota_unblock('tap_blocked') $$, '42501', NULL, 'an app cannot lift a block');
SELECT throws_ok($$ UPDATE quota_plans SET requests_per_day = NULL $$, '42501', NULL,
    'an app cannot edit the plans table');
SELECT throws_ok($$ SELECT * FROM quota_reservations $$, '42501', NULL,
    'an app cannot read other reservations');
RESET ROLE;

SET ROLE tap_q_nobody;
SELECT throws_ok($$ SELECT quota_check('tap_user') $$, '42501', NULL,
    'a role without tokenledger_writer cannot check quotas');
RESET ROLE;

SET ROLE tap_q_admin;
SELECT lives_ok($$ SELECT quota_unblock('tap_blocked') $$, 'an admin lifts a block');
SELECT throws_ok($$ DELETE FROM quota_audit $$, '42501', NULL, 'even an admin cannot erase the audit trail');
RESET ROLE;

SELECT is(
    (SELECT string_agg(concat_ws(' ', changed_by, object_type, object_key, action), '; ' ORDER BY audit_id)
       FROM quota_audit WHERE object_key IN ('tap_plan', 'tap_user', 'tap_blocked') AND changed_by <> CURRENT_USER),
    'tap_q_admin plan tap_plan INSERT; tap_q_admin user tap_user INSERT; '
    'tap_q_admin user tap_blocked INSERT; tap_q_admin user tap_blocked UPDATE',
    'the audit records who changed which plan or user, and how');
SELECT is((SELECT old_value ->> 'block_reason' || ' -> ' || coalesce(new_value ->> 'block_reason', 'none')
             FROM quota_audit WHERE object_key = 'tap_blocked' AND action = 'UPDATE'),
    'fraud -> none', 'the audit keeps the old and the new value');

SELECT is(
    (SELECT count(*)::int FROM pg_proc p
      WHERE p.proname LIKE 'quota%' AND p.prosecdef
        AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
    0, 'every SECURITY DEFINER quota function pins search_path');

SELECT * FROM finish();
ROLLBACK;
