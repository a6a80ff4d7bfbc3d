-- Quota usage counters: what quota_measure sums instead of the ledger.
--
-- usage_log_insert adds every event it writes (never a deduplicated retry)
-- to three rows of its user: the UTC day, UTC hour and UTC minute holding
-- occurred_at (quota_counters.c). Each grain alone counts every event once,
-- so a window is summed exactly from whole buckets of one grain or another,
-- plus the raw ledger rows of its partial edges: see quota_measure.
-- Reprice deltas, erasure and the upgrade backfill keep the counters equal
-- to the ledger; quota_prune_counters drops buckets no window reaches.

CREATE TABLE @extschema@.quota_usage_counters (
    user_id       text COLLATE "C" NOT NULL,
    grain         "char" NOT NULL CHECK (grain IN ('d', 'h', 'm')),
    bucket        timestamptz NOT NULL,
    requests      bigint NOT NULL,
    tokens        bigint NOT NULL,
    cost_nano_usd bigint NOT NULL,
    first_at      timestamptz NOT NULL,
    PRIMARY KEY (user_id, grain, bucket)
) WITH (fillfactor = 70);   -- room for HOT updates: each insert rewrites three rows
COMMENT ON TABLE @extschema@.quota_usage_counters IS 'Per-user usage per UTC day, hour and minute, kept by usage_log_insert; quota checks sum these instead of the ledger';
COMMENT ON COLUMN @extschema@.quota_usage_counters.user_id IS 'The app''s user id, as in usage_log.user_id';
COMMENT ON COLUMN @extschema@.quota_usage_counters.grain IS 'Bucket length: d (UTC day), h (hour) or m (minute); every event counts once in each grain';
COMMENT ON COLUMN @extschema@.quota_usage_counters.bucket IS 'Start of the bucket (a UTC day, hour or minute boundary)';
COMMENT ON COLUMN @extschema@.quota_usage_counters.requests IS 'Ledger rows of the user with occurred_at in the bucket';
COMMENT ON COLUMN @extschema@.quota_usage_counters.tokens IS 'Their total_tokens';
COMMENT ON COLUMN @extschema@.quota_usage_counters.cost_nano_usd IS 'Their total_cost_nano_usd, unpriced as 0, in 1e-9 USD';
COMMENT ON COLUMN @extschema@.quota_usage_counters.first_at IS 'The earliest occurred_at in the bucket (when a sliding window sheds it)';

REVOKE ALL ON @extschema@.quota_usage_counters FROM PUBLIC;
GRANT SELECT ON @extschema@.quota_usage_counters TO tokenledger_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.quota_usage_counters', '');

-- Writes this transaction's queued counter updates now instead of at commit
-- (quota_counters.c): for the functions that rewrite the counters inside a
-- transaction that may have recorded events (checks add them from memory).
CREATE FUNCTION @extschema@.quota_counters_flush()
RETURNS integer
AS 'MODULE_PATHNAME', 'quota_counters_flush'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.quota_counters_flush() IS 'Writes the events this transaction recorded into quota_usage_counters now rather than at commit, and returns how many; erasure, reprice, rebuild and prune call it first';
REVOKE ALL ON FUNCTION @extschema@.quota_counters_flush() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_counters_flush() TO tokenledger_admin;

-- TRUNCATE usage_log (tests, a fresh start) empties the counters with it.
CREATE FUNCTION @extschema@.quota_counters_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    TRUNCATE @extschema@.quota_usage_counters;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_counters_truncate() IS 'Trigger: empties quota_usage_counters when usage_log is truncated';
REVOKE ALL ON FUNCTION @extschema@.quota_counters_truncate() FROM PUBLIC;
CREATE TRIGGER usage_log_truncate_quota_counters AFTER TRUNCATE ON @extschema@.usage_log
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.quota_counters_truncate();
COMMENT ON TRIGGER usage_log_truncate_quota_counters ON @extschema@.usage_log IS 'Keeps the quota counters equal to the ledger when it is truncated';

-- How long each grain is read: minute buckets by the sliding minute and
-- hour windows, hour and day buckets by the day and month windows (a month
-- plus the widest time zone offset).
CREATE FUNCTION @extschema@.quota_counter_horizon(grain "char")
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- No SET clause: only called from functions that pin search_path.
AS $fn$
    SELECT CASE grain WHEN 'm' THEN interval '2 hours' ELSE interval '35 days' END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_counter_horizon("char") IS 'Internal: how far back quota windows read counters of a grain (minute 2 hours, hour and day 35 days); older buckets are pruned';
REVOKE ALL ON FUNCTION @extschema@.quota_counter_horizon("char") FROM PUBLIC;

CREATE FUNCTION @extschema@.quota_prune_counters()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint := 0;
    k bigint;
    g "char";
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    FOREACH g IN ARRAY ARRAY['m', 'h', 'd']::"char"[] LOOP
        DELETE FROM @extschema@.quota_usage_counters c
         WHERE c.grain = g
           AND c.bucket < pg_catalog.now() - @extschema@.quota_counter_horizon(g)
                          - CASE g WHEN 'm' THEN interval '1 minute' WHEN 'h' THEN interval '1 hour'
                                   ELSE interval '1 day' END;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_prune_counters() IS 'Deletes quota counter buckets no quota window reaches any more and returns how many; usage_maintenance calls it';
REVOKE ALL ON FUNCTION @extschema@.quota_prune_counters() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_prune_counters() TO tokenledger_admin;

-- Rebuilds every counter inside the horizons from the ledger: the upgrade
-- backfill, and a repair after writing usage_log by other means. Inserts
-- wait meanwhile (SHARE lock), so none is missed or counted twice.
CREATE FUNCTION @extschema@.quota_rebuild_counters()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    LOCK TABLE @extschema@.usage_log IN SHARE MODE;
    DELETE FROM @extschema@.quota_usage_counters;
    INSERT INTO @extschema@.quota_usage_counters (user_id, grain, bucket, requests, tokens, cost_nano_usd, first_at)
    SELECT l.user_id, g.grain, pg_catalog.date_trunc(g.unit, l.occurred_at, 'UTC'), count(*),
           sum(l.total_tokens), coalesce(sum(l.total_cost_nano_usd), 0), min(l.occurred_at)
      FROM (VALUES ('d'::"char", 'day'), ('h', 'hour'), ('m', 'minute')) g(grain, unit)
      JOIN @extschema@.usage_log l
        ON l.occurred_at >= pg_catalog.now() - @extschema@.quota_counter_horizon(g.grain) - interval '1 day'
     GROUP BY 1, 2, 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_rebuild_counters() IS 'Recomputes the quota counters from the ledger (inserts wait meanwhile) and returns how many buckets it wrote; the 0.2.0 upgrade runs it, and an admin may after changing usage_log by other means';
REVOKE ALL ON FUNCTION @extschema@.quota_rebuild_counters() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_rebuild_counters() TO tokenledger_admin;
