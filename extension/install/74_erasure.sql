-- Erasure requests: usage_forget_user.

-- Replaces a user id everywhere in the ledger, the rollups, the per-user
-- summaries and the quota alerts with an anonymous subject, and removes the
-- user's quota assignment, block and open reservations (their audit trail
-- is rewritten to the subject). Totals are unchanged (rows are reassigned, not
-- deleted); rollup rows merge into the subject's rows. The default subject
-- is a fresh random id per request, so the forgotten user's history stays
-- one (unlinkable) user in reports. Definer: admins may not update the
-- ledger directly. Returns the rows it touched per table.
CREATE FUNCTION @extschema@.usage_forget_user(user_id text, anonymous_id text DEFAULT NULL)
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
COMMENT ON FUNCTION @extschema@.usage_forget_user(text, text) IS
'Erasure: reassigns every ledger, rollup, quota counter and quota alert row of user_id to an anonymous subject (default a fresh random id), keeping all totals; removes the user''s quota assignment, block and reservations and rewrites their audit rows; returns the rows changed per table and the subject they now belong to';
REVOKE ALL ON FUNCTION @extschema@.usage_forget_user(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_forget_user(text, text) TO tokenledger_admin;
