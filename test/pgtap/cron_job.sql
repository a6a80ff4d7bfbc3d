-- The real pg_cron job: usage_schedule() creates it in this database (where
-- the private cluster runs pg_cron), the background worker runs
-- usage_rollup, and the watermark advances past an event committed before.
-- Not wrapped in a transaction: the job must see committed rows. Cleans up
-- after itself (jobs, and pg_cron if this file installed it).
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') AS created_cron \gset
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT plan(8);

SELECT lives_ok($$ SELECT usage_unschedule() $$, 'usage_unschedule works when nothing is scheduled');
SELECT usage_log_insert('tap-cron-user', 'gpt-4o', input_tokens => 3) AS cron_event \gset

-- Polls a boolean query once a second until it holds or the timeout passes.
-- pg_cron writes a run's final status after the job's own transaction commits,
-- so "the watermark moved" and "the run is recorded" are waited for separately.
CREATE FUNCTION pg_temp.wait_until(condition text, timeout_s integer) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => timeout_s);
    holds boolean;
BEGIN
    LOOP
        EXECUTE condition INTO holds;
        IF holds THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(1);
    END LOOP;
END
$$;

SELECT is((SELECT string_agg(jobname || ' @ ' || schedule, '; ' ORDER BY jobname) FROM usage_schedule()),
    format('tokenledger-maintenance-%s @ 7 * * * *; tokenledger-rollup-%s @ * * * * *', current_database(), current_database()),
    'usage_schedule creates the rollup (every minute) and maintenance (hourly) jobs');
SELECT is((SELECT count(*)::int FROM usage_schedule(maintenance_schedule => '17 3 * * *')), 2,
    'calling usage_schedule again returns the same two jobs');
SELECT is((SELECT string_agg(format('%s | %s | %s', schedule, database, command), '; ' ORDER BY jobname)
            FROM cron.job WHERE jobname LIKE 'tokenledger-%'),
    format('17 3 * * * | %s | CALL public.usage_maintenance(); * * * * * | %s | CALL public.usage_rollup()', current_database(), current_database()),
    'the jobs are updated in place, not duplicated, and run in this database');

SELECT ok(pg_temp.wait_until(format('SELECT watermark >= %s FROM usage_rollup_state', :cron_event), 90),
    'within 90 s the pg_cron job rolls up an event committed before it ran');
SELECT ok(pg_temp.wait_until($$ SELECT EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                  WHERE j.jobname = 'tokenledger-rollup-' || current_database() AND d.status = 'succeeded') $$, 30),
    'pg_cron records a successful rollup run');

SELECT set_eq($$ SELECT usage_unschedule() $$,
    ARRAY['tokenledger-rollup-' || current_database()::text, 'tokenledger-maintenance-' || current_database()::text],
    'usage_unschedule removes both jobs');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname LIKE 'tokenledger-%'), 0, 'no tokenledger job is left');

SELECT * FROM finish();
DELETE FROM usage_log WHERE user_id = 'tap-cron-user';
-- A direct ledger delete: the quota counters must follow (README, quotas).
DELETE FROM quota_usage_counters WHERE user_id = 'tap-cron-user';
\if :created_cron
DROP EXTENSION pg_cron;
\endif
