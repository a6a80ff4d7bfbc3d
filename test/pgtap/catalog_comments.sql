-- Users can find everything: every object of the extension carries a COMMENT.
BEGIN;
SELECT plan(2);

SELECT is_empty($$
    SELECT pg_describe_object(d.classid, d.objid, 0)
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tokenledger'
    WHERE d.deptype = 'e'
      AND d.classid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass)
      AND NOT (d.classid = 'pg_type'::regclass
               AND EXISTS (SELECT 1 FROM pg_type t WHERE t.oid = d.objid AND t.typrelid <> 0))
      AND obj_description(d.objid, d.classid::regclass::name) IS NULL
    ORDER BY 1
$$, 'every table, view, sequence, function and type of the extension has a COMMENT');

-- Functions are never executable by PUBLIC unless they only compute on their arguments.
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tokenledger'
    JOIN pg_proc p ON p.oid = d.objid
    WHERE d.deptype = 'e' AND d.classid = 'pg_proc'::regclass
      AND has_function_privilege('public', p.oid, 'EXECUTE')
      AND p.provolatile <> 'i'
      AND p.prorettype <> 'trigger'::regtype
    ORDER BY 1
$$, 'no function that reads or writes data is executable by PUBLIC');

SELECT * FROM finish();
ROLLBACK;
