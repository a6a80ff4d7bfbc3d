-- Admission then settlement, as an app does it: reserve, call the model,
-- record the actual usage (never above the estimate) against the reservation.
\set actual random(50, 100)
SELECT coalesce(reservation_id, -1) AS rid FROM quota_reserve('hammer', 100, 0, interval '1 minute') \gset
\if :rid > 0
SELECT usage_log_insert('hammer', 'gpt-4o', input_tokens => :actual, reservation_id => :rid);
\endif
