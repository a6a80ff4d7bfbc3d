\set u random(1, 10000)
SELECT allowed FROM quota_check('u' || :u, 500, 0.001);
