\set u random(1, 10000)
SELECT reservation_id FROM quota_reserve('u' || :u, 500, 0.001, interval '2 seconds');
