-- One user's raw tail (events not rolled up yet) is read by event id when
-- the whole tail is smaller than the user's rolled-up history, and through
-- the user's index otherwise (and always for a reader, who may not learn the
-- tail's size). Either way a one-user report equals a brute-force sum over
-- the raw ledger: only that user's tail events, only those in the period,
-- late ones for old hours included.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;
SELECT setseed(0.23);

CREATE FUNCTION tail_events(u text, n integer, t0 timestamptz, span interval) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(usage_log_insert(user_id => u, model => 'gpt-4o', input_tokens => 1 + (random() * 900)::int,
                                  output_tokens => (random() * 300)::int,
                                  latency_ms => (random() * 4000)::int, success => random() > 0.1,
                                  occurred_at => t0 + random() * span))
    FROM generate_series(1, n)
$$;
-- Rolled up: a heavy user, a light one, and others.
SELECT tail_events('tl_rt_heavy', 400, '2026-06-01+00', interval '10 days')
     + tail_events('light', 40, '2026-06-01+00', interval '10 days')
     + tail_events('other', 200, '2026-06-01+00', interval '10 days') AS rolled_up_events;
CALL usage_rollup();
-- The tail (25 events): recent and late ones of each user, and a user seen only here.
SELECT tail_events('tl_rt_heavy', 8, '2026-06-10+00', interval '1 day') + tail_events('tl_rt_heavy', 4, '2026-06-02+00', interval '2 days')
     + tail_events('light', 3, '2026-06-09+00', interval '2 days') + tail_events('other', 6, '2026-06-01+00', interval '10 days')
     + tail_events('newcomer', 4, '2026-06-05+00', interval '5 days') AS tail_events;

CREATE TABLE tail_periods (f timestamptz, t timestamptz);
INSERT INTO tail_periods VALUES ('-infinity', 'infinity'), ('2026-06-01+00', '2026-06-12+00'),
    ('2026-06-02 07:40+00', '2026-06-03 13:15+00'), ('2026-06-10 05:00+00', '2026-06-10 09:30+00'),
    ('2026-06-04+00', '2026-06-09 22:10+00');

-- usage_user_summary and the user's hourly time series (whole hours) against the raw ledger.
CREATE FUNCTION brute_hours(u text, f timestamptz, t timestamptz) RETURNS TABLE (h timestamptz, requests bigint, tokens bigint)
LANGUAGE sql AS $$
    SELECT date_trunc('hour', l.occurred_at, 'UTC'), count(*), sum(l.total_tokens)::bigint
    FROM usage_log l
    WHERE l.user_id = u AND l.occurred_at >= date_trunc('hour', f, 'UTC')
      AND l.occurred_at < date_trunc('hour', t - interval '1 microsecond', 'UTC') + interval '1 hour'
    GROUP BY 1
$$;
CREATE FUNCTION user_tail_mismatches() RETURNS TABLE (user_id text, summary bigint, series bigint)
LANGUAGE sql AS $$
    SELECT u.u,
           (SELECT count(*) FROM tail_periods p WHERE (
                SELECT (s.requests, s.failures, s.total_tokens, s.total_cost_usd, s.avg_latency_ms)
                FROM usage_user_summary(u.u, p.f, p.t) s)
              IS DISTINCT FROM (
                SELECT (count(*), count(*) FILTER (WHERE NOT l.success), coalesce(sum(l.total_tokens), 0)::bigint,
                        round(coalesce(sum(l.total_cost_nano_usd), 0) / 1e9, 9), round(avg(l.latency_ms), 1))
                FROM usage_log l WHERE l.user_id = u.u AND l.occurred_at >= p.f AND l.occurred_at < p.t)),
           (SELECT count(*) FROM tail_periods p,
                LATERAL ((SELECT x.bucket_start, x.requests, x.total_tokens
                          FROM usage_timeseries('hour', p.f, p.t, user_id => u.u) x WHERE x.requests > 0
                          EXCEPT ALL SELECT * FROM brute_hours(u.u, p.f, p.t))
                         UNION ALL
                         (SELECT * FROM brute_hours(u.u, p.f, p.t)
                          EXCEPT ALL
                          SELECT x.bucket_start, x.requests, x.total_tokens
                          FROM usage_timeseries('hour', p.f, p.t, user_id => u.u) x WHERE x.requests > 0)) d
            WHERE isfinite(p.f))
    FROM unnest(ARRAY['tl_rt_heavy', 'light', 'other', 'newcomer']) u(u)
$$;
SELECT * FROM user_tail_mismatches();

-- The same as the reader tl_rt_heavy (row security, and the user's index path).
CREATE ROLE tl_rt_heavy IN ROLE tokenledger_reader;
SET ROLE tl_rt_heavy;
SELECT s.requests = (SELECT count(*) FROM usage_log l WHERE l.occurred_at >= '2026-06-02 07:40+00' AND l.occurred_at < '2026-06-11+00')
       AS reader_summary_matches
FROM usage_user_summary('tl_rt_heavy', '2026-06-02 07:40+00', '2026-06-11+00') s;
RESET ROLE;
DROP ROLE tl_rt_heavy;

DROP FUNCTION user_tail_mismatches(), brute_hours(text, timestamptz, timestamptz), tail_events(text, integer, timestamptz, interval);
DROP TABLE tail_periods;
