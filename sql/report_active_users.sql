-- Unique users (usage_system_summary, usage_totals) come from
-- usage_active_user_count, which settles most users from the per-user
-- summaries and only the rest from raw rows. Sparse users, a few events
-- each, make every way of settling a user occur; the count must equal a
-- brute-force count(DISTINCT user_id) over the raw ledger for every period.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;
SELECT setseed(0.17);

CREATE FUNCTION sparse_events(n integer, t0 timestamptz, span interval) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(usage_log_insert(user_id => 'u' || (random() * 80)::int, model => 'gpt-4o',
                                  input_tokens => 10, output_tokens => 5, occurred_at => t0 + random() * span))
    FROM generate_series(1, n)
$$;
SELECT sparse_events(300, '2026-05-01+00', interval '6 days') AS rolled_up_events;
CALL usage_rollup();
-- The raw tail: events of known users (some in old hours) and users seen only there.
SELECT sparse_events(40, '2026-05-01+00', interval '6 days') AS tail_events;
SELECT count(usage_log_insert(user_id => 'tail-only-' || g, model => 'gpt-4o', input_tokens => 1,
                              occurred_at => '2026-05-03 10:20+00'::timestamptz + g * interval '37 minutes')) AS tail_only_events
FROM generate_series(1, 5) g;

-- Periods that cut hours, lie within one hour, or are whole hours; open
-- ends; and one ending now (its last hour is partial and in the future).
CREATE TABLE active_periods AS
SELECT i, f, f + len AS t
FROM (SELECT i, CASE WHEN i % 3 = 0 THEN date_trunc('hour', ts, 'UTC') ELSE ts END AS f,
             CASE i % 4 WHEN 0 THEN random() * interval '50 minutes' WHEN 1 THEN random() * interval '5 hours'
                        WHEN 2 THEN random() * interval '2 days' ELSE interval '1 hour' END AS len
      FROM (SELECT i, timestamptz '2026-04-30+00' + random() * interval '8 days' AS ts FROM generate_series(1, 120) i) a) b;
INSERT INTO active_periods VALUES (1000, '-infinity', 'infinity'), (1001, '-infinity', '2026-05-03 12:34+00'),
                                  (1002, '2026-05-03 12:34+00', 'infinity'), (1003, '2026-05-02+00', now());

CREATE FUNCTION active_count_mismatches() RETURNS TABLE (i integer, f timestamptz, t timestamptz, reported bigint, brute_force bigint)
LANGUAGE sql AS $$
    SELECT p.i, p.f, p.t, usage_active_user_count(p.f, p.t) AS reported,
           (SELECT count(DISTINCT l.user_id) FROM usage_log l WHERE l.occurred_at >= p.f AND l.occurred_at < p.t) AS brute_force
    FROM active_periods p
    WHERE usage_active_user_count(p.f, p.t)
          <> (SELECT count(DISTINCT l.user_id) FROM usage_log l WHERE l.occurred_at >= p.f AND l.occurred_at < p.t)
$$;
SELECT * FROM active_count_mismatches();

-- The data makes every case occur: among (period, rolled-up user) pairs
-- that overlap, users settled by their first hour, by their last hour, by a
-- running-total row inside the period, and unsettled users who turn out
-- active (an event in a partial edge hour) or not (no event in the period).
WITH b AS (
    SELECT p.i, p.f, p.t,
           CASE WHEN isfinite(p.f) THEN date_trunc('hour', p.f - interval '1 microsecond', 'UTC') + interval '1 hour' ELSE p.f END AS hf,
           CASE WHEN isfinite(p.t) THEN date_trunc('hour', p.t, 'UTC') ELSE p.t END AS ht
    FROM active_periods p),
pairs AS (
    SELECT b.*, u.user_id, u.first_bucket >= b.hf AND u.first_bucket < b.ht AS by_first,
           u.last_bucket >= b.hf AND u.last_bucket < b.ht AS by_last,
           EXISTS (SELECT 1 FROM usage_rollup_user_cum c WHERE c.user_id = u.user_id AND c.bucket >= b.hf AND c.bucket < b.ht) AS by_row,
           EXISTS (SELECT 1 FROM usage_log l WHERE l.user_id = u.user_id AND l.occurred_at >= b.f AND l.occurred_at < b.t) AS active
    FROM b JOIN usage_rollup_user_totals u ON u.first_bucket < b.t AND u.last_bucket + interval '1 hour' > b.f)
SELECT count(*) FILTER (WHERE by_first) > 0 AS by_first_hour,
       count(*) FILTER (WHERE by_last AND NOT by_first) > 0 AS by_last_hour,
       count(*) FILTER (WHERE by_row AND NOT by_first AND NOT by_last) > 0 AS by_running_total_row,
       count(*) FILTER (WHERE NOT by_row AND active) > 0 AS unsettled_active,
       count(*) FILTER (WHERE NOT by_row AND NOT active) > 0 AS unsettled_inactive
FROM pairs;

-- The reports that show the count.
SELECT (SELECT unique_users FROM usage_system_summary('2026-05-02 07:13+00', '2026-05-04 21:50+00'))
       = (SELECT count(DISTINCT user_id) FROM usage_log
          WHERE occurred_at >= '2026-05-02 07:13+00' AND occurred_at < '2026-05-04 21:50+00') AS system_summary_matches,
       (SELECT unique_users FROM usage_totals() WHERE period = 'all_time')
       = (SELECT count(DISTINCT user_id) FROM usage_log) AS totals_match;

-- After a rollup of the tail and an erasure (the user's rows move to the
-- anonymous subject) the counts still match.
CALL usage_rollup();
SELECT count(*) > 0 AS forgot_rows FROM usage_forget_user('u7');
SELECT * FROM active_count_mismatches();

DROP FUNCTION sparse_events(integer, timestamptz, interval), active_count_mismatches();
DROP TABLE active_periods;
