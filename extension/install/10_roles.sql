-- Roles. They are cluster-wide, so they are created once and never dropped by
-- DROP EXTENSION; re-creating the extension finds them in place.
--   tokenledger_writer: apps. May record usage (and, later, check quotas); no table access.
--   tokenledger_reader: end users with their own login. See only their own rows (RLS).
--   tokenledger_admin:  reads everything, manages prices, plans and jobs.
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['tokenledger_writer', 'tokenledger_reader', 'tokenledger_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

COMMENT ON ROLE tokenledger_writer IS 'tokenledger: applications; may record usage through the insert functions, nothing else';
COMMENT ON ROLE tokenledger_reader IS 'tokenledger: end users with a login; may read only their own ledger rows (user_id = current_user)';
COMMENT ON ROLE tokenledger_admin IS 'tokenledger: administrators; read every row, run reports, manage prices, plans and jobs';

GRANT USAGE ON SCHEMA @extschema@ TO tokenledger_writer, tokenledger_reader, tokenledger_admin;
