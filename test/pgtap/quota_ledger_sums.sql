-- Quota usage always equals what the ledger says for each window: compared
-- with brute-force sums over usage_log, across sliding and calendar windows
-- in a plan time zone that is not UTC, with unpriced (NULL cost) events.
BEGIN;
SELECT plan(8);

SELECT quota_plan_set('tap_sums', requests_per_minute => 1000, requests_per_hour => 1000,
    requests_per_day => 1000, tokens_per_minute => 1000000, tokens_per_day => 1000000,
    tokens_per_month => 10000000, cost_per_day => 100, cost_per_month => 1000,
    timezone => 'Asia/Kolkata');
SELECT quota_assign('tap_sum_user', 'tap_sums');

-- Events spread over the windows; earlier-today events only when "today"
-- in Kolkata has begun long enough ago to place them.
SELECT usage_log_insert('tap_sum_user', 'gpt-4o', input_tokens => 10 * g, output_tokens => g,
                        occurred_at => t)
  FROM (VALUES (1, now() - interval '10 seconds'), (2, now() - interval '50 seconds'),
               (3, now() - interval '70 seconds'), (4, now() - interval '59 minutes'),
               (5, now() - interval '61 minutes'), (6, now() - interval '5 hours'),
               (7, now() - interval '20 hours'), (8, now() - interval '2 days'),
               (9, now() - interval '20 days'), (10, now() - interval '40 days'),
               (11, now() + interval '30 seconds')) v(g, t);
SELECT usage_log_insert('tap_other_user', 'gpt-4o', input_tokens => 99999);
-- Price some events (the pricing stage fills these); the rest stay NULL = 0.
UPDATE usage_log SET total_cost_nano_usd = total_tokens * 1000
 WHERE user_id = 'tap_sum_user' AND input_tokens IN (10, 40, 60, 90);

CREATE TEMP TABLE brute AS
WITH w AS (
    SELECT date_trunc('day', now(), 'Asia/Kolkata') AS day0,
           date_trunc('month', now(), 'Asia/Kolkata') AS month0
), l AS (SELECT * FROM usage_log WHERE user_id = 'tap_sum_user')
SELECT * FROM (VALUES
    ('requests_per_minute', (SELECT count(*) FROM l WHERE occurred_at > now() - interval '1 minute')::numeric),
    ('requests_per_hour',   (SELECT count(*) FROM l WHERE occurred_at > now() - interval '1 hour')::numeric),
    ('requests_per_day',    (SELECT count(*) FROM l, w WHERE occurred_at >= w.day0)::numeric),
    ('tokens_per_minute',   (SELECT coalesce(sum(total_tokens), 0) FROM l WHERE occurred_at > now() - interval '1 minute')::numeric),
    ('tokens_per_day',      (SELECT coalesce(sum(total_tokens), 0) FROM l, w WHERE occurred_at >= w.day0)::numeric),
    ('tokens_per_month',    (SELECT coalesce(sum(total_tokens), 0) FROM l, w WHERE occurred_at >= w.month0)::numeric),
    ('cost_per_day',        (SELECT coalesce(sum(total_cost_nano_usd), 0) FROM l, w WHERE occurred_at >= w.day0) / 1e9),
    ('cost_per_month',      (SELECT coalesce(sum(total_cost_nano_usd), 0) FROM l, w WHERE occurred_at >= w.month0) / 1e9)
) v(limit_name, used);

SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_user') $$,
    $$ SELECT limit_name, used FROM brute $$,
    'every window''s used equals the brute-force sum over the ledger');
SELECT is((SELECT used FROM quota_status('tap_sum_user') WHERE limit_name = 'requests_per_minute'), 3::numeric,
    'the sliding minute holds the last 60 seconds (and a slightly future-stamped event)');
SELECT is((SELECT window_start FROM quota_status('tap_sum_user') WHERE limit_name = 'tokens_per_day'),
    date_trunc('day', now(), 'Asia/Kolkata'), 'the day window starts at midnight in the plan''s time zone');
SELECT is((SELECT resets_at FROM quota_status('tap_sum_user') WHERE limit_name = 'cost_per_month'),
    (date_trunc('month', now() AT TIME ZONE 'Asia/Kolkata') + interval '1 month') AT TIME ZONE 'Asia/Kolkata',
    'the month resets at the next month''s start in the plan''s time zone, with no job');

-- Reservations are reported apart from used and never change it.
SELECT quota_reserve('tap_sum_user', 500, 0.25);
SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_user') $$,
    $$ SELECT limit_name, used FROM brute $$,
    'an open reservation leaves used equal to the ledger');
SELECT is((SELECT reserved FROM quota_status('tap_sum_user') WHERE limit_name = 'cost_per_day'), 0.25,
    'the reservation is held separately, in USD for cost limits');

-- Sliding windows: retry_after is when enough of the oldest usage ages out.
SELECT quota_plan_set('tap_slide', requests_per_minute => 5, tokens_per_minute => 100);
SELECT quota_assign('tap_slider', 'tap_slide');
SELECT usage_log_insert('tap_slider', 'gpt-4o', input_tokens => 60, occurred_at => now() - interval '50 seconds');
SELECT usage_log_insert('tap_slider', 'gpt-4o', input_tokens => 30, occurred_at => now() - interval '20 seconds');
SELECT is((SELECT (allowed, limit_name, retry_after)::text FROM quota_check('tap_slider', est_tokens => 50)),
    '(f,tokens_per_minute,10)', 'denied until the 60-token event leaves the minute, 10 s from now');
SELECT is((SELECT (allowed, limit_name, retry_after)::text FROM quota_check('tap_slider', est_tokens => 95)),
    '(f,tokens_per_minute,40)', 'a larger request waits until both events have left the minute');

SELECT * FROM finish();
ROLLBACK;
