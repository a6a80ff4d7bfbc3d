-- Quota usage always equals what the ledger says for each window: compared
-- with brute-force sums over usage_log, across sliding and calendar windows
-- in a plan time zone whose offset is not whole hours, with unpriced (NULL
-- cost) events, retried request ids, late and slightly future events, a
-- settled reservation, a reprice, pruning, a rebuild and an erasure.
BEGIN;
SELECT plan(19);

-- Brute force: every window of a user summed straight from the ledger.
CREATE FUNCTION pg_temp.brute(p_user text, p_tz text) RETURNS TABLE (limit_name text, used numeric)
LANGUAGE sql AS $$
    WITH w AS (SELECT date_trunc('day', now(), p_tz) AS day0, date_trunc('month', now(), p_tz) AS month0),
    l AS (SELECT * FROM usage_log WHERE user_id = p_user)
    SELECT * FROM (VALUES
        ('requests_per_minute', (SELECT count(*) FROM l WHERE occurred_at > now() - interval '1 minute')::numeric),
        ('requests_per_hour',   (SELECT count(*) FROM l WHERE occurred_at > now() - interval '1 hour')::numeric),
        ('requests_per_day',    (SELECT count(*) FROM l, w WHERE occurred_at >= w.day0)::numeric),
        ('tokens_per_minute',   (SELECT coalesce(sum(total_tokens), 0) FROM l WHERE occurred_at > now() - interval '1 minute')::numeric),
        ('tokens_per_day',      (SELECT coalesce(sum(total_tokens), 0) FROM l, w WHERE occurred_at >= w.day0)::numeric),
        ('tokens_per_month',    (SELECT coalesce(sum(total_tokens), 0) FROM l, w WHERE occurred_at >= w.month0)::numeric),
        ('cost_per_day',        (SELECT coalesce(sum(total_cost_nano_usd), 0) FROM l, w WHERE occurred_at >= w.day0) / 1e9),
        ('cost_per_month',      (SELECT coalesce(sum(total_cost_nano_usd), 0) FROM l, w WHERE occurred_at >= w.month0) / 1e9)
    ) v(limit_name, used)
$$;
-- The counters themselves: every bucket of every grain equals the ledger's.
-- (Within the horizons quota_prune_counters keeps; maintenance may have
-- pruned older buckets of other tests' events.)
CREATE FUNCTION pg_temp.horizon_start(g "char") RETURNS timestamptz LANGUAGE sql AS $$
    SELECT date_trunc(CASE g WHEN 'd' THEN 'day' WHEN 'h' THEN 'hour' ELSE 'minute' END,
                      now() - quota_counter_horizon(g), 'UTC')
$$;
CREATE TEMP VIEW ledger_buckets AS
SELECT * FROM (
    SELECT l.user_id, g.grain, date_trunc(g.unit, l.occurred_at, 'UTC') AS bucket, count(*) AS requests,
           sum(l.total_tokens)::bigint AS tokens, coalesce(sum(l.total_cost_nano_usd), 0)::bigint AS cost_nano_usd,
           min(l.occurred_at) AS first_at
      FROM usage_log l CROSS JOIN (VALUES ('d'::"char", 'day'), ('h', 'hour'), ('m', 'minute')) g(grain, unit)
     GROUP BY 1, 2, 3) b
 WHERE b.bucket >= pg_temp.horizon_start(b.grain);
CREATE TEMP VIEW counters_vs_ledger AS
SELECT count(*) AS wrong FROM (
    (SELECT user_id, grain, bucket, requests, tokens, cost_nano_usd, first_at FROM quota_usage_counters c
      WHERE c.bucket >= pg_temp.horizon_start(c.grain)
     EXCEPT ALL SELECT * FROM ledger_buckets)
    UNION ALL
    (SELECT * FROM ledger_buckets
     EXCEPT ALL SELECT user_id, grain, bucket, requests, tokens, cost_nano_usd, first_at FROM quota_usage_counters)) x;

SELECT quota_plan_set('tap_sums', requests_per_minute => 1000, requests_per_hour => 1000,
    requests_per_day => 1000, tokens_per_minute => 1000000, tokens_per_day => 1000000,
    tokens_per_month => 10000000, cost_per_day => 100, cost_per_month => 1000,
    timezone => 'Asia/Kolkata');
SELECT quota_assign('tap_sum_user', 'tap_sums');

-- Events spread over the windows and their edges (exactly one minute ago is
-- outside the sliding minute; the Kolkata day and month starts are inside),
-- late events, one stamped ahead of now, priced (gpt-4o) and unpriced.
SELECT usage_log_insert('tap_sum_user', CASE WHEN g % 2 = 0 THEN 'gpt-4o' ELSE 'tap-unpriced-model' END,
                        provider => CASE WHEN g % 2 = 1 THEN 'tap' END,
                        input_tokens => 10 * g, output_tokens => g, occurred_at => t)
  FROM (VALUES (1, now() - interval '10 seconds'), (2, now() - interval '50 seconds'),
               (3, now() - interval '70 seconds'), (4, now() - interval '59 minutes'),
               (5, now() - interval '61 minutes'), (6, now() - interval '5 hours'),
               (7, now() - interval '20 hours'), (8, now() - interval '2 days'),
               (9, now() - interval '20 days'), (10, now() - interval '40 days'),
               (11, now() + interval '30 seconds'), (12, now() - interval '1 minute'),
               (13, now() - interval '1 hour'), (14, date_trunc('day', now(), 'Asia/Kolkata')),
               (15, date_trunc('month', now(), 'Asia/Kolkata')),
               (16, date_trunc('month', now(), 'Asia/Kolkata') - interval '1 microsecond'),
               (17, date_trunc('minute', now() - interval '1 minute') + interval '1 microsecond')) v(g, t);
-- A retried request id records (and counts) nothing the second time.
SELECT usage_log_insert('tap_sum_user', 'gpt-4o', input_tokens => 7, request_id => 'tap-sums-r1',
                        occurred_at => now() - interval '30 seconds');
SELECT usage_log_insert('tap_sum_user', 'gpt-4o', input_tokens => 7, request_id => 'tap-sums-r1',
                        occurred_at => now() - interval '20 seconds');
SELECT usage_log_insert('tap_other_user', 'gpt-4o', input_tokens => 99999);
-- A settled reservation counts as its recorded usage only.
SELECT usage_log_insert('tap_sum_user', 'gpt-4o', input_tokens => 33,
                        reservation_id => (SELECT reservation_id FROM quota_reserve('tap_sum_user', 500, 0.25)));

SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_user') $$,
    $$ SELECT * FROM pg_temp.brute('tap_sum_user', 'Asia/Kolkata') $$,
    'every window''s used equals the brute-force sum over the ledger');
-- Checks never write the counters; read directly, they need this
-- transaction's queued events written first.
SELECT quota_counters_flush();
SELECT is((SELECT wrong FROM pg_temp.counters_vs_ledger), 0::bigint,
    'every day, hour and minute counter equals the ledger rows in its bucket');
SELECT is((SELECT used FROM quota_status('tap_sum_user') WHERE limit_name = 'requests_per_minute'), 5::numeric,
    'the sliding minute holds the last 60 seconds (and a slightly future-stamped event), a retry once');
SELECT is((SELECT window_start FROM quota_status('tap_sum_user') WHERE limit_name = 'tokens_per_day'),
    date_trunc('day', now(), 'Asia/Kolkata'), 'the day window starts at midnight in the plan''s time zone');
SELECT is((SELECT resets_at FROM quota_status('tap_sum_user') WHERE limit_name = 'cost_per_month'),
    (date_trunc('month', now() AT TIME ZONE 'Asia/Kolkata') + interval '1 month') AT TIME ZONE 'Asia/Kolkata',
    'the month resets at the next month''s start in the plan''s time zone, with no job');
SELECT is((SELECT resets_at FROM quota_status('tap_sum_user') WHERE limit_name = 'requests_per_hour'),
    (SELECT min(occurred_at) + interval '1 hour' FROM usage_log
      WHERE user_id = 'tap_sum_user' AND occurred_at > now() - interval '1 hour'),
    'the sliding hour resets when its oldest event ages out');

-- Reservations are reported apart from used and never change it.
SELECT quota_reserve('tap_sum_user', 500, 0.25);
SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_user') $$,
    $$ SELECT * FROM pg_temp.brute('tap_sum_user', 'Asia/Kolkata') $$,
    'an open reservation leaves used equal to the ledger');
SELECT is((SELECT reserved FROM quota_status('tap_sum_user') WHERE limit_name = 'cost_per_day'), 0.25,
    'the reservation is held separately, in USD for cost limits');

-- A reprice changes the ledger's costs; the counters follow.
SELECT price_set('tap', 'tap-unpriced-model', '2000-01-01', 3, 9);
SELECT ok((usage_reprice(now() - interval '60 days', now() + interval '1 day')).events_changed > 0,
    'the reprice priced the unpriced events');
SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_user') $$,
    $$ SELECT * FROM pg_temp.brute('tap_sum_user', 'Asia/Kolkata') $$,
    'after a reprice every window still equals the ledger');
SELECT is((SELECT wrong FROM pg_temp.counters_vs_ledger), 0::bigint,
    'after a reprice every counter still equals the ledger');

-- Pruning drops only buckets no window reaches; a rebuild recomputes the rest.
SELECT ok(quota_prune_counters() > 0, 'maintenance prunes counters past their horizon');
SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_user') $$,
    $$ SELECT * FROM pg_temp.brute('tap_sum_user', 'Asia/Kolkata') $$,
    'after pruning every window still equals the ledger');
SELECT ok(quota_rebuild_counters() > 0, 'counters rebuild from the ledger');
SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_user') $$,
    $$ SELECT * FROM pg_temp.brute('tap_sum_user', 'Asia/Kolkata') $$,
    'after a rebuild every window still equals the ledger');

-- Erasure moves the counters with the ledger rows to the subject.
SELECT count(*) FROM usage_forget_user('tap_sum_user', 'tap_sum_subject');
SELECT quota_assign('tap_sum_subject', 'tap_sums');
SELECT bag_eq(
    $$ SELECT limit_name, used FROM quota_status('tap_sum_subject') $$,
    $$ SELECT * FROM pg_temp.brute('tap_sum_subject', 'Asia/Kolkata') $$,
    'after erasure the subject''s windows equal its ledger rows');
SELECT is((SELECT count(*)::int FROM quota_usage_counters WHERE user_id = 'tap_sum_user'), 0,
    'no counter names the forgotten user');

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
