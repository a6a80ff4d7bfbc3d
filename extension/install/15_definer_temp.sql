-- Temporary tables in definer code. Functions that run as the extension's
-- owner stage rows in pg_temp tables. The caller shares that temp schema, so
-- a relation a caller created there under the same name (a table with a
-- trigger or rule, a view calling a function) would run its code with the
-- owner's rights. Definer code therefore only reuses plain tables the
-- current user owns and drops anything else by that name first.
CREATE FUNCTION @extschema@.usage_temp_table_usable(staging_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    rel record;
BEGIN
    SELECT c.relkind, c.relhastriggers, c.relhasrules, c.relrowsecurity,
           c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) AS mine
      INTO rel
      FROM pg_catalog.pg_class c
     WHERE c.oid = pg_catalog.to_regclass(pg_catalog.format('pg_temp.%I', staging_name));
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF rel.relkind = 'r' AND rel.mine AND NOT (rel.relhastriggers OR rel.relhasrules OR rel.relrowsecurity) THEN
        RETURN true;
    END IF;
    EXECUTE pg_catalog.format('DROP %s pg_temp.%I',
                              CASE rel.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                               WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'
                                               WHEN 'i' THEN 'INDEX' WHEN 'I' THEN 'INDEX' WHEN 'c' THEN 'TYPE'
                                               ELSE 'TABLE' END,
                              staging_name);
    RETURN false;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_temp_table_usable(text) IS
'Internal: whether pg_temp.staging_name is a plain table of the current user without triggers, rules or row security (safe to reuse in definer code); any other relation of that name is dropped and false returned';
REVOKE ALL ON FUNCTION @extschema@.usage_temp_table_usable(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_temp_table_usable(text) TO tokenledger_admin;
