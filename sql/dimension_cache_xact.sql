SET client_min_messages = warning; DROP EXTENSION IF EXISTS tokenledger CASCADE; CREATE EXTENSION tokenledger; RESET client_min_messages;
\set SHOW_CONTEXT never
-- The backend's dimension cache never keeps the key of a dimension row
-- whose transaction rolled back, however the cache was refilled in between
-- (after a rolled-back savepoint; for a reset by another session's DDL see
-- isolation spec dimension_cache_reset) and also when the transaction was
-- prepared and then rolled back. A kept key would leave later ledger rows
-- pointing at a model that does not exist.
CREATE FUNCTION pg_temp.dangling() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM usage_log l
     WHERE NOT EXISTS (SELECT 1 FROM usage_models m WHERE m.model_id = l.model_id)
$$;
CREATE FUNCTION pg_temp.models_of(u text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(coalesce(m.name, '(missing)'), ', ' ORDER BY l.event_id)
      FROM usage_log l LEFT JOIN usage_models m ON m.model_id = l.model_id
     WHERE l.user_id = u
$$;

-- A new model, a rolled-back savepoint, the model again, then a rollback.
BEGIN;
SELECT usage_log_insert('dim-sp', 'model-sp') > 0 AS recorded;
SAVEPOINT s;
ROLLBACK TO SAVEPOINT s;
SELECT usage_log_insert('dim-sp', 'model-sp') > 0 AS recorded;
ROLLBACK;
SELECT usage_log_insert('dim-sp', 'model-sp') > 0 AS recorded;
SELECT pg_temp.models_of('dim-sp') AS models, pg_temp.dangling() AS dangling;

-- A prepared transaction that is rolled back.
BEGIN;
SELECT usage_log_insert('dim-2pc', 'model-2pc') > 0 AS recorded;
PREPARE TRANSACTION 'tokenledger_dimension_cache';
ROLLBACK PREPARED 'tokenledger_dimension_cache';
SELECT usage_log_insert('dim-2pc', 'model-2pc') > 0 AS recorded;
SELECT pg_temp.models_of('dim-2pc') AS models, pg_temp.dangling() AS dangling;

-- Keys of committed rows stay cached and correct through all of this.
BEGIN;
SELECT usage_log_insert('dim-ok', 'model-ok') > 0 AS recorded;
SAVEPOINT s;
SELECT usage_log_insert('dim-ok', 'model-ok') > 0 AS recorded;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT usage_log_insert('dim-ok', 'model-ok') > 0 AS recorded;
SELECT pg_temp.models_of('dim-ok') AS models, pg_temp.dangling() AS dangling;
