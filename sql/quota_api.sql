SET client_min_messages = warning; DROP EXTENSION IF EXISTS tokenledger CASCADE; CREATE EXTENSION tokenledger; RESET client_min_messages;
\set SHOW_CONTEXT never

-- The shipped example plan: the seeds' beta defaults.
SELECT plan, requests_per_minute, requests_per_hour, requests_per_day, tokens_per_day,
       cost_per_day_nano_usd, alert_thresholds, timezone
  FROM quota_plans ORDER BY plan;

-- Plans are upserted by name (idempotent; limits not given are unlimited).
SELECT (quota_plan_set('pro', requests_per_minute => 3, tokens_per_day => 1000,
                       cost_per_day => 0.25, cost_per_month => 5)).plan;
SELECT (quota_plan_set('pro', requests_per_minute => 3, tokens_per_day => 1000,
                       cost_per_day => 0.25, cost_per_month => 5)).plan;
SELECT plan, requests_per_minute, tokens_per_day, cost_per_day_nano_usd, cost_per_month_nano_usd
  FROM quota_plans WHERE plan = 'pro';
SELECT count(*) AS audit_rows_for_pro FROM quota_audit WHERE object_key = 'pro';

-- An unknown user is on the default plan (beta) and may make a request.
SELECT allowed, limit_name, used, reserved, limit_value, remaining, retry_after, blocked, plan
  FROM quota_check('newcomer');
SELECT limit_name, unit, window_kind, used, limit_value, remaining FROM quota_status('newcomer');
SELECT count(*) AS rows_written_by_check FROM quota_users WHERE user_id = 'newcomer';

-- Assignment with overrides: cost in USD, null removes a limit.
SELECT (quota_assign('alice', 'pro', '{"tokens_per_day": 100, "cost_per_month": null}')).overrides;
SELECT limit_name, limit_value FROM quota_status('alice');

-- Reserve until the per-minute request limit binds.
SELECT reservation_id IS NOT NULL AS held, allowed, limit_name, used, reserved, remaining
  FROM quota_reserve('alice', est_tokens => 10);
SELECT reservation_id IS NOT NULL AS held, allowed, limit_name, used, reserved, remaining
  FROM quota_reserve('alice', est_tokens => 10);
SELECT reservation_id IS NOT NULL AS held, allowed, limit_name, used, reserved, remaining
  FROM quota_reserve('alice', est_tokens => 10);
SELECT reservation_id IS NOT NULL AS held, allowed, limit_name, used, reserved, remaining,
       retry_after >= 1 AS retry_after_set
  FROM quota_reserve('alice', est_tokens => 10);
SELECT retry_after BETWEEN 1 AND 300 AS sensible_retry FROM quota_check('alice');

-- Settling: the recorded usage replaces the estimate.
SELECT usage_log_insert('alice', 'gpt-4o', input_tokens => 30, output_tokens => 12,
                        reservation_id => (SELECT min(reservation_id) FROM quota_reservations WHERE user_id = 'alice')) > 0 AS recorded;
SELECT limit_name, used, reserved FROM quota_status('alice') WHERE limit_name IN ('requests_per_minute', 'tokens_per_day');
-- usage_log_insert_usage passes reservation_id through.
SELECT usage_log_insert_usage('alice', 'openai', 'gpt-4o', '{"prompt_tokens": 5, "completion_tokens": 3}',
                              reservation_id => (SELECT min(reservation_id) FROM quota_reservations WHERE user_id = 'alice')) > 0 AS recorded;
SELECT limit_name, used, reserved FROM quota_status('alice') WHERE limit_name IN ('requests_per_minute', 'tokens_per_day');
-- Releasing one: it stops counting.
SELECT quota_release((SELECT min(reservation_id) FROM quota_reservations WHERE user_id = 'alice')) AS released;
SELECT quota_release(-1) AS released_unknown;
SELECT limit_name, used, reserved FROM quota_status('alice') WHERE limit_name = 'requests_per_minute';

-- A reservation belongs to its user.
SELECT reservation_id IS NOT NULL AS held FROM quota_reserve('bob', 5);
SELECT usage_log_insert('alice', 'gpt-4o', input_tokens => 1,
                        reservation_id => (SELECT max(reservation_id) FROM quota_reservations WHERE user_id = 'bob'));
SELECT count(*) AS alice_events FROM usage_log WHERE user_id = 'alice';

-- A token estimate larger than what is left is denied by the token limit.
SELECT allowed, limit_name, used, limit_value, remaining FROM quota_check('alice', est_tokens => 90);

-- Blocks.
SELECT quota_block('alice', 'chargeback');
SELECT allowed, limit_name, blocked, block_reason FROM quota_check('alice');
SELECT reservation_id, allowed, limit_name, block_reason FROM quota_reserve('alice', 1);
SELECT quota_unblock('alice') AS was_blocked, quota_unblock('alice') AS again;
SELECT blocked FROM quota_check('alice');

-- Cost limits in USD; expired reservations stop counting and get swept.
SELECT (quota_plan_set('cheap', cost_per_day => 0.000001)).cost_per_day_nano_usd;
SELECT (quota_assign('carol', 'cheap')).plan;
SELECT allowed, limit_name, unit, limit_value FROM quota_check('carol', est_cost => 0.000002);
SELECT reservation_id IS NOT NULL AS held, remaining FROM quota_reserve('carol', 0, 0.000001, interval '1 microsecond');
SELECT pg_sleep(0.01);
SELECT allowed, reserved FROM quota_check('carol', est_cost => 0.000001);
SELECT quota_sweep_reservations() >= 1 AS swept;
SELECT count(*) FROM quota_reservations WHERE user_id = 'carol';

-- Bad input: clear errors, nothing written.
SELECT quota_check(NULL);
SELECT quota_check('x', -1);
SELECT quota_check('x', 0, -0.5);
SELECT quota_check('x', 0, 0.0000000001);
-- The edges of the arguments quota_check and quota_reserve validate in C,
-- next to quota_check_args, which quota_status uses: the same answers.
SELECT quota_check('');
SELECT quota_check('x', NULL);
SELECT quota_reserve('x', 0, 9000000000.000000001);
SELECT quota_check('x', 0, 'NaN');
SELECT quota_check('x', 0, '-Infinity');
SELECT quota_check_args('x', 0, 'NaN');
SELECT quota_check_args('x', 0, 9000000000.000000001);
SELECT quota_check_args('x', 0, '-Infinity');
SELECT allowed, used FROM quota_check('x', 0, NULL);
SELECT allowed, limit_value FROM quota_check('carol', 0, 0.000001000);
SELECT quota_reserve('x', 1, 0, interval '0');
SELECT quota_release(NULL);
SELECT quota_plan_set('bad name');
SELECT quota_plan_set('p2', tokens_per_day => -5);
SELECT quota_plan_set('p2', alert_thresholds => '{0,50}');
SELECT quota_plan_set('p2', timezone => 'Mars/Olympus');
SELECT quota_assign('dave', 'nope');
SELECT quota_assign('dave', 'pro', '{"tokens_per_week": 5}');
SELECT quota_assign('dave', 'pro', '{"tokens_per_day": 1.5}');
SELECT quota_assign('dave', 'pro', '[1]');
SELECT quota_block('dave', '');
SELECT count(*) AS nothing_written FROM quota_plans WHERE plan = 'p2'
UNION ALL SELECT count(*) FROM quota_users WHERE user_id IN ('dave', 'x');
SET tokenledger.default_plan = 'gone';
SELECT quota_check('stranger');
SELECT quota_reserve('stranger');
-- Recording usage never fails because of quota configuration.
SELECT usage_log_insert('stranger', 'gpt-4o', input_tokens => 1, reservation_id => 12345) > 0 AS recorded;
RESET tokenledger.default_plan;
