-- Definer functions stage rows in pg_temp tables, and the caller shares that
-- temp schema. A table an admin prepared there under a staging name, with a
-- trigger on it, must never run its code with the extension owner's rights:
-- definer code drops it and stages in a table of its own.
BEGIN;
SELECT plan(8);

CREATE ROLE tap_dt_admin LOGIN IN ROLE tokenledger_admin;
SELECT usage_log_insert('tap_dt_victim', 'gpt-4o', input_tokens => 5, occurred_at => '2020-03-02 10:00+00');

SET ROLE tap_dt_admin;
-- What the trap saw: the role its trigger ran as.
CREATE TEMP TABLE tap_dt_seen (who name);
CREATE FUNCTION pg_temp.tap_dt_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pg_temp.tap_dt_seen VALUES (current_user);
    RETURN NULL;
END $$;
CREATE TEMP TABLE tokenledger_forget (LIKE usage_rollup_hourly);
CREATE TRIGGER tap_dt_trap AFTER INSERT ON pg_temp.tokenledger_forget
    FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.tap_dt_note();
CREATE TEMP TABLE tokenledger_fold (LIKE usage_rollup_hourly);
CREATE TRIGGER tap_dt_trap AFTER INSERT ON pg_temp.tokenledger_fold
    FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.tap_dt_note();
CREATE TEMP TABLE tokenledger_user_delta (LIKE usage_rollup_user_cum);
CREATE TRIGGER tap_dt_trap AFTER INSERT ON pg_temp.tokenledger_user_delta
    FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.tap_dt_note();

SELECT is((SELECT rows_changed FROM usage_forget_user('tap_dt_victim', 'tap-dt-anon') WHERE object = 'usage_log'), 1::bigint,
    'erasure runs with staging tables of the same names prepared by the caller');
SELECT lives_ok($$ SELECT usage_reprice('2020-03-01+00', '2020-04-01+00') $$,
    'repricing runs with a staging table of the same name prepared by the caller');
SELECT is_empty($$ SELECT who FROM pg_temp.tap_dt_seen $$,
    'no trigger on a caller''s table ran during erasure or repricing (they dropped it and staged in their own)');
SELECT is((SELECT count(*)::int FROM pg_class
           WHERE relname IN ('tokenledger_fold', 'tokenledger_user_delta')
             AND relnamespace = pg_my_temp_schema()
             AND relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)), 0,
    'no rollup staging table is left behind owned by the definer');
SELECT lives_ok($$ SELECT usage_rollup_fold(w.watermark, w.watermark) FROM usage_rollup_state w $$,
    'the admin''s own rollup work stages its rows afterwards');
SELECT throws_ok($$ SELECT quota_apply_cost_deltas() $$, '42501', NULL,
    'an admin cannot call the quota reprice hook, which reads a temp table, directly');
RESET ROLE;

-- The owner's own staging table is reused, anything else of that name is dropped.
CREATE TEMP VIEW tokenledger_cost_deltas AS SELECT 1 AS x;
SELECT is(usage_temp_table_usable('tokenledger_cost_deltas'), false, 'a view under a staging name is not used');
SELECT is(to_regclass('pg_temp.tokenledger_cost_deltas'), NULL, 'and it is dropped');

SELECT * FROM finish();
ROLLBACK;
