-- Scheduling with pg_cron. pg_cron runs in one database per cluster
-- (cron.database_name) and schedules jobs into any database with
-- cron.schedule_in_database. usage_schedule() works when it is called in the
-- database where the pg_cron extension is installed (the usual setup: the
-- ledger's database); anywhere else it raises an error whose hint is the
-- exact statement to run in pg_cron's database.

-- Job names include the database, so ledgers in several databases of one
-- cluster get separate jobs.
CREATE FUNCTION @extschema@.usage_schedule(
    rollup_schedule      text DEFAULT '* * * * *',
    maintenance_schedule text DEFAULT '7 * * * *')
RETURNS TABLE (jobname text, jobid bigint, schedule text, command text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cron_db text := current_setting('cron.database_name', true);
    jobs text[][] := ARRAY[
        ARRAY['tokenledger-rollup-' || current_database()::text, rollup_schedule,
              format('CALL %I.usage_rollup()', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace))],
        ARRAY['tokenledger-maintenance-' || current_database()::text, maintenance_schedule,
              format('CALL %I.usage_maintenance()', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace))]];
    i integer;
    stmt text;
BEGIN
    IF rollup_schedule IS NULL OR maintenance_schedule IS NULL THEN
        RAISE EXCEPTION 'schedules must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass cron expressions such as ''* * * * *'', or omit them for the defaults.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = 'schedule_in_database'
                   AND p.pronamespace = to_regnamespace('cron')) THEN
        IF cron_db IS NULL THEN
            RAISE EXCEPTION 'pg_cron is not available in this cluster'
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Add pg_cron to shared_preload_libraries and CREATE EXTENSION pg_cron, or run CALL usage_rollup() and CALL usage_maintenance() from another scheduler.';
        END IF;
        FOR i IN 1 .. 2 LOOP
            stmt := concat_ws(' ', stmt, format('SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                                                jobs[i][1], jobs[i][2], jobs[i][3], current_database()::text));
        END LOOP;
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = format('pg_cron runs in database "%s".', cron_db),
                  HINT = CASE WHEN cron_db = current_database()
                              THEN 'Run CREATE EXTENSION pg_cron; then call usage_schedule() again.'
                              ELSE format('Connect to database "%s" and run: %s', cron_db, stmt) END;
    END IF;
    FOR i IN 1 .. 2 LOOP
        -- Upserts by job name, so calling this again only changes schedules.
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
            USING jobs[i][1], jobs[i][2], jobs[i][3], current_database()::text;
    END LOOP;
    RETURN QUERY EXECUTE
        'SELECT j.jobname::text, j.jobid, j.schedule::text, j.command::text FROM cron.job j
         WHERE j.jobname = ANY ($1) ORDER BY j.jobname DESC'
        USING ARRAY[jobs[1][1], jobs[2][1]];
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_schedule(text, text) IS
'Creates or updates the pg_cron jobs that run usage_rollup (default every minute) and usage_maintenance (default hourly) in this database; returns the jobs';
REVOKE ALL ON FUNCTION @extschema@.usage_schedule(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_schedule(text, text) TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_unschedule()
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    j text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = 'unschedule'
                   AND p.pronamespace = to_regnamespace('cron')) THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'feature_not_supported',
                  HINT = format('Remove the jobs where pg_cron runs: SELECT cron.unschedule(%L); SELECT cron.unschedule(%L);',
                                'tokenledger-rollup-' || current_database()::text, 'tokenledger-maintenance-' || current_database()::text);
    END IF;
    FOREACH j IN ARRAY ARRAY['tokenledger-rollup-' || current_database()::text, 'tokenledger-maintenance-' || current_database()::text] LOOP
        IF EXISTS (SELECT 1 FROM cron.job c WHERE c.jobname = j AND c.username = current_user) THEN
            PERFORM cron.unschedule(j::name);
            RETURN NEXT j;
        END IF;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_unschedule() IS
'Removes the pg_cron jobs created by usage_schedule in this database; returns the names removed';
REVOKE ALL ON FUNCTION @extschema@.usage_unschedule() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_unschedule() TO tokenledger_admin;
