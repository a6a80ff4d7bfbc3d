-- usage_top_users ranks exactly only the users whose all-time bound can
-- still reach its page. With many more users than the page, pages of every
-- size, offset and order must equal a brute-force ranking of the raw ledger:
-- users heavy long ago (large bounds, little usage in the period), users
-- active only in the period, unpriced events, and users seen only in the
-- tail (not rolled up yet).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

CREATE FUNCTION top_log_events(users int4range, per_user integer, t0 timestamptz, span interval, tokens integer)
RETURNS bigint LANGUAGE sql AS $$
    SELECT count(usage_log_insert(
        user_id => 'u' || lpad(u::text, 3, '0'),
        model => CASE WHEN (u + i) % 7 = 0 THEN 'unknown-model' ELSE 'gpt-4o' END,  -- some stay unpriced
        input_tokens => tokens + (u * 37 + i * 11) % 500, output_tokens => (u * 13 + i) % 200,
        occurred_at => t0 + span * ((hashint4(u * 1000 + i) & 65535) / 65536.0)))
    FROM generate_series(lower(users), upper(users) - 1) u, generate_series(1, per_user) i
$$;

-- Heavy in January only; steady all quarter; active only in March.
SELECT top_log_events('[1, 31)', 40, '2026-01-01+00', interval '31 days', 4000) AS january_heavy;
SELECT top_log_events('[31, 121)', 6, '2026-01-01+00', interval '90 days', 900) AS steady;
SELECT top_log_events('[121, 151)', 8, '2026-03-01+00', interval '31 days', 1500) AS march_only;
-- Heavy right at the start of period 2 and never again.
SELECT top_log_events('[170, 173)', 3, '2026-03-10 05:50+00', interval '5 minutes', 50000) AS heavy_at_a_start;
-- A half hour in which one high-bound user and three tiny ones are active;
-- the tiny ones are active before and after it too, so they are candidates.
SELECT top_log_events('[31, 32)', 1, '2026-02-15 10:05+00', interval '1 minute', 3000) AS window_big;
SELECT top_log_events('[180, 183)', 1, '2026-02-15 10:10+00', interval '10 minutes', 10)
     + top_log_events('[180, 183)', 1, '2026-01-05+00', interval '1 day', 10)
     + top_log_events('[180, 183)', 1, '2026-03-20+00', interval '1 day', 10) AS window_tiny;
CALL usage_rollup();
-- The tail: more March usage, and users the rollups have not seen.
SELECT top_log_events('[100, 111)', 5, '2026-03-05+00', interval '20 days', 2500) AS tail_known_users;
SELECT top_log_events('[151, 161)', 9, '2026-03-02+00', interval '25 days', 3000) AS tail_new_users;

CREATE TABLE top_periods (i integer, f timestamptz, t timestamptz);
INSERT INTO top_periods VALUES
    (1, '2026-03-01+00', '2026-04-01+00'),
    (2, '2026-03-10 05:45+00', '2026-03-24 17:10+00'),
    (3, '2026-01-20+00', '2026-02-10+00'),
    (4, '2026-02-01 08:20+00', now()),
    (5, '-infinity', 'infinity'),
    (6, '2026-02-15 10:00+00', '2026-02-15 10:30+00');

CREATE FUNCTION top_brute_force_page(f timestamptz, t timestamptz, lim integer, order_by text, off integer)
RETURNS TABLE (rank bigint, user_id text, requests bigint, failures bigint, unpriced_requests bigint,
               total_tokens bigint, total_cost_usd numeric)
LANGUAGE sql AS $$
    SELECT * FROM (
        SELECT row_number() OVER (ORDER BY CASE order_by WHEN 'cost' THEN coalesce(sum(l.total_cost_nano_usd), 0)
                                                         WHEN 'tokens' THEN sum(l.total_tokens) ELSE count(*) END DESC, l.user_id),
               l.user_id, count(*), count(*) FILTER (WHERE NOT l.success), count(*) FILTER (WHERE l.total_cost_nano_usd IS NULL),
               sum(l.total_tokens), round(coalesce(sum(l.total_cost_nano_usd), 0) / 1e9, 9)
        FROM usage_log l WHERE l.occurred_at >= f AND l.occurred_at < t GROUP BY l.user_id) r
    WHERE r.row_number > off AND r.row_number <= off + lim
$$;

-- Each page, both ways round; no mismatch, and every page is full.
SELECT p.i AS period, o AS order_by,
       sum((SELECT count(*) FROM ((SELECT * FROM usage_top_users(p.f, p.t, pg.lim, o, pg.off)
                                   EXCEPT ALL SELECT * FROM top_brute_force_page(p.f, p.t, pg.lim, o, pg.off))
                                  UNION ALL
                                  (SELECT * FROM top_brute_force_page(p.f, p.t, pg.lim, o, pg.off)
                                   EXCEPT ALL SELECT * FROM usage_top_users(p.f, p.t, pg.lim, o, pg.off))) d)) AS mismatches,
       sum((SELECT count(*) FROM usage_top_users(p.f, p.t, pg.lim, o, pg.off))) AS rows_returned
FROM top_periods p, unnest(ARRAY['cost', 'tokens', 'requests']) o,
     (VALUES (1, 0), (3, 0), (3, 2), (10, 25), (5, 60)) pg(lim, off)
GROUP BY p.i, o ORDER BY p.i, o;

-- The ranking passes call usage_user_range with a few dozen users: it must
-- give exactly their usage and nobody else's, also when the raw edge next
-- to a bound holds other users' events (period 2 starts at 05:45, and users
-- u170-u172 are active from 05:50).
CREATE FUNCTION range_brute_force(f timestamptz, t timestamptz, users text[])
RETURNS TABLE (user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint,
               total_cost_nano_usd bigint)
LANGUAGE sql AS $$
    SELECT l.user_id, count(*), count(*) FILTER (WHERE NOT l.success), count(*) FILTER (WHERE l.total_cost_nano_usd IS NULL),
           sum(l.total_tokens)::bigint, coalesce(sum(l.total_cost_nano_usd), 0)::bigint
    FROM usage_log l WHERE l.occurred_at >= f AND l.occurred_at < t AND l.user_id = ANY (users)
    GROUP BY l.user_id
$$;
SELECT p.i AS period,
       (SELECT count(*) FROM ((SELECT * FROM usage_user_range(p.f, p.t, l.users)
                               EXCEPT ALL SELECT * FROM range_brute_force(p.f, p.t, l.users))
                              UNION ALL
                              (SELECT * FROM range_brute_force(p.f, p.t, l.users)
                               EXCEPT ALL SELECT * FROM usage_user_range(p.f, p.t, l.users))) d) AS mismatches,
       (SELECT count(*) FROM usage_user_range(p.f, p.t, l.users)) AS users_returned
FROM top_periods p, (VALUES (ARRAY['u001', 'u031', 'u100', 'u121', 'u151', 'u180', 'nobody'])) l(users)
ORDER BY p.i;

-- A page past the last user is empty, not an error.
SELECT count(*) AS past_the_end FROM usage_top_users('2026-03-01+00', '2026-04-01+00', 10, 'cost', 500);

DROP FUNCTION top_log_events(int4range, integer, timestamptz, interval, integer), top_brute_force_page(timestamptz, timestamptz, integer, text, integer),
              range_brute_force(timestamptz, timestamptz, text[]);
DROP TABLE top_periods;
