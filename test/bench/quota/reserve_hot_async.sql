-- A reservation is a transient hold: its commit need not wait for the WAL flush.
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT reservation_id FROM quota_reserve('hot', 500, 0.001, interval '2 seconds');
COMMIT;
