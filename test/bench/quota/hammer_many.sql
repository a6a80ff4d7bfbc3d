\set u random(1, 50)
\set actual random(50, 100)
SELECT coalesce(reservation_id, -1) AS rid FROM quota_reserve('hammer' || :u, 100, 0, interval '1 minute') \gset
\if :rid > 0
SELECT usage_log_insert('hammer' || :u, 'gpt-4o', input_tokens => :actual, reservation_id => :rid);
\endif
