-- Estimates that are too low: actual usage is 100..120 tokens against an
-- estimate of 100, so the overshoot must stay within clients x 20 tokens.
\set actual random(100, 120)
SELECT coalesce(reservation_id, -1) AS rid FROM quota_reserve('hammer_over', 100, 0, interval '1 minute') \gset
\if :rid > 0
SELECT usage_log_insert('hammer_over', 'gpt-4o', input_tokens => :actual, reservation_id => :rid);
\endif
