-- Time partitions of usage_log, retention and the maintenance procedure.
--
-- The install script creates no time partitions: anything it created would
-- become an extension member, which pg_dump skips. Partitions are created at
-- run time by usage_maintenance() (scheduled by usage_schedule()), so they
-- belong to the database like any table and pg_dump dumps them with their
-- rows. Until the first maintenance run every row lands in usage_log_default,
-- and maintenance then moves those rows into their partitions.

-- The configured partition width, validated.
CREATE FUNCTION @extschema@.usage_partition_interval()
RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s text := coalesce(current_setting('tokenledger.partition_interval', true), '1 month');
    i interval;
    m integer;
BEGIN
    BEGIN
        i := s::interval;
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'tokenledger.partition_interval is not an interval: "%"', s
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set it to a width such as ''1 month'', ''1 week'' or ''1 day''.';
    END;
    m := (extract(year FROM i) * 12 + extract(month FROM i))::integer;
    IF (m > 0 AND i <> make_interval(months => m))
       OR (m = 0 AND extract(epoch FROM i) < 3600)
       OR m < 0 THEN
        RAISE EXCEPTION 'tokenledger.partition_interval must be whole months or at least one hour, got "%"', s
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a width such as ''1 month'', ''3 months'', ''1 week'' or ''1 day''.';
    END IF;
    RETURN i;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_partition_interval() IS
'Internal: tokenledger.partition_interval as an interval (whole months, or a fixed width of at least an hour)';
REVOKE ALL ON FUNCTION @extschema@.usage_partition_interval() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_partition_interval() TO tokenledger_admin;

-- [start, end) of the partition of the given width that holds ts. Month
-- widths align to calendar months in UTC (counted from year 0); fixed widths
-- align to Monday 2000-01-03 00:00 UTC.
CREATE FUNCTION @extschema@.usage_partition_range(ts timestamptz, width interval,
    OUT range_from timestamptz, OUT range_to timestamptz)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    m integer := (extract(year FROM width) * 12 + extract(month FROM width))::integer;
    u timestamp := ts AT TIME ZONE 'UTC';
    idx integer;
BEGIN
    IF m > 0 THEN
        u := date_trunc('month', u);
        idx := (extract(year FROM u) * 12 + extract(month FROM u) - 1)::integer;
        u := u - make_interval(months => idx % m);
        range_from := u AT TIME ZONE 'UTC';
        range_to := (u + make_interval(months => m)) AT TIME ZONE 'UTC';
    ELSE
        range_from := date_bin(width, ts, timestamptz '2000-01-03 00:00:00+00');
        range_to := range_from + width;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_partition_range(timestamptz, interval) IS
'Internal: the aligned [range_from, range_to) of the partition of the given width holding ts';
REVOKE ALL ON FUNCTION @extschema@.usage_partition_range(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_partition_range(timestamptz, interval) TO tokenledger_admin;

-- The ledger's partitions with their bounds.
CREATE FUNCTION @extschema@.usage_partitions()
RETURNS TABLE (partition_name text, range_from timestamptz, range_to timestamptz, is_default boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT c.relname::text,
       b[1]::timestamptz,
       b[2]::timestamptz,
       b IS NULL
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
LEFT JOIN LATERAL pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),
    $re$FROM \('([^']*)'\) TO \('([^']*)'\)$re$) AS b ON true
WHERE i.inhparent = '@extschema@.usage_log'::regclass
ORDER BY b IS NULL, b[1]::timestamptz;
$fn$;
COMMENT ON FUNCTION @extschema@.usage_partitions() IS
'The partitions of usage_log with their [range_from, range_to) bounds; the default partition last, with NULL bounds';
REVOKE ALL ON FUNCTION @extschema@.usage_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_partitions() TO tokenledger_admin;

-- Creates the partition that holds ts (clipped so it never overlaps an
-- existing one, e.g. after the width changed) and moves the rows the default
-- partition holds for that range into it. Returns its name, or NULL when a
-- partition already covers ts. Definer: only the ledger's owner may add
-- partitions.
CREATE FUNCTION @extschema@.usage_create_partition(ts timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    lo timestamptz;
    hi timestamptz;
    pname text;
    cols text;
    moved bigint;
BEGIN
    IF ts IS NULL OR NOT isfinite(ts) THEN
        RAISE EXCEPTION 'partition time must be a finite timestamp'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the time the partition must cover, such as now().';
    END IF;
    -- Writers wait while the partition is added and strays move; readers don't.
    LOCK TABLE @extschema@.usage_log IN SHARE ROW EXCLUSIVE MODE;
    IF EXISTS (SELECT 1 FROM @extschema@.usage_partitions() p
               WHERE NOT p.is_default AND ts >= p.range_from AND ts < p.range_to) THEN
        RETURN NULL;
    END IF;
    r := @extschema@.usage_partition_range(ts, @extschema@.usage_partition_interval());
    lo := greatest(r.range_from, (SELECT max(p.range_to) FROM @extschema@.usage_partitions() p
                                  WHERE NOT p.is_default AND p.range_to <= ts));
    hi := least(r.range_to, (SELECT min(p.range_from) FROM @extschema@.usage_partitions() p
                             WHERE NOT p.is_default AND p.range_from > ts));
    pname := 'usage_log_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD')
             || CASE WHEN date_trunc('day', lo, 'UTC') <> lo THEN to_char(lo AT TIME ZONE 'UTC', '"_"HH24MI') ELSE '' END;

    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_attribute a
    WHERE a.attrelid = '@extschema@.usage_log'::regclass AND a.attnum > 0
      AND NOT a.attisdropped AND a.attgenerated = '';

    -- Strays leave the default partition first, or the new partition could
    -- not be created; they return, ids unchanged, in the same transaction.
    IF pg_catalog.to_regclass('pg_temp.tokenledger_strays') IS NOT NULL THEN
        DROP TABLE pg_temp.tokenledger_strays;
    END IF;
    EXECUTE format('CREATE TEMP TABLE tokenledger_strays ON COMMIT DROP AS '
                   'WITH moved AS (DELETE FROM %I.usage_log_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING %s) '
                   'SELECT * FROM moved', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), lo, hi, cols);
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.usage_log FOR VALUES FROM (%L) TO (%L)',
                   (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), pname, (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), lo, hi);
    EXECUTE format('COMMENT ON TABLE %I.%I IS %L', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), pname,
                   format('Partition of usage_log for [%s, %s), created by tokenledger maintenance', lo, hi));
    EXECUTE format('INSERT INTO %I.%I (%s) SELECT %s FROM pg_temp.tokenledger_strays', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), pname, cols, cols);
    GET DIAGNOSTICS moved = ROW_COUNT;
    DROP TABLE pg_temp.tokenledger_strays;
    IF moved > 0 THEN
        RAISE NOTICE 'moved % rows from usage_log_default into %', moved, pname;
    END IF;
    RETURN pname;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_create_partition(timestamptz) IS
'Creates the usage_log partition holding ts (if none does) and moves the default partition''s rows for its range into it; returns its name or NULL';
REVOKE ALL ON FUNCTION @extschema@.usage_create_partition(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_create_partition(timestamptz) TO tokenledger_admin;

-- Partitions for now and `ahead` periods after it, plus one for every period
-- the default partition holds strays for. Returns the names it created.
CREATE FUNCTION @extschema@.usage_create_partitions(ahead integer DEFAULT 2)
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    w interval := @extschema@.usage_partition_interval();
    t timestamptz;
    n text;
    i integer;
BEGIN
    IF ahead IS NULL OR ahead < 0 OR ahead > 120 THEN
        RAISE EXCEPTION 'ahead must be between 0 and 120, got %', ahead
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass how many future partitions to keep ready, such as 2.';
    END IF;
    t := now();
    FOR i IN 0 .. ahead LOOP
        n := @extschema@.usage_create_partition(t);
        IF n IS NOT NULL THEN RETURN NEXT n; END IF;
        t := (@extschema@.usage_partition_range(t, w)).range_to;
    END LOOP;
    FOR t IN SELECT min(d.occurred_at) FROM @extschema@.usage_log_default d
             GROUP BY (@extschema@.usage_partition_range(d.occurred_at, w)).range_from LOOP
        n := @extschema@.usage_create_partition(t);
        IF n IS NOT NULL THEN RETURN NEXT n; END IF;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_create_partitions(integer) IS
'Creates the partitions for now and the next `ahead` periods, and for every period the default partition holds rows for (moving them in); returns the names created';
REVOKE ALL ON FUNCTION @extschema@.usage_create_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_create_partitions(integer) TO tokenledger_admin;

-- Drops raw partitions that ended more than tokenledger.raw_retention ago,
-- but only when every row in them is already rolled up. Returns the names
-- dropped.
CREATE FUNCTION @extschema@.usage_drop_old_partitions()
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keep interval := @extschema@.usage_raw_retention();
    wm bigint;
    p record;
    top bigint;
BEGIN
    -- No rollup may run while the watermark is compared with the rows.
    PERFORM pg_advisory_xact_lock(hashtext('tokenledger'), 1);
    SELECT s.watermark INTO wm FROM @extschema@.usage_rollup_state s;
    FOR p IN SELECT * FROM @extschema@.usage_partitions() x
             WHERE NOT x.is_default AND x.range_to <= now() - keep ORDER BY x.range_from LOOP
        EXECUTE format('SELECT max(event_id) FROM %I.%I', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), p.partition_name) INTO top;
        IF top > wm THEN
            RAISE WARNING 'kept partition % past retention: it holds events not yet rolled up', p.partition_name
                USING HINT = 'Run CALL usage_rollup(); the next maintenance run drops it.';
            CONTINUE;
        END IF;
        EXECUTE format('DROP TABLE %I.%I', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), p.partition_name);
        RETURN NEXT p.partition_name;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_drop_old_partitions() IS
'Drops usage_log partitions that ended more than tokenledger.raw_retention ago and are fully rolled up; returns the names dropped';
REVOKE ALL ON FUNCTION @extschema@.usage_drop_old_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_drop_old_partitions() TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_raw_retention()
RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s text := coalesce(current_setting('tokenledger.raw_retention', true), '90 days');
    i interval;
BEGIN
    BEGIN
        i := s::interval;
    EXCEPTION WHEN OTHERS THEN
        i := NULL;
    END;
    IF i IS NULL OR i < interval '1 day' THEN
        RAISE EXCEPTION 'tokenledger.raw_retention must be an interval of at least one day, got "%"', s
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set it to a period such as ''90 days'' or ''1 year''.';
    END IF;
    RETURN i;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_raw_retention() IS
'Internal: tokenledger.raw_retention as an interval (at least one day)';
REVOKE ALL ON FUNCTION @extschema@.usage_raw_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_raw_retention() TO tokenledger_admin;

-- Forgets idempotency keys older than the raw retention. Returns how many.
CREATE FUNCTION @extschema@.usage_prune_request_ids()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    DELETE FROM @extschema@.usage_request_ids
    WHERE occurred_at < now() - @extschema@.usage_raw_retention();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_prune_request_ids() IS
'Deletes request-id deduplication entries older than tokenledger.raw_retention; returns how many';
REVOKE ALL ON FUNCTION @extschema@.usage_prune_request_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_prune_request_ids() TO tokenledger_admin;

-- The periodic job: roll up first, so no dropped partition holds an event
-- the rollups have not counted; then partitions, retention, pruning and the
-- quota engine's reservation sweep when it is installed. Commits between
-- steps, so call it outside an explicit transaction block.
CREATE PROCEDURE @extschema@.usage_maintenance(ahead integer DEFAULT 2)
LANGUAGE plpgsql
AS $fn$
DECLARE
    created text[];
    dropped text[];
    pruned bigint;
    sweep regprocedure;
BEGIN
    CALL @extschema@.usage_rollup();
    SELECT array_agg(n) INTO created FROM @extschema@.usage_create_partitions(ahead) n;
    COMMIT;
    SELECT array_agg(n) INTO dropped FROM @extschema@.usage_drop_old_partitions() n;
    COMMIT;
    pruned := @extschema@.usage_prune_request_ids();
    COMMIT;
    sweep := pg_catalog.to_regprocedure('@extschema@.quota_sweep_reservations()');
    IF sweep IS NOT NULL THEN
        IF (SELECT p.prokind FROM pg_catalog.pg_proc p WHERE p.oid = sweep) = 'p' THEN
            EXECUTE pg_catalog.format('CALL %s', sweep);
        ELSE
            EXECUTE pg_catalog.format('SELECT %s', sweep);
        END IF;
        COMMIT;
    END IF;
    PERFORM @extschema@.quota_prune_counters();
    COMMIT;
    RAISE NOTICE 'tokenledger maintenance: created %, dropped %, pruned % request ids',
        coalesce(pg_catalog.array_to_string(created, ', '), 'no partitions'),
        coalesce(pg_catalog.array_to_string(dropped, ', '), 'no partitions'), pruned;
END
$fn$;
COMMENT ON PROCEDURE @extschema@.usage_maintenance(integer) IS
'Periodic upkeep: usage_rollup, then partitions for now and `ahead` periods (moving default-partition strays), drops rolled-up partitions past tokenledger.raw_retention, prunes old request ids, runs quota_sweep_reservations() when installed and prunes quota counters no window reaches';
REVOKE ALL ON PROCEDURE @extschema@.usage_maintenance(integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE @extschema@.usage_maintenance(integer) TO tokenledger_admin;

-- Reports read the raw ledger by time only at the partial hours of a
-- period's edges; a BRIN index finds them at almost no cost to inserts.
CREATE INDEX usage_log_occurred_brin ON @extschema@.usage_log USING brin (occurred_at);
COMMENT ON INDEX @extschema@.usage_log_occurred_brin IS 'Block-range index on occurred_at: cheap time-range reads of the raw ledger for report edges and maintenance';
