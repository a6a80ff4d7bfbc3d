SET client_min_messages = warning; DROP EXTENSION IF EXISTS tokenledger CASCADE; CREATE EXTENSION tokenledger; RESET client_min_messages;
\set SHOW_CONTEXT never
-- A reservation's hold runs for ttl from the moment it is admitted, not
-- from the start of its transaction: in a transaction older than ttl the
-- hold must still be live when other sessions see it.
SELECT (quota_plan_set('exp', requests_per_day => 100)).plan;
SELECT (quota_assign('exp-user', 'exp')).plan;
BEGIN;
SELECT pg_sleep(2.2);
CREATE TEMP TABLE r AS SELECT reservation_id, expires_at, clock_timestamp() AS after_call
  FROM quota_reserve('exp-user', ttl => interval '2 seconds');
SELECT expires_at > after_call AS live_when_admitted,
       expires_at > now() + interval '2 seconds' AS counts_from_admission
  FROM r;
SELECT q.created_at > now() AS created_at_admission,
       q.expires_at - q.created_at = interval '2 seconds' AS held_for_ttl
  FROM quota_reservations q JOIN r USING (reservation_id);
COMMIT;
-- Other sessions compare holds with their now(): the hold counts for them
-- until ttl has passed since its admission (here it is read at once).
SELECT reserved FROM quota_status('exp-user');
