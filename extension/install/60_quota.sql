-- Quotas: plans, assignments, blocks, windows, checks and reservations.
--
-- Design: "used" is summed from per-user counters that usage_log_insert
-- keeps in the same transaction as each ledger row (UTC day, hour and minute
-- buckets, install/62_quota_counters.sql), plus the raw ledger rows of a
-- window's partial edges, so it always equals what the ledger says, needs
-- no reset job and costs a check a handful of index probes. Hard caps come
-- from a per-user row lock taken by quota_reserve: reservations of one user
-- queue behind each other, other users never wait. See README.md, "Quotas".

-- Plans (tiers). A NULL limit means "no limit of that kind".
CREATE TABLE @extschema@.quota_plans (
    plan                    text PRIMARY KEY CHECK (plan ~ '^[A-Za-z0-9_.-]{1,64}$'),
    requests_per_minute     bigint CHECK (requests_per_minute >= 0),
    requests_per_hour       bigint CHECK (requests_per_hour >= 0),
    requests_per_day        bigint CHECK (requests_per_day >= 0),
    tokens_per_minute       bigint CHECK (tokens_per_minute >= 0),
    tokens_per_day          bigint CHECK (tokens_per_day >= 0),
    tokens_per_month        bigint CHECK (tokens_per_month >= 0),
    cost_per_day_nano_usd   bigint CHECK (cost_per_day_nano_usd >= 0),
    cost_per_month_nano_usd bigint CHECK (cost_per_month_nano_usd >= 0),
    alert_thresholds        smallint[] NOT NULL DEFAULT '{50,80,100}'
                            CHECK (0 < ALL (alert_thresholds) AND 1000 >= ALL (alert_thresholds)),
    timezone                text,
    updated_at              timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.quota_plans IS 'Quota plans (tiers): the limits a user on the plan may use; NULL means unlimited. Change through quota_plan_set';
COMMENT ON COLUMN @extschema@.quota_plans.plan IS 'Plan name (free, beta, pro, ...)';
COMMENT ON COLUMN @extschema@.quota_plans.requests_per_minute IS 'Requests in any sliding 60 seconds';
COMMENT ON COLUMN @extschema@.quota_plans.requests_per_hour IS 'Requests in any sliding 60 minutes';
COMMENT ON COLUMN @extschema@.quota_plans.requests_per_day IS 'Requests per calendar day in the plan''s time zone';
COMMENT ON COLUMN @extschema@.quota_plans.tokens_per_minute IS 'Tokens (total_tokens) in any sliding 60 seconds';
COMMENT ON COLUMN @extschema@.quota_plans.tokens_per_day IS 'Tokens per calendar day in the plan''s time zone';
COMMENT ON COLUMN @extschema@.quota_plans.tokens_per_month IS 'Tokens per calendar month in the plan''s time zone';
COMMENT ON COLUMN @extschema@.quota_plans.cost_per_day_nano_usd IS 'Cost per calendar day in 1e-9 USD (the API takes USD)';
COMMENT ON COLUMN @extschema@.quota_plans.cost_per_month_nano_usd IS 'Cost per calendar month in 1e-9 USD (the API takes USD)';
COMMENT ON COLUMN @extschema@.quota_plans.alert_thresholds IS 'Percentages of each limit at which an alert fires, once per window';
COMMENT ON COLUMN @extschema@.quota_plans.timezone IS 'Time zone of the day and month windows; NULL follows tokenledger.timezone';
COMMENT ON COLUMN @extschema@.quota_plans.updated_at IS 'Last change through quota_plan_set';

-- The shipped example plans: the seeds' beta defaults, and no limits at all.
INSERT INTO @extschema@.quota_plans (plan, requests_per_minute, requests_per_hour, requests_per_day,
                                     tokens_per_day, cost_per_day_nano_usd)
VALUES ('beta', 10, 100, 100, 50000, 500000000),
       ('unlimited', NULL, NULL, NULL, NULL, NULL);

-- Assignments, overrides and blocks. A user without a row is on
-- tokenledger.default_plan; quota_reserve pins it on first sight.
CREATE TABLE @extschema@.quota_users (
    user_id      text PRIMARY KEY CHECK (user_id <> '' AND pg_catalog.octet_length(user_id) <= 256),
    plan         text NOT NULL REFERENCES @extschema@.quota_plans (plan) ON UPDATE CASCADE,
    overrides    jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(overrides) = 'object'),
    blocked      boolean NOT NULL DEFAULT false,
    block_reason text,
    blocked_at   timestamptz,
    assigned_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.quota_users IS 'Per-user plan assignment, limit overrides and block; users without a row follow tokenledger.default_plan';
COMMENT ON COLUMN @extschema@.quota_users.user_id IS 'The app''s user id, as in usage_log.user_id';
COMMENT ON COLUMN @extschema@.quota_users.plan IS 'The assigned plan';
COMMENT ON COLUMN @extschema@.quota_users.overrides IS 'Per-user limits replacing the plan''s, keyed by quota_plans column (cost in nano-USD); a JSON null removes that limit';
COMMENT ON COLUMN @extschema@.quota_users.blocked IS 'A blocked user is denied every request';
COMMENT ON COLUMN @extschema@.quota_users.block_reason IS 'Why the user is blocked, shown by quota_check';
COMMENT ON COLUMN @extschema@.quota_users.blocked_at IS 'When the block was set';
COMMENT ON COLUMN @extschema@.quota_users.assigned_at IS 'When the row was created (first sight or first assignment)';

-- Reservations: estimates held against every limit until settled by
-- usage_log_insert(reservation_id => ...), released, or expired.
CREATE TABLE @extschema@.quota_reservations (
    reservation_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           text NOT NULL,
    est_tokens        bigint NOT NULL CHECK (est_tokens >= 0),
    est_cost_nano_usd bigint NOT NULL CHECK (est_cost_nano_usd >= 0),
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at        timestamptz NOT NULL
);
CREATE INDEX quota_reservations_user_idx ON @extschema@.quota_reservations (user_id, expires_at);
CREATE INDEX quota_reservations_expiry_idx ON @extschema@.quota_reservations (expires_at);
COMMENT ON INDEX @extschema@.quota_reservations_user_idx IS 'A user''s live holds, read by every check and reservation';
COMMENT ON INDEX @extschema@.quota_reservations_expiry_idx IS 'Expired holds, for quota_sweep_reservations';
COMMENT ON TABLE @extschema@.quota_reservations IS 'Admitted requests whose usage is not recorded yet; each holds one request plus its token and cost estimate against every limit until it expires';
COMMENT ON COLUMN @extschema@.quota_reservations.reservation_id IS 'Pass to usage_log_insert(reservation_id => ...) or quota_release';
COMMENT ON COLUMN @extschema@.quota_reservations.user_id IS 'The user the request is for';
COMMENT ON COLUMN @extschema@.quota_reservations.est_tokens IS 'Estimated tokens held';
COMMENT ON COLUMN @extschema@.quota_reservations.est_cost_nano_usd IS 'Estimated cost held, in 1e-9 USD';
COMMENT ON COLUMN @extschema@.quota_reservations.created_at IS 'When the request was admitted';
COMMENT ON COLUMN @extschema@.quota_reservations.expires_at IS 'After this the hold stops counting; quota_sweep_reservations deletes it';

-- Audit of every change to plans and assignments (who, when, old, new).
CREATE TABLE @extschema@.quota_audit (
    audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    changed_by   name NOT NULL DEFAULT CURRENT_USER,
    session_user_name name NOT NULL DEFAULT SESSION_USER,
    object_type  text NOT NULL CHECK (object_type IN ('plan', 'user')),
    object_key   text NOT NULL,
    action       text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
    old_value    jsonb,
    new_value    jsonb
);
CREATE INDEX quota_audit_key_idx ON @extschema@.quota_audit (object_type, object_key, changed_at);
COMMENT ON INDEX @extschema@.quota_audit_key_idx IS 'History of one plan or user';
COMMENT ON TABLE @extschema@.quota_audit IS 'Append-only record of every change to quota_plans and quota_users (plans, assignments, overrides, blocks)';
COMMENT ON COLUMN @extschema@.quota_audit.changed_at IS 'When the change was made';
COMMENT ON COLUMN @extschema@.quota_audit.changed_by IS 'The role in effect (current_user) that made the change';
COMMENT ON COLUMN @extschema@.quota_audit.session_user_name IS 'The login role of the session that made the change';
COMMENT ON COLUMN @extschema@.quota_audit.object_type IS 'plan (quota_plans) or user (quota_users: assignment, overrides, block)';
COMMENT ON COLUMN @extschema@.quota_audit.object_key IS 'Plan name or user id';
COMMENT ON COLUMN @extschema@.quota_audit.action IS 'INSERT, UPDATE or DELETE';
COMMENT ON COLUMN @extschema@.quota_audit.old_value IS 'The row before the change (NULL for INSERT)';
COMMENT ON COLUMN @extschema@.quota_audit.new_value IS 'The row after the change (NULL for DELETE)';

CREATE FUNCTION @extschema@.quota_audit_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END;
    n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END;
BEGIN
    IF TG_OP = 'UPDATE' AND o - 'updated_at' = n - 'updated_at' THEN
        RETURN NULL;            -- an idempotent repeat changes nothing
    END IF;
    INSERT INTO @extschema@.quota_audit (object_type, object_key, action, old_value, new_value)
    VALUES (TG_ARGV[0], coalesce(n, o) ->> TG_ARGV[1], TG_OP, o, n);
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_audit_trigger() IS 'Internal: writes one quota_audit row per changed quota_plans or quota_users row';
REVOKE ALL ON FUNCTION @extschema@.quota_audit_trigger() FROM PUBLIC;

CREATE TRIGGER quota_plans_audit AFTER INSERT OR UPDATE OR DELETE ON @extschema@.quota_plans
    FOR EACH ROW EXECUTE FUNCTION @extschema@.quota_audit_trigger('plan', 'plan');
CREATE TRIGGER quota_users_audit AFTER INSERT OR UPDATE OR DELETE ON @extschema@.quota_users
    FOR EACH ROW EXECUTE FUNCTION @extschema@.quota_audit_trigger('user', 'user_id');
COMMENT ON TRIGGER quota_plans_audit ON @extschema@.quota_plans IS 'Records every plan change in quota_audit';
COMMENT ON TRIGGER quota_users_audit ON @extschema@.quota_users IS 'Records every assignment, override and block change in quota_audit';

-- The limits a plan may carry: name, what it counts, its window.
CREATE FUNCTION @extschema@.quota_limit_kinds(
    OUT limit_name text, OUT plan_column text, OUT unit text, OUT window_kind text, OUT sliding boolean)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
    VALUES ('requests_per_minute', 'requests_per_minute',     'requests', 'minute', true),
           ('requests_per_hour',   'requests_per_hour',       'requests', 'hour',   true),
           ('requests_per_day',    'requests_per_day',        'requests', 'day',    false),
           ('tokens_per_minute',   'tokens_per_minute',       'tokens',   'minute', true),
           ('tokens_per_day',      'tokens_per_day',          'tokens',   'day',    false),
           ('tokens_per_month',    'tokens_per_month',        'tokens',   'month',  false),
           ('cost_per_day',        'cost_per_day_nano_usd',   'usd',      'day',    false),
           ('cost_per_month',      'cost_per_month_nano_usd', 'usd',      'month',  false)
$fn$;
COMMENT ON FUNCTION @extschema@.quota_limit_kinds() IS 'The kinds of limit a plan may set: limit name, quota_plans column, unit (requests, tokens, usd) and window (sliding minute/hour, calendar day/month)';
REVOKE ALL ON FUNCTION @extschema@.quota_limit_kinds() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_limit_kinds() TO tokenledger_writer, tokenledger_admin;

CREATE FUNCTION @extschema@.quota_default_plan() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
    SELECT coalesce(nullif(pg_catalog.current_setting('tokenledger.default_plan', true), ''), 'beta')
$fn$;
COMMENT ON FUNCTION @extschema@.quota_default_plan() IS 'The plan of users never assigned one (tokenledger.default_plan, default beta)';
REVOKE ALL ON FUNCTION @extschema@.quota_default_plan() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_default_plan() TO tokenledger_writer, tokenledger_admin;

-- One row per limit of a user, measured at p_now.
CREATE TYPE @extschema@.quota_measure_row AS (
    plan          text,
    blocked       boolean,
    block_reason  text,
    thresholds    smallint[],
    limit_name    text,
    unit          text,
    window_kind   text,
    sliding       boolean,
    limit_value   bigint,
    used          bigint,
    reserved      bigint,
    window_start  timestamptz,
    resets_at     timestamptz
);
COMMENT ON TYPE @extschema@.quota_measure_row IS 'Internal: one limit of one user as measured by quota_measure (units: requests, tokens or nano-USD)';

-- Sums the quota counters (install/62_quota_counters.sql) and, at a
-- window's partial start, the raw ledger: see quota_measure.c. In C because
-- it is the whole cost of every check and reservation.
CREATE FUNCTION @extschema@.quota_measure(p_user text, p_now timestamptz)
RETURNS SETOF @extschema@.quota_measure_row
AS 'MODULE_PATHNAME', 'quota_measure'
LANGUAGE C STABLE;
-- No SET clause: only called from functions that pin search_path (its
-- queries are schema-qualified), and a SET would cost a GUC save/restore.
COMMENT ON FUNCTION @extschema@.quota_measure(text, timestamptz) IS 'Internal: every limit of a user with its usage (quota counters plus the raw ledger at window edges, equal to the ledger), active reservations, window start and reset time';
REVOKE ALL ON FUNCTION @extschema@.quota_measure(text, timestamptz) FROM PUBLIC;

-- When a sliding window drops enough usage to admit a request needing
-- p_need to leave: the event at which the running sum reaches p_need ages out.
CREATE FUNCTION @extschema@.quota_sliding_relief(p_user text, p_unit text, p_since timestamptz,
                                                 p_len interval, p_need bigint)
RETURNS timestamptz
LANGUAGE sql STABLE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
    SELECT s.occurred_at + p_len
      FROM (SELECT l.occurred_at,
                   sum(CASE WHEN p_unit = 'requests' THEN 1 ELSE l.total_tokens END)
                       OVER (ORDER BY l.occurred_at, l.event_id) AS running
              FROM @extschema@.usage_log l
             WHERE l.user_id = p_user AND l.occurred_at > p_since) s
     WHERE s.running >= p_need
     ORDER BY s.occurred_at
     LIMIT 1
$fn$;
COMMENT ON FUNCTION @extschema@.quota_sliding_relief(text, text, timestamptz, interval, bigint) IS 'Internal: the time a sliding window will have shed p_need requests or tokens of the user''s ledger usage';
REVOKE ALL ON FUNCTION @extschema@.quota_sliding_relief(text, text, timestamptz, interval, bigint) FROM PUBLIC;

-- Converts a USD amount from the API into nano-USD, exactly.
CREATE FUNCTION @extschema@.quota_usd_to_nano(usd numeric, what text)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
BEGIN
    IF usd IS NULL THEN
        RETURN NULL;
    END IF;
    IF usd < 0 THEN
        RAISE EXCEPTION '% must not be negative', what
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give amounts in USD as a non-negative numeric, such as 0.50.';
    END IF;
    IF usd * 1000000000 <> pg_catalog.trunc(usd * 1000000000) OR usd > 9000000000 THEN
        RAISE EXCEPTION '% is not representable in nano-USD', what
            USING ERRCODE = 'numeric_value_out_of_range',
                  HINT = 'Use at most 9 decimal places and less than 9e9 USD.';
    END IF;
    RETURN (usd * 1000000000)::bigint;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_usd_to_nano(numeric, text) IS 'Internal: an exact USD amount as nano-USD; an error naming the argument when negative or finer than 1e-9';
REVOKE ALL ON FUNCTION @extschema@.quota_usd_to_nano(numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_usd_to_nano(numeric, text) TO tokenledger_admin;

-- Converts a measured amount into the API's unit: USD for cost, else as is.
CREATE FUNCTION @extschema@.quota_display(v bigint, unit text)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
    SELECT CASE unit WHEN 'usd' THEN pg_catalog.round(v::numeric / 1000000000, 9) ELSE v::numeric END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_display(bigint, text) IS 'Internal: a measured amount in the API''s unit (nano-USD shown as USD, requests and tokens as they are)';
REVOKE ALL ON FUNCTION @extschema@.quota_display(bigint, text) FROM PUBLIC;

-- The admission decision over measured limits.
CREATE TYPE @extschema@.quota_decision AS (
    allowed      boolean,
    limit_name   text,
    unit         text,
    used         numeric,
    reserved     numeric,
    limit_value  numeric,
    remaining    numeric,
    resets_at    timestamptz,
    retry_after  integer,
    blocked      boolean,
    block_reason text,
    plan         text
);
COMMENT ON TYPE @extschema@.quota_decision IS 'The answer of quota_check and quota_reserve: whether the request is allowed, the binding limit with used, reserved, limit and remaining (USD for cost limits), when it resets and how many seconds to wait';

CREATE FUNCTION @extschema@.quota_check_args(user_id text, est_tokens bigint, est_cost numeric)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
BEGIN
    IF user_id IS NULL OR user_id = '' THEN
        RAISE EXCEPTION 'user_id must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the app''s user id as text, the same one given to usage_log_insert.';
    END IF;
    IF est_tokens IS NULL OR est_tokens < 0 THEN
        RAISE EXCEPTION 'est_tokens must be zero or more'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the expected total tokens of the request (input plus maximum output), or 0.';
    END IF;
    RETURN @extschema@.quota_usd_to_nano(coalesce(est_cost, 0), 'est_cost');
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_check_args(text, bigint, numeric) IS 'Internal: validates the arguments of quota_check and quota_reserve and returns est_cost in nano-USD';
REVOKE ALL ON FUNCTION @extschema@.quota_check_args(text, bigint, numeric) FROM PUBLIC;

-- The decision over quota_measure, in C (quota_decide.c): admitted unless
-- some limit lacks room for one more request, est_tokens and est_cost; the
-- reported limit is the binding one that relents last, else the one closest
-- to binding.
CREATE FUNCTION @extschema@.quota_check(user_id text, est_tokens bigint DEFAULT 0, est_cost numeric DEFAULT 0)
RETURNS @extschema@.quota_decision
AS 'MODULE_PATHNAME', 'quota_check'
LANGUAGE C STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.quota_check(text, bigint, numeric) IS 'Read-only: may this user make a request of est_tokens tokens costing est_cost USD now? Returns allowed, the binding limit (or blocked and its reason), used, reserved, limit, remaining, resets_at and retry_after in seconds. Does not hold anything: use quota_reserve for a hard cap';
REVOKE ALL ON FUNCTION @extschema@.quota_check(text, bigint, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_check(text, bigint, numeric) TO tokenledger_writer, tokenledger_admin;

CREATE FUNCTION @extschema@.quota_status(user_id text)
RETURNS TABLE (plan text, blocked boolean, block_reason text, limit_name text, unit text,
               window_kind text, used numeric, reserved numeric, limit_value numeric,
               remaining numeric, window_start timestamptz, resets_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM @extschema@.quota_check_args(user_id, 0, 0);
    RETURN QUERY
    SELECT m.plan, m.blocked, m.block_reason, m.limit_name, m.unit, m.window_kind,
           @extschema@.quota_display(m.used, m.unit), @extschema@.quota_display(m.reserved, m.unit),
           @extschema@.quota_display(m.limit_value, m.unit),
           @extschema@.quota_display(greatest(m.limit_value - m.used - m.reserved, 0), m.unit),
           m.window_start, m.resets_at
      FROM @extschema@.quota_measure(quota_status.user_id, pg_catalog.now()) m;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_status(text) IS 'Every limit of a user with used (from the ledger), reserved, limit, remaining, window start and resets_at; cost limits in USD. For dashboards and the body of a 429';
REVOKE ALL ON FUNCTION @extschema@.quota_status(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_status(text) TO tokenledger_writer, tokenledger_admin;

-- Reservations: the hard cap. A per-user row lock serialises one user's
-- admissions (and only that user's); the measurement after the lock sees
-- every committed ledger row and reservation, so N concurrent callers can
-- never all pass a check-then-increment. In C (quota_decide.c): lock the
-- user's quota_users row (pinning the default plan on first sight with
-- INSERT ... ON CONFLICT DO NOTHING, then the lock again), quota_measure
-- in a fresh snapshot, the same decision as quota_check, hold the estimate
-- if admitted, then quota_fire_alerts when a threshold is reached.
CREATE FUNCTION @extschema@.quota_reserve(
    user_id    text,
    est_tokens bigint   DEFAULT 0,
    est_cost   numeric  DEFAULT 0,
    ttl        interval DEFAULT '5 minutes',
    OUT reservation_id bigint, OUT expires_at timestamptz,
    OUT allowed boolean, OUT limit_name text, OUT unit text, OUT used numeric,
    OUT reserved numeric, OUT limit_value numeric, OUT remaining numeric,
    OUT resets_at timestamptz, OUT retry_after integer, OUT blocked boolean,
    OUT block_reason text, OUT plan text)
AS 'MODULE_PATHNAME', 'quota_reserve'
LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.quota_reserve(text, bigint, numeric, interval) IS 'Atomically admits a request and holds its estimate (one request, est_tokens, est_cost USD) against every limit until usage_log_insert(reservation_id => ...) settles it, quota_release cancels it or ttl passes; or denies it with the same detail as quota_check (reservation_id NULL). A hot user serialises only their own reservations';
REVOKE ALL ON FUNCTION @extschema@.quota_reserve(text, bigint, numeric, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_reserve(text, bigint, numeric, interval) TO tokenledger_writer, tokenledger_admin;

CREATE FUNCTION @extschema@.quota_release(reservation_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF reservation_id IS NULL THEN
        RAISE EXCEPTION 'reservation_id must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the reservation_id that quota_reserve returned.';
    END IF;
    DELETE FROM @extschema@.quota_reservations q WHERE q.reservation_id = quota_release.reservation_id;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_release(bigint) IS 'Cancels a reservation (the request was not made); true if it was still held, false if already settled, released or swept';
REVOKE ALL ON FUNCTION @extschema@.quota_release(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_release(bigint) TO tokenledger_writer, tokenledger_admin;

CREATE FUNCTION @extschema@.quota_sweep_reservations()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    DELETE FROM @extschema@.quota_reservations q WHERE q.expires_at <= pg_catalog.now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_sweep_reservations() IS 'Deletes expired reservations (they already stopped counting when they expired) and returns how many; usage_maintenance calls it';
REVOKE ALL ON FUNCTION @extschema@.quota_sweep_reservations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_sweep_reservations() TO tokenledger_admin;

-- Reprice hook. usage_reprice fills pg_temp.tokenledger_cost_deltas (new
-- minus old cost per event) and calls this in the same transaction: the
-- deltas go into the counters the events are in, so quota cost stays what
-- the ledger says. Repricing can push a user over a threshold, so the
-- affected users' alerts are re-evaluated.
CREATE FUNCTION @extschema@.quota_apply_cost_deltas()
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
COMMENT ON FUNCTION @extschema@.quota_apply_cost_deltas() IS 'Reprice hook: adds the per-event cost changes to the quota counters holding those events, then re-checks alerts of users whose cost rose';
-- Only usage_reprice (same owner) calls it.
REVOKE ALL ON FUNCTION @extschema@.quota_apply_cost_deltas() FROM PUBLIC;

-- Management (admin only). These run with the caller's rights so the audit
-- trigger records the real role; admins get the table privileges below.
CREATE FUNCTION @extschema@.quota_plan_set(
    plan                text,
    requests_per_minute bigint    DEFAULT NULL,
    requests_per_hour   bigint    DEFAULT NULL,
    requests_per_day    bigint    DEFAULT NULL,
    tokens_per_minute   bigint    DEFAULT NULL,
    tokens_per_day      bigint    DEFAULT NULL,
    tokens_per_month    bigint    DEFAULT NULL,
    cost_per_day        numeric   DEFAULT NULL,
    cost_per_month      numeric   DEFAULT NULL,
    alert_thresholds    integer[] DEFAULT '{50,80,100}',
    timezone            text      DEFAULT NULL)
RETURNS @extschema@.quota_plans
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r  @extschema@.quota_plans;
    v  bigint;
    i  int := 0;
    th smallint[];
BEGIN
    IF plan IS NULL OR plan !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid plan name %', coalesce(pg_catalog.quote_literal(plan), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use 1 to 64 letters, digits, dots, dashes or underscores, such as ''pro''.';
    END IF;
    FOREACH v IN ARRAY ARRAY[requests_per_minute, requests_per_hour, requests_per_day,
                             tokens_per_minute, tokens_per_day, tokens_per_month] LOOP
        i := i + 1;
        IF v < 0 THEN
            RAISE EXCEPTION '% must not be negative',
                (ARRAY['requests_per_minute', 'requests_per_hour', 'requests_per_day',
                       'tokens_per_minute', 'tokens_per_day', 'tokens_per_month'])[i]
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass a limit of zero or more, or NULL for no limit.';
        END IF;
    END LOOP;
    IF alert_thresholds IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.unnest(alert_thresholds) t
                                            WHERE t IS NULL OR t < 1 OR t > 1000) THEN
        RAISE EXCEPTION 'alert_thresholds must be percentages between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass an array such as ''{50,80,100}'', or ''{}'' for no alerts.';
    END IF;
    th := ARRAY(SELECT DISTINCT t::smallint FROM pg_catalog.unnest(alert_thresholds) t ORDER BY 1);
    IF timezone IS NOT NULL THEN
        BEGIN
            PERFORM pg_catalog.now() AT TIME ZONE timezone;
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE EXCEPTION 'time zone "%" is not recognized', timezone
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use a name from pg_timezone_names, such as ''Europe/Berlin'', or NULL for tokenledger.timezone.';
        END;
    END IF;
    INSERT INTO @extschema@.quota_plans AS q (plan, requests_per_minute, requests_per_hour, requests_per_day,
        tokens_per_minute, tokens_per_day, tokens_per_month, cost_per_day_nano_usd, cost_per_month_nano_usd,
        alert_thresholds, timezone)
    VALUES (quota_plan_set.plan, requests_per_minute, requests_per_hour, requests_per_day,
        tokens_per_minute, tokens_per_day, tokens_per_month,
        @extschema@.quota_usd_to_nano(cost_per_day, 'cost_per_day'),
        @extschema@.quota_usd_to_nano(cost_per_month, 'cost_per_month'), th, timezone)
    ON CONFLICT ON CONSTRAINT quota_plans_pkey DO UPDATE SET
        requests_per_minute = EXCLUDED.requests_per_minute, requests_per_hour = EXCLUDED.requests_per_hour,
        requests_per_day = EXCLUDED.requests_per_day, tokens_per_minute = EXCLUDED.tokens_per_minute,
        tokens_per_day = EXCLUDED.tokens_per_day, tokens_per_month = EXCLUDED.tokens_per_month,
        cost_per_day_nano_usd = EXCLUDED.cost_per_day_nano_usd,
        cost_per_month_nano_usd = EXCLUDED.cost_per_month_nano_usd,
        alert_thresholds = EXCLUDED.alert_thresholds, timezone = EXCLUDED.timezone,
        updated_at = pg_catalog.now()
    RETURNING q.* INTO r;
    RETURN r;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_plan_set(text, bigint, bigint, bigint, bigint, bigint, bigint, numeric, numeric, integer[], text) IS 'Creates or replaces a plan (idempotent): every limit not given is unlimited; cost limits in USD; alert thresholds in percent; timezone of the day and month windows (NULL: tokenledger.timezone). Admin only; audited';
REVOKE ALL ON FUNCTION @extschema@.quota_plan_set(text, bigint, bigint, bigint, bigint, bigint, bigint, numeric, numeric, integer[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_plan_set(text, bigint, bigint, bigint, bigint, bigint, bigint, numeric, numeric, integer[], text) TO tokenledger_admin;

CREATE FUNCTION @extschema@.quota_require_user(user_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
-- No SET clause: only called from functions that pin search_path, and
-- a SET would cost a GUC save/restore (and block inlining) on every check.
AS $fn$
BEGIN
    IF user_id IS NULL OR user_id = '' THEN
        RAISE EXCEPTION 'user_id must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the app''s user id as text, the same one given to usage_log_insert.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_require_user(text) IS 'Internal: rejects a NULL or empty user id';
REVOKE ALL ON FUNCTION @extschema@.quota_require_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_require_user(text) TO tokenledger_admin;

CREATE FUNCTION @extschema@.quota_assign(user_id text, plan text, overrides jsonb DEFAULT '{}')
RETURNS @extschema@.quota_users
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    k text;
    val jsonb;
    col text;
    unit_ text;
    stored jsonb := '{}';
    r @extschema@.quota_users;
BEGIN
    PERFORM @extschema@.quota_require_user(user_id);
    IF plan IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.quota_plans qp WHERE qp.plan = quota_assign.plan) THEN
        RAISE EXCEPTION 'quota plan "%" does not exist', plan
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with quota_plan_set, or pick one from quota_plans.';
    END IF;
    IF overrides IS NULL OR pg_catalog.jsonb_typeof(overrides) <> 'object' THEN
        RAISE EXCEPTION 'overrides must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass limits by name, such as ''{"tokens_per_day": 100000, "cost_per_day": 2.50}'', or ''{}''.';
    END IF;
    FOR k, val IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(overrides) e LOOP
        SELECT lk.plan_column, lk.unit INTO col, unit_ FROM @extschema@.quota_limit_kinds() lk WHERE lk.limit_name = k;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown limit "%" in overrides', k
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use limit names from quota_limit_kinds(), such as tokens_per_day or cost_per_month.';
        END IF;
        IF pg_catalog.jsonb_typeof(val) = 'null' THEN
            stored := stored || pg_catalog.jsonb_build_object(col, NULL);
        ELSIF pg_catalog.jsonb_typeof(val) <> 'number' OR (val #>> '{}')::numeric < 0
              OR (unit_ <> 'usd' AND (val #>> '{}')::numeric <> pg_catalog.trunc((val #>> '{}')::numeric)) THEN
            RAISE EXCEPTION 'override "%" must be a non-negative number or null', k
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Request and token limits are whole numbers, cost limits USD amounts; null removes the limit.';
        ELSIF unit_ = 'usd' THEN
            stored := stored || pg_catalog.jsonb_build_object(col,
                @extschema@.quota_usd_to_nano((val #>> '{}')::numeric, k));
        ELSE
            stored := stored || pg_catalog.jsonb_build_object(col, (val #>> '{}')::numeric::bigint);
        END IF;
    END LOOP;
    INSERT INTO @extschema@.quota_users AS q (user_id, plan, overrides)
    VALUES (quota_assign.user_id, quota_assign.plan, stored)
    ON CONFLICT ON CONSTRAINT quota_users_pkey DO UPDATE SET plan = EXCLUDED.plan, overrides = EXCLUDED.overrides
    RETURNING q.* INTO r;
    RETURN r;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_assign(text, text, jsonb) IS 'Puts a user on a plan with per-user overrides of any limit (by limit name; cost in USD; null removes the limit); replaces earlier overrides, keeps a block. Admin only; audited';
REVOKE ALL ON FUNCTION @extschema@.quota_assign(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_assign(text, text, jsonb) TO tokenledger_admin;

CREATE FUNCTION @extschema@.quota_block(user_id text, reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    dflt text := @extschema@.quota_default_plan();
BEGIN
    PERFORM @extschema@.quota_require_user(user_id);
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'reason must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Say why the user is blocked; quota_check shows it to the app.';
    END IF;
    UPDATE @extschema@.quota_users q SET blocked = true, block_reason = reason, blocked_at = pg_catalog.now()
     WHERE q.user_id = quota_block.user_id;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT 1 FROM @extschema@.quota_plans qp WHERE qp.plan = dflt) THEN
            RAISE EXCEPTION 'quota plan "%" does not exist', dflt
                USING ERRCODE = 'undefined_object',
                      HINT = 'Assign the user a plan with quota_assign first, or set tokenledger.default_plan to an existing plan.';
        END IF;
        INSERT INTO @extschema@.quota_users AS q (user_id, plan, blocked, block_reason, blocked_at)
        VALUES (quota_block.user_id, dflt, true, reason, pg_catalog.now())
        ON CONFLICT ON CONSTRAINT quota_users_pkey DO UPDATE
            SET blocked = true, block_reason = EXCLUDED.block_reason, blocked_at = EXCLUDED.blocked_at;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_block(text, text) IS 'Blocks a user: every quota_check and quota_reserve is denied with the reason until quota_unblock. Admin only; audited';
REVOKE ALL ON FUNCTION @extschema@.quota_block(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_block(text, text) TO tokenledger_admin;

CREATE FUNCTION @extschema@.quota_unblock(user_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM @extschema@.quota_require_user(user_id);
    UPDATE @extschema@.quota_users q SET blocked = false, block_reason = NULL, blocked_at = NULL
     WHERE q.user_id = quota_unblock.user_id AND q.blocked;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.quota_unblock(text) IS 'Lifts a block; true if the user was blocked. Admin only; audited';
REVOKE ALL ON FUNCTION @extschema@.quota_unblock(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.quota_unblock(text) TO tokenledger_admin;

-- Privileges: apps check, reserve and release through the definer functions
-- above; admins manage plans and users (audited by trigger).
REVOKE ALL ON @extschema@.quota_plans, @extschema@.quota_users, @extschema@.quota_reservations,
    @extschema@.quota_audit FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.quota_plans, @extschema@.quota_users TO tokenledger_admin;
GRANT SELECT ON @extschema@.quota_reservations TO tokenledger_admin;
GRANT SELECT, INSERT ON @extschema@.quota_audit TO tokenledger_admin;

-- The shipped example plans are created by CREATE EXTENSION itself.
COMMENT ON SEQUENCE @extschema@.quota_reservations_reservation_id_seq IS 'Reservation ids returned by quota_reserve';
COMMENT ON SEQUENCE @extschema@.quota_audit_audit_id_seq IS 'Keys for quota_audit';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.quota_plans', $$WHERE plan NOT IN ('beta', 'unlimited')$$);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.quota_users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.quota_audit', '');
