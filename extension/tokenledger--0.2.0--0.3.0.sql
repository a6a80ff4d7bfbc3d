-- tokenledger 0.2.0 -> 0.3.0
\echo Use "ALTER EXTENSION tokenledger UPDATE TO '0.3.0'" to load this file. \quit

-- Definer code no longer reuses pg_temp relations a caller could have made
-- (a trigger, rule or view there would run with the owner's rights).
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

-- Staging tables of one session's rollup work (fold, reprice hook,
-- erasure); emptied at commit. Returns whether it created any: callers that
-- run as definer (usage_reprice, usage_forget_user) drop what they created,
-- so that the session's own rollup runs can create tables they may use.
-- Only tables the current user made are reused (usage_temp_table_usable).
CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_staging()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s text := (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace);
    t record;
    created boolean := false;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('tokenledger_fold', 'usage_rollup_hourly', ''),
                                   ('tokenledger_fold_daily', 'usage_rollup_hourly', ''),
                                   ('tokenledger_fold_platform', 'usage_rollup_platform_hourly', ''),
                                   ('tokenledger_user_delta', 'usage_rollup_user_cum', ''),
                                   ('tokenledger_user_run', 'usage_rollup_user_cum', ' INCLUDING INDEXES'),
                                   ('tokenledger_user_new', 'usage_rollup_user_cum', ''),
                                   ('tokenledger_user_sum', 'usage_rollup_user_totals', '')) AS v (staged, model, extra)
    LOOP
        CONTINUE WHEN @extschema@.usage_temp_table_usable(t.staged);
        EXECUTE format('CREATE TEMP TABLE %I (LIKE %I.%I%s) ON COMMIT DELETE ROWS', t.staged, s, t.model, t.extra);
        created := true;
    END LOOP;
    RETURN created;
END
$fn$;

-- Replaces a user id everywhere in the ledger, the rollups, the per-user
-- summaries and the quota alerts with an anonymous subject, and removes the
-- user's quota assignment, block and open reservations (their audit trail
-- is rewritten to the subject). Totals are unchanged (rows are reassigned, not
-- deleted); rollup rows merge into the subject's rows. The default subject
-- is a fresh random id per request, so the forgotten user's history stays
-- one (unlinkable) user in reports. Definer: admins may not update the
-- ledger directly. Returns the rows it touched per table.
CREATE OR REPLACE FUNCTION @extschema@.usage_forget_user(user_id text, anonymous_id text DEFAULT NULL)
RETURNS TABLE (object text, rows_changed bigint, reassigned_to text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    old_id text := usage_forget_user.user_id;
    new_id text := coalesce(anonymous_id, 'forgotten:' || gen_random_uuid());
    n bigint;
    t text;
    created boolean;
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    IF old_id IS NULL OR old_id = '' THEN
        RAISE EXCEPTION 'user_id must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the app''s id of the user to forget.';
    END IF;
    IF new_id = '' OR new_id = old_id THEN
        RAISE EXCEPTION 'anonymous_id must differ from user_id and not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Omit anonymous_id to use a fresh random subject.';
    END IF;
    -- No rollup or reprice may run while rows move between subjects.
    PERFORM pg_advisory_xact_lock(hashtext('tokenledger'), 1);
    -- Inserts already in flight may still record the user: let them commit
    -- first, or their rows and counter increments would stay under the old
    -- id. (The app must stop sending the user's events before erasure.)
    PERFORM @extschema@.usage_rollup_wait_for_writers();

    UPDATE @extschema@.usage_log l SET user_id = new_id WHERE l.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'usage_log'; rows_changed := n; reassigned_to := new_id; RETURN NEXT;

    -- Rollup rows move to the subject by merging, so they add to any rows
    -- the subject already has for the same key.
    IF NOT @extschema@.usage_temp_table_usable('tokenledger_forget') THEN
        CREATE TEMP TABLE tokenledger_forget (LIKE @extschema@.usage_rollup_hourly) ON COMMIT DROP;
    END IF;
    FOREACH t IN ARRAY ARRAY['usage_rollup_hourly', 'usage_rollup_daily'] LOOP
        TRUNCATE pg_temp.tokenledger_forget;
        EXECUTE format('WITH moved AS (DELETE FROM %I.%I r WHERE r.user_id = $1 RETURNING r.*) '
                       'INSERT INTO pg_temp.tokenledger_forget SELECT * FROM moved',
                       (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), t)
            USING old_id;
        UPDATE pg_temp.tokenledger_forget SET user_id = new_id;
        n := @extschema@.usage_rollup_merge(t, 'tokenledger_forget');
        object := t; rows_changed := n; RETURN NEXT;
    END LOOP;

    -- Per-user summaries: the user's hourly amounts (differences of the
    -- running totals) are added to the subject's, then the user's rows go.
    -- Platform summaries hold no user and stay as they are. Staging tables
    -- this definer call creates are dropped again, so that the caller's
    -- own rollup runs can create theirs.
    created := @extschema@.usage_rollup_staging();
    TRUNCATE pg_temp.tokenledger_user_delta;
    INSERT INTO pg_temp.tokenledger_user_delta
    SELECT new_id, c.bucket,
           c.requests - coalesce(lag(c.requests) OVER w, 0), c.failures - coalesce(lag(c.failures) OVER w, 0),
           c.unpriced_requests - coalesce(lag(c.unpriced_requests) OVER w, 0),
           c.total_tokens - coalesce(lag(c.total_tokens) OVER w, 0),
           c.total_cost_nano_usd - coalesce(lag(c.total_cost_nano_usd) OVER w, 0)
    FROM @extschema@.usage_rollup_user_cum c
    WHERE c.user_id = old_id
    WINDOW w AS (ORDER BY c.bucket);
    DELETE FROM @extschema@.usage_rollup_user_cum c WHERE c.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM @extschema@.usage_rollup_user_totals u WHERE u.user_id = old_id;
    PERFORM @extschema@.usage_rollup_add_user_deltas();
    object := 'usage_rollup_user_cum'; rows_changed := n; RETURN NEXT;
    IF created THEN
        PERFORM @extschema@.usage_rollup_staging_drop();
    END IF;

    -- Quota counters follow the ledger rows to the subject, adding to any
    -- the subject already has.
    WITH moved AS (DELETE FROM @extschema@.quota_usage_counters c WHERE c.user_id = old_id RETURNING c.*)
    INSERT INTO @extschema@.quota_usage_counters AS c
    SELECT new_id, m.grain, m.bucket, m.requests, m.tokens, m.cost_nano_usd, m.first_at FROM moved m
    ON CONFLICT ON CONSTRAINT quota_usage_counters_pkey DO UPDATE SET requests = c.requests + excluded.requests,
        tokens = c.tokens + excluded.tokens, cost_nano_usd = c.cost_nano_usd + excluded.cost_nano_usd,
        first_at = least(c.first_at, excluded.first_at);
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_usage_counters'; rows_changed := n; RETURN NEXT;

    -- Quota state must not name the user either. Holds are transient: drop them.
    DELETE FROM @extschema@.quota_reservations r WHERE r.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_reservations'; rows_changed := n; RETURN NEXT;

    -- Alerts move to the subject; one the subject already has for the same
    -- limit, threshold and window makes the user's copy redundant.
    DELETE FROM @extschema@.quota_alert_log a
    WHERE a.user_id = old_id
      AND EXISTS (SELECT 1 FROM @extschema@.quota_alert_log b
                  WHERE b.user_id = new_id AND b.limit_name = a.limit_name
                    AND b.threshold_pct = a.threshold_pct AND b.window_start = a.window_start);
    UPDATE @extschema@.quota_alert_log a SET user_id = new_id WHERE a.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_alert_log'; rows_changed := n; RETURN NEXT;

    -- The plan assignment and block belong to the person, not to the subject.
    DELETE FROM @extschema@.quota_users u WHERE u.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_users'; rows_changed := n; RETURN NEXT;

    -- Last, so it also covers the audit row of the delete just above.
    UPDATE @extschema@.quota_audit a
       SET object_key = new_id,
           old_value = CASE WHEN a.old_value ? 'user_id'
                            THEN jsonb_set(a.old_value, '{user_id}', to_jsonb(new_id)) ELSE a.old_value END,
           new_value = CASE WHEN a.new_value ? 'user_id'
                            THEN jsonb_set(a.new_value, '{user_id}', to_jsonb(new_id)) ELSE a.new_value END
     WHERE a.object_type = 'user' AND a.object_key = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'quota_audit'; rows_changed := n; RETURN NEXT;
END
$fn$;

-- Reprice hook. usage_reprice fills pg_temp.tokenledger_cost_deltas (new
-- minus old cost per event) and calls this in the same transaction: the
-- deltas go into the counters the events are in, so quota cost stays what
-- the ledger says. Repricing can push a user over a threshold, so the
-- affected users' alerts are re-evaluated.
CREATE OR REPLACE FUNCTION @extschema@.quota_apply_cost_deltas()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    u text;
    p text;
    now_ timestamptz := pg_catalog.now();
BEGIN
    PERFORM @extschema@.quota_counters_flush();  -- this transaction's queued events first
    -- Only a table this definer code made (usage_reprice) is read.
    IF NOT @extschema@.usage_temp_table_usable('tokenledger_cost_deltas') THEN
        RAISE EXCEPTION 'temporary table tokenledger_cost_deltas does not exist'
            USING ERRCODE = 'undefined_table',
                  HINT = 'usage_reprice creates it before calling quota_apply_cost_deltas; do not call it directly.';
    END IF;
    -- Buckets pruned past their horizon are read by no window: nothing to fix.
    UPDATE @extschema@.quota_usage_counters c SET cost_nano_usd = c.cost_nano_usd + d.delta
      FROM (SELECT d.user_id, g.grain, pg_catalog.date_trunc(g.unit, d.occurred_at, 'UTC') AS bucket,
                   sum(d.total_cost_nano_usd)::bigint AS delta
              FROM pg_temp.tokenledger_cost_deltas d
             CROSS JOIN (VALUES ('d'::"char", 'day'), ('h', 'hour'), ('m', 'minute')) g(grain, unit)
             GROUP BY 1, 2, 3) d
     WHERE c.user_id = d.user_id AND c.grain = d.grain AND c.bucket = d.bucket AND d.delta <> 0;
    FOR u IN SELECT DISTINCT d.user_id FROM pg_temp.tokenledger_cost_deltas d
              WHERE d.total_cost_nano_usd > 0 LOOP
        p := coalesce((SELECT qu.plan FROM @extschema@.quota_users qu WHERE qu.user_id = u),
                      @extschema@.quota_default_plan());
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM @extschema@.quota_plans qp WHERE qp.plan = p);
        PERFORM @extschema@.quota_fire_alerts(u, ARRAY(SELECT x FROM @extschema@.quota_measure(u, now_) x), now_);
    END LOOP;
END
$fn$;
-- Only usage_reprice (same owner) calls it.
REVOKE EXECUTE ON FUNCTION @extschema@.quota_apply_cost_deltas() FROM tokenledger_admin;

-- The schema name is quoted once (an extension schema needing quotes broke
-- every rollup).
-- Derives the summary tables' share from the staged hourly and daily rows
-- (tokenledger_fold, tokenledger_fold_daily) and adds it. The staged rows
-- are amounts to add: new events (fold), cost changes (reprice).
CREATE OR REPLACE FUNCTION @extschema@.usage_rollup_fan_out()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    grain record;
BEGIN
    -- The platform tables: the hourly and the daily staged rows without the user.
    FOR grain IN SELECT * FROM (VALUES ('tokenledger_fold', 'usage_rollup_platform_hourly'),
                                       ('tokenledger_fold_daily', 'usage_rollup_platform_daily')) AS g (staged, target)
    LOOP
        TRUNCATE pg_temp.tokenledger_fold_platform;
        EXECUTE format($q$
            INSERT INTO pg_temp.tokenledger_fold_platform
            SELECT f.bucket, sum(f.requests), sum(f.unpriced_requests),
                   sum(f.input_tokens), sum(f.output_tokens), sum(f.cache_read_tokens), sum(f.cache_write_tokens),
                   sum(f.cache_write_1h_tokens), sum(f.reasoning_tokens), sum(f.total_tokens),
                   sum(f.input_cost_nano_usd), sum(f.output_cost_nano_usd), sum(f.cache_read_cost_nano_usd),
                   sum(f.cache_write_cost_nano_usd), sum(f.reasoning_cost_nano_usd), sum(f.total_cost_nano_usd),
                   sum(f.latency_sum_ms), sum(f.latency_count),
                   f.model_id, f.endpoint_id, f.provider_id, f.success, %1$I.usage_hist_sum(f.latency_hist)
            FROM pg_temp.%2$I f
            GROUP BY f.bucket, f.model_id, f.endpoint_id, f.provider_id, f.success$q$,
            (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), grain.staged);
        PERFORM @extschema@.usage_rollup_merge(grain.target, 'tokenledger_fold_platform');
    END LOOP;

    TRUNCATE pg_temp.tokenledger_user_delta;
    INSERT INTO pg_temp.tokenledger_user_delta
    SELECT f.user_id, f.bucket, sum(f.requests), coalesce(sum(f.requests) FILTER (WHERE NOT f.success), 0),
           sum(f.unpriced_requests), sum(f.total_tokens), sum(f.total_cost_nano_usd)
    FROM pg_temp.tokenledger_fold f
    GROUP BY f.user_id, f.bucket;
    PERFORM @extschema@.usage_rollup_add_user_deltas();
END
$fn$;

-- Each batch takes the rollup lock for its own transaction (no session lock
-- left behind by a failed run).
-- Folds every committed ledger row above the watermark into the rollups.
-- Commits after every batch of tokenledger.rollup_batch_size ids, so call
-- it outside an explicit transaction block. Each batch takes the rollup
-- lock (hashtext('tokenledger'), 1) for its own transaction and re-reads
-- the watermark under it: two runs never fold at the same time nor fold a
-- row twice, usage_reprice and usage_forget_user (same key) run between
-- batches, and a run that fails leaves no lock behind on a pooled session.
CREATE OR REPLACE PROCEDURE @extschema@.usage_rollup(batch_size integer DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
DECLARE
    bs bigint := coalesce(batch_size,
                          coalesce(pg_catalog.current_setting('tokenledger.rollup_batch_size', true), '500000')::integer);
    target bigint;
    wm bigint;
    hi bigint;
    n bigint;
BEGIN
    IF bs IS NULL OR bs < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive, got %', bs
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Omit it to use tokenledger.rollup_batch_size.';
    END IF;

    -- Candidate watermark, then wait until every transaction that could have
    -- drawn an id at or below it has ended.
    target := coalesce(pg_catalog.pg_sequence_last_value('@extschema@.usage_event_id_seq'::regclass), 0);
    PERFORM @extschema@.usage_rollup_wait_for_writers();
    COMMIT;

    LOOP
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('tokenledger'), 1);
        SELECT s.watermark INTO wm FROM @extschema@.usage_rollup_state s;
        EXIT WHEN wm >= target;
        hi := least(wm + bs, target);
        n := @extschema@.usage_rollup_fold(wm, hi);
        UPDATE @extschema@.usage_rollup_state
        SET watermark = hi, last_rollup_at = pg_catalog.now(), events_folded = events_folded + n;
        COMMIT;
    END LOOP;
END
$fn$;
