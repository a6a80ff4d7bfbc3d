-- Quota alerts: when a user's recorded usage crosses a threshold of a limit,
-- one row per (user, limit, threshold, window) and one pg_notify on channel
-- tokenledger_alerts. Edge-triggered: the unique key makes a second crossing
-- in the same window a no-op, however many sessions race to record it.

CREATE TABLE @extschema@.quota_alert_log (
    alert_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    user_id       text NOT NULL,
    plan          text NOT NULL,
    limit_name    text NOT NULL,
    threshold_pct smallint NOT NULL,
    window_start  timestamptz NOT NULL,
    used          bigint NOT NULL,
    limit_value   bigint NOT NULL,
    UNIQUE (user_id, limit_name, threshold_pct, window_start)
);
CREATE INDEX quota_alert_log_created_idx ON @extschema@.quota_alert_log (created_at);
COMMENT ON INDEX @extschema@.quota_alert_log_created_idx IS 'Alerts by time, for quota_alerts';
COMMENT ON TABLE @extschema@.quota_alert_log IS 'Quota alerts: a user''s usage crossed threshold_pct of a limit; at most one row per user, limit, threshold and window. Read with quota_alerts';
COMMENT ON COLUMN @extschema@.quota_alert_log.alert_id IS 'Alert id, also in the pg_notify payload';
COMMENT ON COLUMN @extschema@.quota_alert_log.created_at IS 'When the crossing was noticed';
COMMENT ON COLUMN @extschema@.quota_alert_log.user_id IS 'The user whose usage crossed the threshold';
COMMENT ON COLUMN @extschema@.quota_alert_log.plan IS 'The user''s plan at the time';
COMMENT ON COLUMN @extschema@.quota_alert_log.limit_name IS 'The limit crossed (requests_per_day, cost_per_month, ...)';
COMMENT ON COLUMN @extschema@.quota_alert_log.threshold_pct IS 'The threshold crossed, in percent of the limit';
COMMENT ON COLUMN @extschema@.quota_alert_log.window_start IS 'Start of the window: the calendar day or month, or for sliding limits the minute or hour (UTC) the crossing fell in';
COMMENT ON COLUMN @extschema@.quota_alert_log.used IS 'Usage when noticed (requests, tokens or nano-USD)';
COMMENT ON COLUMN @extschema@.quota_alert_log.limit_value IS 'The limit (requests, tokens or nano-USD)';

CREATE FUNCTION @extschema@.quota_fire_alerts(p_user text, m @extschema@.quota_measure_row[], p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql VOLATILE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
DECLARE
    x  @extschema@.quota_measure_row;
    t  smallint;
    ws timestamptz;
    a  @extschema@.quota_alert_log;
    n  integer := 0;
BEGIN
    FOREACH x IN ARRAY m LOOP
        CONTINUE WHEN x.limit_name IS NULL OR x.limit_value <= 0 OR x.thresholds IS NULL;
        ws := CASE WHEN x.sliding THEN pg_catalog.date_trunc(x.window_kind, p_now, 'UTC') ELSE x.window_start END;
        FOREACH t IN ARRAY x.thresholds LOOP
            CONTINUE WHEN x.used::numeric * 100 < t::numeric * x.limit_value;
            CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.quota_alert_log l
                                   WHERE l.user_id = p_user AND l.limit_name = x.limit_name
                                     AND l.threshold_pct = t AND l.window_start = ws);
            INSERT INTO @extschema@.quota_alert_log (user_id, plan, limit_name, threshold_pct, window_start, used, limit_value)
            VALUES (p_user, x.plan, x.limit_name, t, ws, x.used, x.limit_value)
            ON CONFLICT DO NOTHING
            RETURNING * INTO a;
            IF FOUND THEN
                n := n + 1;
                PERFORM pg_catalog.pg_notify('tokenledger_alerts', pg_catalog.json_build_object(
                    'alert_id', a.alert_id, 'user_id', a.user_id, 'plan', a.plan,
                    'limit', a.limit_name, 'threshold_pct', a.threshold_pct,
                    'used', @extschema@.quota_display(a.used, x.unit),
                    'limit_value', @extschema@.quota_display(a.limit_value, x.unit),
                    'unit', x.unit)::text);
            END IF;
        END LOOP;
    END LOOP;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_fire_alerts(text, @extschema@.quota_measure_row[], timestamptz) IS 'Internal: records and notifies (channel tokenledger_alerts) every threshold the measured usage has crossed and that has no alert yet in its window; returns how many fired';
REVOKE ALL ON FUNCTION @extschema@.quota_fire_alerts(text, @extschema@.quota_measure_row[], timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.quota_alerts(from_time timestamptz DEFAULT '-infinity', to_time timestamptz DEFAULT 'infinity')
RETURNS SETOF @extschema@.quota_alert_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT * FROM @extschema@.quota_alert_log a
     WHERE a.created_at >= from_time AND a.created_at < to_time
     ORDER BY a.created_at, a.alert_id
$fn$;
COMMENT ON FUNCTION @extschema@.quota_alerts(timestamptz, timestamptz) IS 'Quota alerts noticed in [from_time, to_time), oldest first. Admin only';
REVOKE ALL ON FUNCTION @extschema@.quota_alerts(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_alerts(timestamptz, timestamptz) TO tokenledger_admin;

REVOKE ALL ON @extschema@.quota_alert_log FROM PUBLIC;
GRANT SELECT ON @extschema@.quota_alert_log TO tokenledger_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.quota_alert_log', '');
COMMENT ON SEQUENCE @extschema@.quota_alert_log_alert_id_seq IS 'Keys for quota_alert_log';
