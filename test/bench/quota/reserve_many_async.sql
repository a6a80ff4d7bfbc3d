-- A reservation is a transient hold: its commit need not wait for the WAL flush.
\set u random(1, 10000)
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT reservation_id FROM quota_reserve('u' || :u, 500, 0.001, interval '2 seconds');
COMMIT;
