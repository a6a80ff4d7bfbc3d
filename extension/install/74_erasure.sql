-- Erasure requests: usage_forget_user.

-- Replaces a user id everywhere in the ledger, the rollups and the quota
-- alerts with an anonymous subject, and removes the user's quota
-- assignment, block and open reservations (their audit trail is rewritten
-- to the subject). Totals are unchanged (rows are reassigned, not
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
BEGIN
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

    UPDATE @extschema@.usage_log l SET user_id = new_id WHERE l.user_id = old_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    object := 'usage_log'; rows_changed := n; reassigned_to := new_id; RETURN NEXT;

    FOREACH t IN ARRAY ARRAY['usage_rollup_hourly', 'usage_rollup_daily'] LOOP
        EXECUTE format($q$
            WITH moved AS (DELETE FROM %1$I.%2$I r WHERE r.user_id = $1 RETURNING r.*)
            INSERT INTO %1$I.%2$I AS t
            SELECT m.bucket, m.requests, m.unpriced_requests, m.input_tokens, m.output_tokens, m.cache_read_tokens,
                   m.cache_write_tokens, m.cache_write_1h_tokens, m.reasoning_tokens, m.total_tokens,
                   m.input_cost_nano_usd, m.output_cost_nano_usd, m.cache_read_cost_nano_usd,
                   m.cache_write_cost_nano_usd, m.reasoning_cost_nano_usd, m.total_cost_nano_usd,
                   m.latency_sum_ms, m.latency_count, m.model_id, m.endpoint_id, m.provider_id, m.success,
                   $2, m.latency_hist
            FROM moved m
            ON CONFLICT (bucket, user_id, provider_id, model_id, endpoint_id, success) DO UPDATE SET
                requests = t.requests + excluded.requests,
                unpriced_requests = t.unpriced_requests + excluded.unpriced_requests,
                input_tokens = t.input_tokens + excluded.input_tokens,
                output_tokens = t.output_tokens + excluded.output_tokens,
                cache_read_tokens = t.cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = t.cache_write_tokens + excluded.cache_write_tokens,
                cache_write_1h_tokens = t.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
                reasoning_tokens = t.reasoning_tokens + excluded.reasoning_tokens,
                total_tokens = t.total_tokens + excluded.total_tokens,
                input_cost_nano_usd = t.input_cost_nano_usd + excluded.input_cost_nano_usd,
                output_cost_nano_usd = t.output_cost_nano_usd + excluded.output_cost_nano_usd,
                cache_read_cost_nano_usd = t.cache_read_cost_nano_usd + excluded.cache_read_cost_nano_usd,
                cache_write_cost_nano_usd = t.cache_write_cost_nano_usd + excluded.cache_write_cost_nano_usd,
                reasoning_cost_nano_usd = t.reasoning_cost_nano_usd + excluded.reasoning_cost_nano_usd,
                total_cost_nano_usd = t.total_cost_nano_usd + excluded.total_cost_nano_usd,
                latency_sum_ms = t.latency_sum_ms + excluded.latency_sum_ms,
                latency_count = t.latency_count + excluded.latency_count,
                latency_hist = %1$I.usage_hist_add(t.latency_hist, excluded.latency_hist)
        $q$, (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = '@extschema@'::pg_catalog.regnamespace), t) USING old_id, new_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        object := t; rows_changed := n; RETURN NEXT;
    END LOOP;

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
'Erasure: reassigns every ledger, rollup and quota alert row of user_id to an anonymous subject (default a fresh random id), keeping all totals; removes the user''s quota assignment, block and reservations and rewrites their audit rows; returns the rows changed per table and the subject they now belong to';
REVOKE ALL ON FUNCTION @extschema@.usage_forget_user(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_forget_user(text, text) TO tokenledger_admin;
