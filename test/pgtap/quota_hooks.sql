-- Quotas: the reprice hook, the maintenance sweep and tokenledger.timezone.
BEGIN;
SELECT plan(9);

SELECT has_function('quota_apply_cost_deltas', ARRAY[]::text[], 'the reprice hook exists');
SELECT throws_ok($$ SELECT quota_apply_cost_deltas() $$, '42P01', NULL,
    'the reprice hook needs the deltas table usage_reprice creates');

-- A reprice that pushes a user's cost over a threshold raises the alert.
SELECT quota_plan_set('tap_hook', cost_per_day => 0.001, alert_thresholds => '{50}');
SELECT quota_assign('tap_rp', 'tap_hook');
SELECT usage_log_insert('tap_rp', 'gpt-4o', input_tokens => 100);
-- What usage_reprice does: change the ledger's cost, hand the hook the deltas.
CREATE TEMP TABLE tokenledger_cost_deltas (event_id bigint, occurred_at timestamptz, user_id text,
    provider_id smallint, model_id integer, endpoint_id integer, success boolean,
    input_cost_nano_usd bigint, output_cost_nano_usd bigint, cache_read_cost_nano_usd bigint,
    cache_write_cost_nano_usd bigint, reasoning_cost_nano_usd bigint, total_cost_nano_usd bigint);
INSERT INTO tokenledger_cost_deltas (event_id, occurred_at, user_id, total_cost_nano_usd)
SELECT event_id, occurred_at, user_id, 600000 - coalesce(total_cost_nano_usd, 0) FROM usage_log WHERE user_id = 'tap_rp';
UPDATE usage_log SET total_cost_nano_usd = 600000 WHERE user_id = 'tap_rp';
SELECT lives_ok($$ SELECT quota_apply_cost_deltas() $$, 'the reprice hook runs over the deltas');
SELECT is((SELECT used FROM quota_status('tap_rp') WHERE limit_name = 'cost_per_day'), 0.0006,
    'the hook moves quota cost usage to the repriced ledger cost');
SELECT is((SELECT string_agg(limit_name || ' ' || threshold_pct || ' ' || used, ', ')
             FROM quota_alert_log WHERE user_id = 'tap_rp'),
    'cost_per_day 50 600000', 'a reprice over a threshold fires that alert once');
-- A second reprice raising the cost further crosses no new threshold.
UPDATE tokenledger_cost_deltas SET total_cost_nano_usd = 100000;
UPDATE usage_log SET total_cost_nano_usd = 700000 WHERE user_id = 'tap_rp';
SELECT quota_apply_cost_deltas();
SELECT is((SELECT count(*)::int FROM quota_alert_log WHERE user_id = 'tap_rp'), 1,
    'a later reprice past the same threshold fires nothing new');

-- Expired reservations stop counting at once and the sweep deletes them.
SELECT quota_reserve('tap_rp', 0, 0.0001, interval '1 microsecond');
SELECT quota_reserve('tap_rp', 0, 0.0001, interval '1 hour');
UPDATE quota_reservations SET expires_at = now() - interval '1 second', created_at = now() - interval '1 minute'
 WHERE reservation_id = (SELECT min(reservation_id) FROM quota_reservations WHERE user_id = 'tap_rp');
SELECT is((SELECT reserved FROM quota_status('tap_rp') WHERE limit_name = 'cost_per_day'), 0.0001,
    'only the live reservation is held');
SELECT is(quota_sweep_reservations(), 1::bigint, 'the sweep deletes exactly the expired reservation');

-- Calendar windows follow tokenledger.timezone when the plan names none.
SET LOCAL tokenledger.timezone = 'America/New_York';
SELECT is((SELECT window_start FROM quota_status('tap_rp') WHERE limit_name = 'cost_per_day'),
    date_trunc('day', now(), 'America/New_York'), 'the day starts at midnight in tokenledger.timezone');

SELECT * FROM finish();
ROLLBACK;
