-- Reports: the rollups plus the raw tail above the watermark, so every
-- answer includes events logged a second ago and agrees with the ledger.
-- Report functions run with jit off: their queries take milliseconds, and
-- generic estimates over the partitioned ledger would otherwise make the
-- planner compile them, which costs more than they run.
--
-- A period [from, to) is answered from three sources that never overlap:
--   whole days (in the daily rollup's zone, when the report zone is the same)
--     from usage_rollup_daily,
--   the remaining whole UTC hours from usage_rollup_hourly,
--   the partial hours at either edge from the raw ledger,
-- each restricted to events at or below the watermark, plus every raw event
-- above the watermark that lies in [from, to).

-- The report time zone (tokenledger.timezone), validated.
CREATE FUNCTION @extschema@.usage_report_timezone()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tz text := coalesce(nullif(current_setting('tokenledger.timezone', true), ''), 'UTC');
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN tz;
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'tokenledger.timezone is not a time zone: "%"', tz
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Set it to a zone name such as ''UTC'' or ''Europe/Berlin''.';
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_report_timezone() IS
'Internal: the zone reports count calendar days in (tokenledger.timezone, default UTC)';
REVOKE ALL ON FUNCTION @extschema@.usage_report_timezone() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_report_timezone() TO tokenledger_reader, tokenledger_admin;

-- USD from a nano-USD sum, exact.
CREATE FUNCTION @extschema@.usage_nano_to_usd(nano numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN round(nano / 1000000000, 9);
COMMENT ON FUNCTION @extschema@.usage_nano_to_usd(numeric) IS
'Converts 1e-9 USD units to USD as exact numeric';
REVOKE ALL ON FUNCTION @extschema@.usage_nano_to_usd(numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_nano_to_usd(numeric) TO tokenledger_reader, tokenledger_admin;

-- Whether the raw tail (the event ids above the watermark; ids of rolled
-- back inserts count too) holds fewer than `history` events; never NULL.
-- Then reports read it by event id instead of through the time or user
-- index, which visits every event of the period (or of the user in it) only
-- to keep the few above the watermark. Reports compare it with the
-- rolled-up history (all events folded so far, or one user's), so a tail
-- that outgrows that count (the rollup never ran, or fell far behind) keeps
-- the time index, which skips the partitions outside the period. False for
-- a caller who may not read the event id sequence: readers never learn the
-- tail's size.
CREATE FUNCTION @extschema@.usage_tail_is_short(history bigint)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT CASE WHEN has_sequence_privilege('@extschema@.usage_event_id_seq', 'SELECT')
            THEN coalesce(coalesce(pg_sequence_last_value('@extschema@.usage_event_id_seq'), 0)
                          - (SELECT s.watermark FROM @extschema@.usage_rollup_state s) < history, false)
            ELSE false END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_tail_is_short(bigint) IS
'Internal: whether fewer than history events lie above the rollup watermark (false for callers who may not read the event id sequence); reports then read the raw tail by event id';
REVOKE ALL ON FUNCTION @extschema@.usage_tail_is_short(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_tail_is_short(bigint) TO tokenledger_reader, tokenledger_admin;

-- The raw tail in [p_from, p_to): the ledger rows above the watermark that
-- lie in the period, read by event id while the tail is shorter than
-- everything rolled up (IS TRUE keeps the time index out), else through the
-- time index (see usage_tail_is_short). PL/pgSQL, so each query's plan is
-- kept for the session; the per-user reports read their tail here.
-- usage_report_facts has its own, which can also use one user's index.
-- Without a worker limit the session's generic plan was parallel: starting
-- workers took ten times longer than reading a tail of 2,000 rows.
CREATE FUNCTION @extschema@.usage_tail_events(p_from timestamptz, p_to timestamptz)
RETURNS SETOF @extschema@.usage_log
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET max_parallel_workers_per_gather = 0
AS $fn$
BEGIN
    IF @extschema@.usage_tail_is_short((SELECT s.events_folded FROM @extschema@.usage_rollup_state s)) THEN
        RETURN QUERY
        SELECT l.* FROM @extschema@.usage_log l
        WHERE l.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
          AND (l.occurred_at >= p_from AND l.occurred_at < p_to) IS TRUE;
    ELSE
        RETURN QUERY
        SELECT l.* FROM @extschema@.usage_log l
        WHERE l.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
          AND l.occurred_at >= p_from AND l.occurred_at < p_to;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_tail_events(timestamptz, timestamptz) IS
'Internal: the ledger rows above the rollup watermark in [from, to), read by event id or through the time index as usage_tail_is_short decides';
REVOKE ALL ON FUNCTION @extschema@.usage_tail_events(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_tail_events(timestamptz, timestamptz) TO tokenledger_admin;

-- How a period splits into sources (see above).
CREATE FUNCTION @extschema@.usage_report_segments(p_from timestamptz, p_to timestamptz, use_daily boolean DEFAULT true,
    OUT f timestamptz, OUT t timestamptz, OUT hs timestamptz, OUT he timestamptz,
    OUT ds timestamptz, OUT de timestamptz, OUT wm bigint, OUT hs_sub boolean, OUT he_sub boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    dtz text;
BEGIN
    f := coalesce(p_from, '-infinity');
    t := coalesce(p_to, 'infinity');
    IF f >= t THEN
        RAISE EXCEPTION 'the period is empty: from (%) must be before to (%)', f, t
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Periods are half-open ranges [from, to); pass NULL for an open end.';
    END IF;
    SELECT s.watermark, s.day_timezone INTO wm, dtz FROM @extschema@.usage_rollup_state s;
    hs := f;
    IF isfinite(f) THEN
        hs := date_trunc('hour', f, 'UTC');
        IF hs < f THEN hs := hs + interval '1 hour'; END IF;
    END IF;
    he := CASE WHEN isfinite(t) THEN date_trunc('hour', t, 'UTC') ELSE t END;
    IF hs >= he THEN
        hs := t; he := t;
    END IF;
    -- A partial edge hour that covers most of its hour, or that ends about
    -- now, is read as the hourly row minus the raw rows outside the period:
    -- for a period ending now that is almost nothing, however busy the
    -- current hour is.
    hs_sub := hs < he AND isfinite(f) AND hs - f > interval '30 minutes';
    -- (A period ending on an hour boundary has no partial end hour.)
    he_sub := hs < he AND isfinite(t) AND t > he
              AND (t - he > interval '30 minutes' OR t >= now() - interval '5 minutes');
    ds := hs; de := hs;
    IF use_daily AND dtz = @extschema@.usage_report_timezone() AND hs < he THEN
        ds := hs;
        IF isfinite(hs) THEN
            ds := date_trunc('day', hs, dtz);
            IF ds < hs THEN ds := ((ds AT TIME ZONE dtz) + interval '1 day') AT TIME ZONE dtz; END IF;
        END IF;
        de := CASE WHEN isfinite(he) THEN date_trunc('day', he, dtz) ELSE he END;
        IF NOT (ds < de)
           OR (isfinite(ds) AND date_trunc('hour', ds, 'UTC') <> ds)
           OR (isfinite(de) AND date_trunc('hour', de, 'UTC') <> de) THEN
            ds := hs; de := hs;
        END IF;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_report_segments(timestamptz, timestamptz, boolean) IS
'Internal: splits [from, to) into whole days (ds..de, daily rollup), whole hours (hs..he, hourly rollup) and raw edges (read as hour minus complement when hs_sub/he_sub), with the watermark';
REVOKE ALL ON FUNCTION @extschema@.usage_report_segments(timestamptz, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_report_segments(timestamptz, timestamptz, boolean) TO tokenledger_reader, tokenledger_admin;

-- Every fact in [from, to) at hour granularity or coarser, from the three
-- sources plus the tail. Without a user it reads the platform summaries
-- (user_id is NULL in every row); for one user, that user's rows of the full
-- rollups (and that user's raw rows: see tail_pick for the tail). Each
-- source is written once over the CTEs below; the arm not taken is cut by a
-- one-time filter, even in a generic plan. A plain SQL function without SET
-- so the planner can inline it into each report (every name in it is
-- qualified). Planning the inlined query takes several times longer than
-- running it, so the reports that read it for one call's arguments keep a
-- generic plan (plan_cache_mode) and plan once per session.
CREATE FUNCTION @extschema@.usage_report_facts(p_from timestamptz, p_to timestamptz,
    p_user_id text DEFAULT NULL, use_daily boolean DEFAULT true)
RETURNS TABLE (granule timestamptz, user_id text, provider_id smallint, model_id integer, endpoint_id integer,
    success boolean, requests bigint, unpriced_requests bigint,
    input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint,
    cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint,
    input_cost_nano_usd bigint, output_cost_nano_usd bigint, cache_read_cost_nano_usd bigint,
    cache_write_cost_nano_usd bigint, reasoning_cost_nano_usd bigint, total_cost_nano_usd bigint,
    latency_sum_ms bigint, latency_count bigint, latency_hist bigint[])
LANGUAGE sql STABLE
AS $fn$
WITH s AS MATERIALIZED (SELECT * FROM @extschema@.usage_report_segments(p_from, p_to, use_daily)),
-- Whether the tail is read by event id (every event above the watermark,
-- then those in the period and of the user) instead of through the time or
-- user index: when it is shorter than the rolled-up history, the platform's
-- or the user's (see usage_tail_is_short).
tail_pick AS MATERIALIZED (
    SELECT @extschema@.usage_tail_is_short(
               CASE WHEN p_user_id IS NULL THEN (SELECT r.events_folded FROM @extschema@.usage_rollup_state r)
                    ELSE coalesce((SELECT u.requests FROM @extschema@.usage_rollup_user_totals u WHERE u.user_id = p_user_id), 0)
               END) AS by_id),
daily AS NOT MATERIALIZED (
    SELECT d.bucket, NULL::text AS user_id, d.provider_id, d.model_id, d.endpoint_id, d.success, d.requests, d.unpriced_requests,
           d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_write_tokens, d.cache_write_1h_tokens,
           d.reasoning_tokens, d.total_tokens, d.input_cost_nano_usd, d.output_cost_nano_usd,
           d.cache_read_cost_nano_usd, d.cache_write_cost_nano_usd, d.reasoning_cost_nano_usd, d.total_cost_nano_usd,
           d.latency_sum_ms, d.latency_count, d.latency_hist
    FROM @extschema@.usage_rollup_platform_daily d WHERE p_user_id IS NULL
    UNION ALL
    SELECT d.bucket, d.user_id, d.provider_id, d.model_id, d.endpoint_id, d.success, d.requests, d.unpriced_requests,
           d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_write_tokens, d.cache_write_1h_tokens,
           d.reasoning_tokens, d.total_tokens, d.input_cost_nano_usd, d.output_cost_nano_usd,
           d.cache_read_cost_nano_usd, d.cache_write_cost_nano_usd, d.reasoning_cost_nano_usd, d.total_cost_nano_usd,
           d.latency_sum_ms, d.latency_count, d.latency_hist
    FROM @extschema@.usage_rollup_daily d WHERE d.user_id = p_user_id),
hourly AS NOT MATERIALIZED (
    SELECT h.bucket, NULL::text AS user_id, h.provider_id, h.model_id, h.endpoint_id, h.success, h.requests, h.unpriced_requests,
           h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens, h.cache_write_1h_tokens,
           h.reasoning_tokens, h.total_tokens, h.input_cost_nano_usd, h.output_cost_nano_usd,
           h.cache_read_cost_nano_usd, h.cache_write_cost_nano_usd, h.reasoning_cost_nano_usd, h.total_cost_nano_usd,
           h.latency_sum_ms, h.latency_count, h.latency_hist
    FROM @extschema@.usage_rollup_platform_hourly h WHERE p_user_id IS NULL
    UNION ALL
    SELECT h.bucket, h.user_id, h.provider_id, h.model_id, h.endpoint_id, h.success, h.requests, h.unpriced_requests,
           h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens, h.cache_write_1h_tokens,
           h.reasoning_tokens, h.total_tokens, h.input_cost_nano_usd, h.output_cost_nano_usd,
           h.cache_read_cost_nano_usd, h.cache_write_cost_nano_usd, h.reasoning_cost_nano_usd, h.total_cost_nano_usd,
           h.latency_sum_ms, h.latency_count, h.latency_hist
    FROM @extschema@.usage_rollup_hourly h WHERE h.user_id = p_user_id),
raw AS NOT MATERIALIZED (
    SELECT l.occurred_at, l.event_id, NULL::text AS user_id, l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
           l.reasoning_tokens, l.total_tokens, l.input_cost_nano_usd, l.output_cost_nano_usd,
           l.cache_read_cost_nano_usd, l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd,
           l.latency_ms
    FROM @extschema@.usage_log l WHERE p_user_id IS NULL
    UNION ALL
    SELECT l.occurred_at, l.event_id, l.user_id, l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
           l.reasoning_tokens, l.total_tokens, l.input_cost_nano_usd, l.output_cost_nano_usd,
           l.cache_read_cost_nano_usd, l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd,
           l.latency_ms
    FROM @extschema@.usage_log l WHERE l.user_id = p_user_id),
-- Raw rows of the edge hours and the tail, each with the sign it counts
-- with and its granule. Inside the period at an edge: +1, unless that edge
-- hour is read whole from the rollup (hs_sub, he_sub), where the rolled-up
-- rows outside the period count -1 instead. One scan covers both edges,
-- reading only the part of each edge hour that counts.
edges AS (
    SELECT CASE WHEN r.occurred_at < (SELECT s.f FROM s) THEN -1
                WHEN r.occurred_at < (SELECT s.hs FROM s) THEN CASE WHEN (SELECT s.hs_sub FROM s) THEN 0 ELSE 1 END
                WHEN r.occurred_at < (SELECT s.t FROM s) THEN CASE WHEN (SELECT s.he_sub FROM s) THEN 0 ELSE 1 END
                ELSE -1 END AS sign,
           CASE WHEN r.occurred_at < (SELECT s.f FROM s) THEN (SELECT s.hs FROM s) - interval '1 hour'
                WHEN r.occurred_at < (SELECT s.hs FROM s) THEN greatest(date_trunc('hour', r.occurred_at, 'UTC'), (SELECT s.f FROM s))
                WHEN r.occurred_at < (SELECT s.t FROM s) THEN date_trunc('hour', r.occurred_at, 'UTC')
                ELSE (SELECT s.he FROM s) END AS granule,
           r.*
    FROM raw r
    WHERE r.event_id + 0 <= (SELECT s.wm FROM s)
      -- nothing to read when both edges are empty (bounds on hour
      -- boundaries): skip the scan, which would still visit index ranges
      AND (SELECT (s.hs_sub OR s.f < s.hs) OR (s.he_sub OR s.he < s.t) FROM s)
      AND ((r.occurred_at >= (SELECT CASE WHEN s.hs_sub THEN s.hs - interval '1 hour' ELSE s.f END FROM s)
            AND r.occurred_at < (SELECT CASE WHEN s.hs_sub THEN s.f ELSE s.hs END FROM s))
           OR (r.occurred_at >= (SELECT CASE WHEN s.he_sub THEN s.t ELSE s.he END FROM s)
               AND r.occurred_at < (SELECT CASE WHEN s.he_sub THEN s.he + interval '1 hour' ELSE s.t END FROM s)))),
raw_parts AS (
    SELECT e.granule, e.sign, e.occurred_at, e.user_id, e.provider_id, e.model_id, e.endpoint_id, e.success,
           e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.cache_write_1h_tokens,
           e.reasoning_tokens, e.total_tokens, e.input_cost_nano_usd, e.output_cost_nano_usd,
           e.cache_read_cost_nano_usd, e.cache_write_cost_nano_usd, e.reasoning_cost_nano_usd, e.total_cost_nano_usd,
           e.latency_ms
    FROM edges e WHERE e.sign <> 0
    UNION ALL
    -- the tail: every event not rolled up yet
    SELECT greatest(date_trunc('hour', r.occurred_at, 'UTC'), (SELECT s.f FROM s)), 1, r.occurred_at, r.user_id,
           r.provider_id, r.model_id, r.endpoint_id, r.success,
           r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cache_write_1h_tokens,
           r.reasoning_tokens, r.total_tokens, r.input_cost_nano_usd, r.output_cost_nano_usd,
           r.cache_read_cost_nano_usd, r.cache_write_cost_nano_usd, r.reasoning_cost_nano_usd, r.total_cost_nano_usd,
           r.latency_ms
    FROM raw r
    WHERE (SELECT NOT tp.by_id FROM tail_pick tp)
      AND r.event_id > (SELECT s.wm FROM s)
      AND r.occurred_at >= (SELECT s.f FROM s) AND r.occurred_at < (SELECT s.t FROM s)
    UNION ALL
    -- the tail by event id (IS TRUE keeps the user and time indexes out of it)
    SELECT greatest(date_trunc('hour', l.occurred_at, 'UTC'), (SELECT s.f FROM s)), 1, l.occurred_at, p_user_id,
           l.provider_id, l.model_id, l.endpoint_id, l.success,
           l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens,
           l.reasoning_tokens, l.total_tokens, l.input_cost_nano_usd, l.output_cost_nano_usd,
           l.cache_read_cost_nano_usd, l.cache_write_cost_nano_usd, l.reasoning_cost_nano_usd, l.total_cost_nano_usd,
           l.latency_ms
    FROM @extschema@.usage_log l
    WHERE (SELECT tp.by_id FROM tail_pick tp)
      AND l.event_id > (SELECT s.wm FROM s)
      AND ((p_user_id IS NULL OR l.user_id = p_user_id)
           AND l.occurred_at >= (SELECT s.f FROM s) AND l.occurred_at < (SELECT s.t FROM s)) IS TRUE)
-- whole days
-- (the constant bounds repeat the segment bounds loosely so the planner can
-- estimate the range when the period is known at planning time)
SELECT d.* FROM daily d
WHERE d.bucket >= coalesce(p_from, '-infinity') - interval '1 day' AND d.bucket < coalesce(p_to, 'infinity')
  AND d.bucket >= (SELECT s.ds FROM s) AND d.bucket < (SELECT s.de FROM s)
UNION ALL
-- whole hours before the first whole day
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket >= (SELECT s.hs FROM s) AND h.bucket < (SELECT s.ds FROM s)
UNION ALL
-- whole hours after the last whole day
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket >= (SELECT s.de FROM s) AND h.bucket < (SELECT s.he FROM s)
UNION ALL
-- the edge hours read whole, when most of them lies inside the period (their
-- rows outside it come off in raw_parts)
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket = (SELECT s.hs FROM s) - interval '1 hour' AND (SELECT s.hs_sub FROM s)
UNION ALL
SELECT h.* FROM hourly h
WHERE h.bucket >= coalesce(p_from, '-infinity') - interval '1 hour' AND h.bucket < coalesce(p_to, 'infinity')
  AND h.bucket = (SELECT s.he FROM s) AND (SELECT s.he_sub FROM s)
UNION ALL
SELECT p.granule, p.user_id, coalesce(p.provider_id, 0)::smallint, p.model_id, coalesce(p.endpoint_id, 0), p.success,
       sum(p.sign), coalesce(sum(p.sign) FILTER (WHERE p.total_cost_nano_usd IS NULL), 0),
       sum(p.sign * p.input_tokens), sum(p.sign * p.output_tokens), sum(p.sign * p.cache_read_tokens),
       sum(p.sign * p.cache_write_tokens), sum(p.sign * p.cache_write_1h_tokens), sum(p.sign * p.reasoning_tokens),
       sum(p.sign * p.total_tokens),
       coalesce(sum(p.sign * p.input_cost_nano_usd), 0)::bigint, coalesce(sum(p.sign * p.output_cost_nano_usd), 0)::bigint,
       coalesce(sum(p.sign * p.cache_read_cost_nano_usd), 0)::bigint, coalesce(sum(p.sign * p.cache_write_cost_nano_usd), 0)::bigint,
       coalesce(sum(p.sign * p.reasoning_cost_nano_usd), 0)::bigint, coalesce(sum(p.sign * p.total_cost_nano_usd), 0)::bigint,
       coalesce(sum(p.sign * p.latency_ms), 0), coalesce(sum(p.sign) FILTER (WHERE p.latency_ms IS NOT NULL), 0),
       @extschema@.usage_hist_add(@extschema@.usage_latency_hist(p.latency_ms) FILTER (WHERE p.sign > 0),
                                  @extschema@.usage_hist_negate(@extschema@.usage_latency_hist(p.latency_ms) FILTER (WHERE p.sign < 0)))
FROM raw_parts p
GROUP BY p.granule, p.user_id, coalesce(p.provider_id, 0), p.model_id, coalesce(p.endpoint_id, 0), p.success
$fn$;
COMMENT ON FUNCTION @extschema@.usage_report_facts(timestamptz, timestamptz, text, boolean) IS
'Internal: every ledger fact in [from, to) (optionally for one user) from the daily and hourly rollups (platform summaries when no user is given), the raw edges and the raw tail above the watermark; granule is the hour (or day) it belongs to';
REVOKE ALL ON FUNCTION @extschema@.usage_report_facts(timestamptz, timestamptz, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_report_facts(timestamptz, timestamptz, text, boolean) TO tokenledger_reader, tokenledger_admin;

-- Per-user usage over any [from, to) from the running totals: with F(x) the
-- user's rolled-up usage before instant x, the period is F(to) - F(from)
-- plus the raw tail. F(x) is one usage_rollup_user_cum row (the latest
-- before an hour boundary next to x; none needed when the user's history
-- lies wholly on one side of it) plus or minus the raw rows between that
-- boundary and x: at most half an hour of events, or none when x is about
-- now. usage_user_range is never inlined (SET): inlined into a lateral
-- call, its materialized bounds were not recomputed for each outer row
-- (report_random caught it).
CREATE FUNCTION @extschema@.usage_running_total_bound(x timestamptz,
    OUT cum_before timestamptz, OUT raw_from timestamptz, OUT raw_to timestamptz, OUT sign integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    h timestamptz;
BEGIN
    sign := 1;
    IF NOT isfinite(x) THEN
        cum_before := x; raw_from := x; raw_to := x;
        RETURN;
    END IF;
    h := date_trunc('hour', x, 'UTC');
    IF x = h OR (x - h <= interval '30 minutes' AND x < now() - interval '5 minutes') THEN
        -- the boundary below x, plus the raw rows from it up to x
        cum_before := h; raw_from := h; raw_to := x;
    ELSE
        -- the boundary above x, minus the raw rows from x up to it
        cum_before := h + interval '1 hour'; raw_from := x; raw_to := h + interval '1 hour'; sign := -1;
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_running_total_bound(timestamptz) IS
'Internal: how usage_user_range reads the per-user running total at instant x: the usage_rollup_user_cum row before cum_before, plus sign times the rolled-up raw rows in [raw_from, raw_to)';
REVOKE ALL ON FUNCTION @extschema@.usage_running_total_bound(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_running_total_bound(timestamptz) TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_user_range(p_from timestamptz, p_to timestamptz, p_users text[] DEFAULT NULL)
RETURNS TABLE (user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint,
               total_cost_nano_usd bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT (SELECT s.watermark FROM @extschema@.usage_rollup_state s) AS wm,
           lo.cum_before AS f_cum, lo.raw_from AS f_raw_from, lo.raw_to AS f_raw_to, lo.sign AS f_sign,
           hi.cum_before AS t_cum, hi.raw_from AS t_raw_from, hi.raw_to AS t_raw_to, hi.sign AS t_sign
    FROM @extschema@.usage_running_total_bound(coalesce(p_from, '-infinity')) lo,
         @extschema@.usage_running_total_bound(coalesce(p_to, 'infinity')) hi),
-- F(to) - F(from) from the running totals, one row per user: a user whose
-- rolled-up history lies wholly before a bound has its all-time totals
-- there, one whose history starts at or after it has 0, and only the
-- others need their latest usage_rollup_user_cum row before the bound (the
-- gating conditions skip the index probe for everyone else).
cum AS (
    SELECT u.user_id,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.requests ELSE coalesce(tc.requests, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.requests ELSE coalesce(fc.requests, 0) END AS requests,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.failures ELSE coalesce(tc.failures, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.failures ELSE coalesce(fc.failures, 0) END AS failures,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.unpriced_requests ELSE coalesce(tc.unpriced_requests, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.unpriced_requests ELSE coalesce(fc.unpriced_requests, 0) END AS unpriced_requests,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.total_tokens ELSE coalesce(tc.total_tokens, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.total_tokens ELSE coalesce(fc.total_tokens, 0) END AS total_tokens,
           CASE WHEN u.last_bucket < bt.t_cum THEN u.total_cost_nano_usd ELSE coalesce(tc.total_cost_nano_usd, 0) END
             - CASE WHEN u.last_bucket < bt.f_cum THEN u.total_cost_nano_usd ELSE coalesce(fc.total_cost_nano_usd, 0) END AS total_cost_nano_usd
    FROM b bt
    CROSS JOIN @extschema@.usage_rollup_user_totals u
    LEFT JOIN LATERAL (SELECT c.requests, c.failures, c.unpriced_requests, c.total_tokens, c.total_cost_nano_usd
                       FROM @extschema@.usage_rollup_user_cum c
                       WHERE u.last_bucket >= bt.t_cum AND u.first_bucket < bt.t_cum
                         AND c.user_id = u.user_id AND c.bucket < bt.t_cum
                       ORDER BY c.bucket DESC LIMIT 1) tc ON true
    LEFT JOIN LATERAL (SELECT c.requests, c.failures, c.unpriced_requests, c.total_tokens, c.total_cost_nano_usd
                       FROM @extschema@.usage_rollup_user_cum c
                       WHERE u.last_bucket >= bt.f_cum AND u.first_bucket < bt.f_cum
                         AND c.user_id = u.user_id AND c.bucket < bt.f_cum
                       ORDER BY c.bucket DESC LIMIT 1) fc ON true
    WHERE u.first_bucket < bt.t_cum AND u.last_bucket >= bt.f_cum
      AND (p_users IS NULL OR u.user_id IN (SELECT unnest(p_users)))),
-- The raw rows next to the bounds (rolled up) and the tail, per user; only
-- the given users' rows are aggregated (a ranking pass names a few dozen).
raw AS (
    SELECT r.user_id, sum(r.sign) AS requests, sum(r.sign) FILTER (WHERE NOT r.success) AS failures,
           sum(r.sign) FILTER (WHERE r.total_cost_nano_usd IS NULL) AS unpriced_requests,
           sum(r.sign * r.total_tokens) AS total_tokens, sum(r.sign * coalesce(r.total_cost_nano_usd, 0)) AS total_cost_nano_usd
    FROM (SELECT l.user_id, (SELECT b.t_sign FROM b) AS sign, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE (SELECT b.t_raw_from < b.t_raw_to FROM b)
            AND l.occurred_at >= (SELECT b.t_raw_from FROM b) AND l.occurred_at < (SELECT b.t_raw_to FROM b)
            AND l.event_id + 0 <= (SELECT b.wm FROM b)
            AND (p_users IS NULL OR l.user_id IN (SELECT unnest(p_users)))
          UNION ALL
          SELECT l.user_id, -(SELECT b.f_sign FROM b), l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_log l
          WHERE (SELECT b.f_raw_from < b.f_raw_to FROM b)
            AND l.occurred_at >= (SELECT b.f_raw_from FROM b) AND l.occurred_at < (SELECT b.f_raw_to FROM b)
            AND l.event_id + 0 <= (SELECT b.wm FROM b)
            AND (p_users IS NULL OR l.user_id IN (SELECT unnest(p_users)))
          UNION ALL
          SELECT l.user_id, 1, l.success, l.total_tokens, l.total_cost_nano_usd
          FROM @extschema@.usage_tail_events(coalesce(p_from, '-infinity'), coalesce(p_to, 'infinity')) l
          WHERE p_users IS NULL OR l.user_id IN (SELECT unnest(p_users))) r
    GROUP BY r.user_id)
SELECT coalesce(c.user_id, r.user_id),
       (coalesce(c.requests, 0) + coalesce(r.requests, 0))::bigint,
       (coalesce(c.failures, 0) + coalesce(r.failures, 0))::bigint,
       (coalesce(c.unpriced_requests, 0) + coalesce(r.unpriced_requests, 0))::bigint,
       (coalesce(c.total_tokens, 0) + coalesce(r.total_tokens, 0))::bigint,
       (coalesce(c.total_cost_nano_usd, 0) + coalesce(r.total_cost_nano_usd, 0))::bigint
FROM cum c
FULL JOIN raw r ON r.user_id = c.user_id
WHERE coalesce(c.requests, 0) + coalesce(r.requests, 0) > 0
$fn$;
COMMENT ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz, text[]) IS
'Internal: every user''s (or only the given users'') requests, failures, unpriced requests, tokens and cost in [from, to) (users with events in it only), from the per-user running totals, raw edges of at most half an hour and the raw tail';
REVOKE ALL ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_user_range(timestamptz, timestamptz, text[]) TO tokenledger_admin;

-- How many users have an event in [p_from, p_to), exactly. Most users are
-- settled by the rollups alone, because every hour with a running-total row
-- holds at least one of the user's events: their first or last rolled-up
-- hour lies wholly inside the period, or one index probe finds such a row
-- inside it. Only users whose rolled-up events in the period all lie in its
-- partial first or last hour go through usage_user_range, and users seen
-- only in the raw tail come from the tail. For calendar periods (this
-- month, today) nearly every user is settled by the first two tests.
CREATE FUNCTION @extschema@.usage_active_user_count(p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH b AS MATERIALIZED (
    SELECT x.f, x.t,
           -- the whole UTC hours inside the period: [hf, ht)
           CASE WHEN isfinite(x.f) THEN date_trunc('hour', x.f - interval '1 microsecond', 'UTC') + interval '1 hour'
                ELSE x.f END AS hf,
           CASE WHEN isfinite(x.t) THEN date_trunc('hour', x.t, 'UTC') ELSE x.t END AS ht
    FROM (SELECT coalesce(p_from, '-infinity'::timestamptz) AS f, coalesce(p_to, 'infinity'::timestamptz) AS t) x),
overlapping AS (
    SELECT u.user_id,
           (u.first_bucket >= b.hf AND u.first_bucket < b.ht)
           OR (u.last_bucket >= b.hf AND u.last_bucket < b.ht)
           OR EXISTS (SELECT 1 FROM @extschema@.usage_rollup_user_cum c
                      WHERE c.user_id = u.user_id AND c.bucket >= b.hf AND c.bucket < b.ht) AS settled
    FROM b
    JOIN @extschema@.usage_rollup_user_totals u
      ON u.first_bucket < b.t AND u.last_bucket + interval '1 hour' > b.f),
unsettled AS (
    SELECT pg_catalog.array_agg(o.user_id) AS users FROM overlapping o WHERE NOT o.settled)
SELECT count(*)
FROM (SELECT o.user_id FROM overlapping o WHERE o.settled
      UNION
      SELECT r.user_id
      FROM unsettled n
      CROSS JOIN LATERAL @extschema@.usage_user_range(p_from, p_to, n.users) r
      WHERE n.users IS NOT NULL
      UNION
      SELECT l.user_id
      FROM @extschema@.usage_tail_events(coalesce(p_from, '-infinity'), coalesce(p_to, 'infinity')) l) a
$fn$;
COMMENT ON FUNCTION @extschema@.usage_active_user_count(timestamptz, timestamptz) IS
'Internal: the number of users with an event in [from, to), from the per-user summaries where they settle it and usage_user_range for the rest';
REVOKE ALL ON FUNCTION @extschema@.usage_active_user_count(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_active_user_count(timestamptz, timestamptz) TO tokenledger_admin;

-- A period with defaults: NULL from means the start of the current `unit`
-- (month, week, day) in tokenledger.timezone; NULL to means the end of it
-- when from was NULL too, else no upper end.
CREATE FUNCTION @extschema@.usage_period(from_time timestamptz, to_time timestamptz, unit text DEFAULT 'month',
    OUT period_from timestamptz, OUT period_to timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tz text := @extschema@.usage_report_timezone();
BEGIN
    period_from := coalesce(from_time, date_trunc(unit, now(), tz));
    period_to := coalesce(to_time, CASE WHEN from_time IS NULL
        THEN ((date_trunc(unit, now(), tz) AT TIME ZONE tz) + ('1 ' || unit)::interval) AT TIME ZONE tz
        ELSE 'infinity' END);
    IF period_from >= period_to THEN
        RAISE EXCEPTION 'the period is empty: from (%) must be before to (%)', period_from, period_to
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Periods are half-open ranges [from, to); pass NULL for an open end.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_period(timestamptz, timestamptz, text) IS
'Internal: the [from, to) a report covers, defaulting to the current month (or week, day) in tokenledger.timezone';
REVOKE ALL ON FUNCTION @extschema@.usage_period(timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_period(timestamptz, timestamptz, text) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_user_summary(user_id text, from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS TABLE (period_from timestamptz, period_to timestamptz, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    p record;
BEGIN
    p := @extschema@.usage_period(from_time, to_time);
    RETURN QUERY
SELECT p.period_from, p.period_to,
       coalesce(sum(x.requests), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE x.success), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE NOT x.success), 0)::bigint,
       round(sum(x.requests) FILTER (WHERE x.success) / nullif(sum(x.requests), 0), 4),
       coalesce(sum(x.unpriced_requests), 0)::bigint,
       coalesce(sum(x.input_tokens), 0)::bigint,
       coalesce(sum(x.output_tokens), 0)::bigint,
       coalesce(sum(x.cache_read_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_1h_tokens), 0)::bigint,
       coalesce(sum(x.reasoning_tokens), 0)::bigint,
       coalesce(sum(x.total_tokens), 0)::bigint,
       @extschema@.usage_nano_to_usd(coalesce(sum(x.input_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.output_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_read_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_write_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.reasoning_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0)),
       round(sum(x.latency_sum_ms) / nullif(sum(x.latency_count), 0), 1),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.5),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.95),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.99)
FROM @extschema@.usage_report_facts(p.period_from, p.period_to, usage_user_summary.user_id) x;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_user_summary(text, timestamptz, timestamptz) IS
'One user''s requests, successes, failures, tokens per bucket, costs in USD and latency percentiles over [from_time, to_time) (default: this month in tokenledger.timezone); real-time (rollups plus the raw tail)';
REVOKE ALL ON FUNCTION @extschema@.usage_user_summary(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_user_summary(text, timestamptz, timestamptz) TO tokenledger_reader, tokenledger_admin;

-- Ranking every user costs two running-total probes each. Instead: a
-- user's usage in any period is at most their rolled-up all-time total plus
-- their events not rolled up yet (requests, tokens and costs are never
-- negative), and that bound is one row per user. The users with the largest
-- bounds are ranked exactly first; the k-th value among them (k = limit +
-- offset) is a threshold only users whose bound reaches it can beat, so only
-- those are ranked too. For a period ending about now that is a few users
-- more than k; for an old period, where all-time totals bound little, it can
-- still be everyone.
CREATE FUNCTION @extschema@.usage_top_users(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL, "limit" integer DEFAULT 10, order_by text DEFAULT 'cost', "offset" integer DEFAULT 0)
RETURNS TABLE (rank bigint, user_id text, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint, total_cost_usd numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
-- Starting workers would cost more than the few rows they read.
SET max_parallel_workers_per_gather = 0
AS $fn$
DECLARE
    p record;
    k bigint := "limit"::bigint + "offset";
    users text[];
    bounds bigint[];
    first_users text[];
    from_hour timestamptz;
BEGIN
    IF order_by IS NULL OR order_by NOT IN ('cost', 'tokens', 'requests') THEN
        RAISE EXCEPTION 'order_by must be cost, tokens or requests, got %', coalesce(quote_literal(order_by), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Rank by cost (the default), tokens or requests.';
    END IF;
    IF "limit" IS NULL OR "limit" < 1 OR "offset" IS NULL OR "offset" < 0 THEN
        RAISE EXCEPTION 'limit must be positive and offset zero or more'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Page with limit => 10, offset => 10 for the second page.';
    END IF;
    p := @extschema@.usage_period(from_time, to_time);
    from_hour := date_trunc('hour', p.period_from, 'UTC');  -- once, not per user

    -- Every user who may have events in the period, with their bound.
    WITH tail AS (
        SELECT l.user_id, count(*) AS requests, sum(l.total_tokens) AS tokens,
               coalesce(sum(l.total_cost_nano_usd), 0) AS cost
        FROM @extschema@.usage_tail_events(p.period_from, p.period_to) l
        GROUP BY l.user_id),
    rolled AS (
        SELECT u.user_id, u.requests, u.total_tokens AS tokens, u.total_cost_nano_usd AS cost
        FROM @extschema@.usage_rollup_user_totals u
        WHERE u.first_bucket < p.period_to
          AND u.last_bucket >= from_hour)
    SELECT array_agg(coalesce(r.user_id, t.user_id)),
           array_agg((CASE order_by WHEN 'cost' THEN coalesce(r.cost, 0) + coalesce(t.cost, 0)
                                    WHEN 'tokens' THEN coalesce(r.tokens, 0) + coalesce(t.tokens, 0)
                                    ELSE coalesce(r.requests, 0) + coalesce(t.requests, 0) END)::bigint)
    INTO users, bounds
    FROM rolled r FULL JOIN tail t ON t.user_id = r.user_id;

    -- The users with the largest bounds are ranked exactly first.
    first_users := CASE WHEN cardinality(users) > 2 * k + 50
                        THEN ARRAY(SELECT c.u FROM unnest(users, bounds) c(u, b) ORDER BY c.b DESC, c.u LIMIT 2 * k + 50)
                        ELSE coalesce(users, '{}') END;

    RETURN QUERY
    WITH first_ranked AS MATERIALIZED (
        SELECT x.user_id, x.requests, x.failures, x.unpriced_requests AS unpriced, x.total_tokens AS tokens,
               x.total_cost_nano_usd AS cost,
               CASE order_by WHEN 'cost' THEN x.total_cost_nano_usd WHEN 'tokens' THEN x.total_tokens
                             ELSE x.requests END AS value
        FROM @extschema@.usage_user_range(p.period_from, p.period_to, first_users) x),
    -- The k-th value among them, if k of them have events in the period.
    threshold AS (
        SELECT min(v.value) AS value
        FROM (SELECT f.value FROM first_ranked f ORDER BY 1 DESC LIMIT k) v
        HAVING count(*) = k),
    -- Everyone else who can still reach it (everyone, without a threshold).
    rest_users AS MATERIALIZED (
        SELECT ARRAY(SELECT c.u FROM unnest(users, bounds) c(u, b)
                     WHERE c.b >= coalesce((SELECT t.value FROM threshold t), -1)
                       AND c.u NOT IN (SELECT unnest(first_users))) AS users),
    ranked AS (
        SELECT * FROM first_ranked
        UNION ALL
        SELECT x.user_id, x.requests, x.failures, x.unpriced_requests, x.total_tokens, x.total_cost_nano_usd,
               CASE order_by WHEN 'cost' THEN x.total_cost_nano_usd WHEN 'tokens' THEN x.total_tokens
                             ELSE x.requests END
        FROM rest_users r, @extschema@.usage_user_range(p.period_from, p.period_to, r.users) x
        WHERE cardinality(r.users) > 0)
    SELECT row_number() OVER (ORDER BY g.value DESC, g.user_id),
           g.user_id, g.requests::bigint, coalesce(g.failures, 0)::bigint, g.unpriced::bigint, g.tokens::bigint,
           @extschema@.usage_nano_to_usd(g.cost)
    FROM ranked g
    ORDER BY g.value DESC, g.user_id
    LIMIT "limit" OFFSET "offset";
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_top_users(timestamptz, timestamptz, integer, text, integer) IS
'The heaviest users over [from_time, to_time) (default: this month), ranked by cost, tokens or requests, ties by user id; page with limit and offset';
REVOKE ALL ON FUNCTION @extschema@.usage_top_users(timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_top_users(timestamptz, timestamptz, integer, text, integer) TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_user_history(user_id text, "limit" integer DEFAULT 50, before_id bigint DEFAULT NULL)
RETURNS SETOF @extschema@.usage_events
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    b_at timestamptz := 'infinity';
    b_id bigint := 9223372036854775807;
BEGIN
    IF "limit" IS NULL OR "limit" < 1 OR "limit" > 10000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 10000, got %', "limit"
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Fetch a page of at most 10000 events; pass the last event_id as before_id for the next.';
    END IF;
    IF before_id IS NOT NULL THEN
        SELECT l.occurred_at, l.event_id INTO b_at, b_id
        FROM @extschema@.usage_log l WHERE l.event_id = before_id AND l.user_id = usage_user_history.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'event % is not one of this user''s events', before_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass the event_id of the last row of the previous page, or NULL for the first page.';
        END IF;
    END IF;
    -- Newest first by (occurred_at, event_id): the (user_id, occurred_at)
    -- index serves every page.
    RETURN QUERY
    SELECT e.* FROM @extschema@.usage_events e
    JOIN (SELECT l.event_id, l.occurred_at FROM @extschema@.usage_log l
          WHERE l.user_id = usage_user_history.user_id AND (l.occurred_at, l.event_id) < (b_at, b_id)
          ORDER BY l.occurred_at DESC, l.event_id DESC LIMIT "limit") k
      ON e.event_id = k.event_id AND e.occurred_at = k.occurred_at
    ORDER BY e.occurred_at DESC, e.event_id DESC;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_user_history(text, integer, bigint) IS
'One user''s raw events, newest first, keyset-paginated: pass the last event_id of a page as before_id to get the next';
REVOKE ALL ON FUNCTION @extschema@.usage_user_history(text, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_user_history(text, integer, bigint) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_session_summary(session_id text)
RETURNS TABLE (user_ids text[], first_at timestamptz, last_at timestamptz, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT array_agg(DISTINCT x.user_id) FILTER (WHERE x.user_id IS NOT NULL),
       min(x.occurred_at), max(x.occurred_at),
       count(x.event_id)::bigint,
       count(x.event_id) FILTER (WHERE x.success)::bigint,
       count(x.event_id) FILTER (WHERE NOT x.success)::bigint,
       round((count(x.event_id) FILTER (WHERE x.success))::numeric / nullif(count(x.event_id), 0), 4),
       count(x.event_id) FILTER (WHERE x.total_cost_nano_usd IS NULL)::bigint,
       coalesce(sum(x.input_tokens), 0)::bigint, coalesce(sum(x.output_tokens), 0)::bigint, coalesce(sum(x.cache_read_tokens), 0)::bigint, coalesce(sum(x.cache_write_tokens), 0)::bigint, coalesce(sum(x.cache_write_1h_tokens), 0)::bigint, coalesce(sum(x.reasoning_tokens), 0)::bigint, coalesce(sum(x.total_tokens), 0)::bigint,
       @extschema@.usage_nano_to_usd(coalesce(sum(x.input_cost_nano_usd), 0)), @extschema@.usage_nano_to_usd(coalesce(sum(x.output_cost_nano_usd), 0)), @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_read_cost_nano_usd), 0)), @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_write_cost_nano_usd), 0)), @extschema@.usage_nano_to_usd(coalesce(sum(x.reasoning_cost_nano_usd), 0)), @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0)),
       round(avg(x.latency_ms), 1)
FROM (SELECT 1) one
LEFT JOIN @extschema@.usage_log x ON x.session_id = usage_session_summary.session_id
$fn$;
COMMENT ON FUNCTION @extschema@.usage_session_summary(text) IS
'Running totals of one chat session (requests, tokens, USD cost, latency) straight from the ledger, for a live per-chat cost display';
REVOKE ALL ON FUNCTION @extschema@.usage_session_summary(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_session_summary(text) TO tokenledger_reader, tokenledger_admin;

CREATE FUNCTION @extschema@.usage_system_summary(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS TABLE (period_from timestamptz, period_to timestamptz, unique_users bigint, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint, days integer, avg_requests_per_day numeric, avg_cost_per_day_usd numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    p record;
BEGIN
    p := @extschema@.usage_period(from_time, to_time);
    RETURN QUERY
SELECT min(pp.period_from), min(pp.period_to),
       @extschema@.usage_active_user_count(p.period_from, p.period_to),
       coalesce(sum(x.requests), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE x.success), 0)::bigint,
       coalesce(sum(x.requests) FILTER (WHERE NOT x.success), 0)::bigint,
       round(sum(x.requests) FILTER (WHERE x.success) / nullif(sum(x.requests), 0), 4),
       coalesce(sum(x.unpriced_requests), 0)::bigint,
       coalesce(sum(x.input_tokens), 0)::bigint,
       coalesce(sum(x.output_tokens), 0)::bigint,
       coalesce(sum(x.cache_read_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_tokens), 0)::bigint,
       coalesce(sum(x.cache_write_1h_tokens), 0)::bigint,
       coalesce(sum(x.reasoning_tokens), 0)::bigint,
       coalesce(sum(x.total_tokens), 0)::bigint,
       @extschema@.usage_nano_to_usd(coalesce(sum(x.input_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.output_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_read_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.cache_write_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.reasoning_cost_nano_usd), 0)),
       @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0)),
       round(sum(x.latency_sum_ms) / nullif(sum(x.latency_count), 0), 1),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.5),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.95),
       @extschema@.usage_hist_quantile(@extschema@.usage_hist_sum(x.latency_hist), 0.99),
       d.days,
       round(coalesce(sum(x.requests), 0) / d.days::numeric, 2),
       round(@extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0)) / d.days, 9)
FROM (SELECT p.period_from, p.period_to) pp
-- Calendar days in the period up to today; at least one.
CROSS JOIN (
    SELECT greatest(1, (date_trunc('day', least(p.period_to - interval '1 microsecond', now()), @extschema@.usage_report_timezone())::date
                        - date_trunc('day', CASE WHEN isfinite(p.period_from) THEN p.period_from
                                          ELSE coalesce((SELECT min(r.bucket) FROM @extschema@.usage_rollup_platform_daily r), now()) END,
                                     @extschema@.usage_report_timezone())::date) + 1) AS days) d
LEFT JOIN @extschema@.usage_report_facts(p.period_from, p.period_to) x ON true
GROUP BY d.days;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_system_summary(timestamptz, timestamptz) IS
'Platform totals over [from_time, to_time) (default: this month): requests, unique users, success rate, tokens, USD costs, latency p50/p95/p99, and averages per calendar day';
REVOKE ALL ON FUNCTION @extschema@.usage_system_summary(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_system_summary(timestamptz, timestamptz) TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_timeseries(bucket text DEFAULT 'day', from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL, user_id text DEFAULT NULL, model text DEFAULT NULL, endpoint text DEFAULT NULL)
RETURNS TABLE (bucket_start timestamptz, requests bigint, failures bigint, unpriced_requests bigint, total_tokens bigint, total_cost_usd numeric, avg_latency_ms numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    tz text := @extschema@.usage_report_timezone();
    step interval;
    f timestamptz;
    t timestamptz;
    m integer;
    e integer;
BEGIN
    IF bucket IS NULL OR bucket NOT IN ('hour', 'day', 'week', 'month') THEN
        RAISE EXCEPTION 'bucket must be hour, day, week or month, got %', coalesce(quote_literal(bucket), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass bucket => ''day'' for a daily series.';
    END IF;
    step := ('1 ' || bucket)::interval;
    t := coalesce(to_time, now());
    f := coalesce(from_time, ((t AT TIME ZONE tz) - CASE bucket WHEN 'hour' THEN interval '47 hours' WHEN 'day' THEN interval '29 days'
                                                                WHEN 'week' THEN interval '11 weeks' ELSE interval '11 months' END) AT TIME ZONE tz);
    IF f >= t OR NOT isfinite(f) OR NOT isfinite(t) THEN
        RAISE EXCEPTION 'the period must be finite and non-empty: from (%) must be before to (%)', f, t
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass from_time and to_time, or omit them for the last 30 days (48 hours, 12 weeks, 12 months).';
    END IF;
    -- Whole buckets: from rounds down, to rounds up.
    f := date_trunc(bucket, f, tz);
    IF date_trunc(bucket, t, tz) < t THEN
        t := ((date_trunc(bucket, t, tz) AT TIME ZONE tz) + step) AT TIME ZONE tz;
    END IF;
    IF (t AT TIME ZONE tz) - (f AT TIME ZONE tz) > step * 10000 THEN
        RAISE EXCEPTION 'the series would have more than 10000 buckets'
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Use a coarser bucket or a shorter period.';
    END IF;
    IF model IS NOT NULL THEN
        m := coalesce((SELECT d.model_id FROM @extschema@.usage_models d WHERE d.name = model), -1);
    END IF;
    IF endpoint IS NOT NULL THEN
        e := coalesce((SELECT d.endpoint_id FROM @extschema@.usage_endpoints d WHERE d.name = endpoint), -1);
    END IF;
    RETURN QUERY
    WITH g AS (
        SELECT date_trunc(bucket, x.granule, tz) AS b,
               sum(x.requests) AS requests, sum(x.requests) FILTER (WHERE NOT x.success) AS failures,
               sum(x.unpriced_requests) AS unpriced, sum(x.total_tokens) AS tokens,
               sum(x.total_cost_nano_usd) AS cost, sum(x.latency_sum_ms) AS lat_sum, sum(x.latency_count) AS lat_n
        FROM @extschema@.usage_report_facts(f, t, usage_timeseries.user_id, bucket <> 'hour') x
        WHERE (m IS NULL OR x.model_id = m) AND (e IS NULL OR x.endpoint_id = e)
        GROUP BY 1)
    SELECT s.ts AT TIME ZONE tz,
           coalesce(g.requests, 0)::bigint, coalesce(g.failures, 0)::bigint, coalesce(g.unpriced, 0)::bigint,
           coalesce(g.tokens, 0)::bigint, @extschema@.usage_nano_to_usd(coalesce(g.cost, 0)),
           round(g.lat_sum / nullif(g.lat_n, 0), 1)
    FROM generate_series(f AT TIME ZONE tz, (t AT TIME ZONE tz) - step, step) AS s(ts)
    LEFT JOIN g ON g.b = s.ts AT TIME ZONE tz
    ORDER BY 1;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_timeseries(text, timestamptz, timestamptz, text, text, text) IS
'A zero-filled series of requests, failures, tokens, USD cost and latency per hour, day, week or month (calendar buckets in tokenledger.timezone) over [from_time, to_time) rounded out to whole buckets (default: the last 30 days), optionally for one user, model or endpoint';
REVOKE ALL ON FUNCTION @extschema@.usage_timeseries(text, timestamptz, timestamptz, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_timeseries(text, timestamptz, timestamptz, text, text, text) TO tokenledger_admin;

-- One breakdown serves usage_by_model, usage_by_endpoint and usage_by_provider:
-- aggregate per key first, then resolve the names of the (few) groups.
CREATE FUNCTION @extschema@.usage_breakdown(dimension text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (name text, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint, cost_share numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    p record;
BEGIN
    IF dimension IS NULL OR dimension NOT IN ('model', 'endpoint', 'provider') THEN
        RAISE EXCEPTION 'unknown breakdown dimension "%"', dimension
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use model, endpoint or provider.';
    END IF;
    p := @extschema@.usage_period(from_time, to_time);
    RETURN QUERY
    WITH grouped AS (
        -- Rollups store 0 for "no endpoint/provider", the raw tail NULL: one group.
        SELECT CASE dimension WHEN 'model' THEN x.model_id
                              WHEN 'endpoint' THEN nullif(x.endpoint_id, 0)
                              ELSE nullif(x.provider_id, 0) END AS key,
               sum(x.requests) AS requests,
               sum(x.requests) FILTER (WHERE x.success) AS successes,
               sum(x.requests) FILTER (WHERE NOT x.success) AS failures,
               sum(x.unpriced_requests) AS unpriced,
               sum(x.input_tokens) AS input_tokens, sum(x.output_tokens) AS output_tokens,
               sum(x.cache_read_tokens) AS cache_read_tokens, sum(x.cache_write_tokens) AS cache_write_tokens,
               sum(x.cache_write_1h_tokens) AS cache_write_1h_tokens, sum(x.reasoning_tokens) AS reasoning_tokens,
               sum(x.total_tokens) AS total_tokens,
               sum(x.input_cost_nano_usd) AS input_cost, sum(x.output_cost_nano_usd) AS output_cost,
               sum(x.cache_read_cost_nano_usd) AS cache_read_cost, sum(x.cache_write_cost_nano_usd) AS cache_write_cost,
               sum(x.reasoning_cost_nano_usd) AS reasoning_cost, sum(x.total_cost_nano_usd) AS total_cost,
               sum(x.latency_sum_ms) AS latency_sum, sum(x.latency_count) AS latency_count,
               @extschema@.usage_hist_sum(x.latency_hist) AS hist
        FROM @extschema@.usage_report_facts(p.period_from, p.period_to) x
        GROUP BY 1),
    named AS (
        SELECT CASE dimension
                   WHEN 'model' THEN (SELECT d.name FROM @extschema@.usage_models d WHERE d.model_id = g.key)
                   WHEN 'endpoint' THEN (SELECT d.name FROM @extschema@.usage_endpoints d WHERE d.endpoint_id = g.key)
                   ELSE (SELECT d.name FROM @extschema@.usage_providers d WHERE d.provider_id = g.key)
               END AS name, g.*
        FROM grouped g)
    SELECT n.name, coalesce(n.requests, 0)::bigint, coalesce(n.successes, 0)::bigint,
           coalesce(n.failures, 0)::bigint,
           round(n.successes / nullif(n.requests, 0), 4),
           coalesce(n.unpriced, 0)::bigint,
           coalesce(n.input_tokens, 0)::bigint, coalesce(n.output_tokens, 0)::bigint,
           coalesce(n.cache_read_tokens, 0)::bigint, coalesce(n.cache_write_tokens, 0)::bigint,
           coalesce(n.cache_write_1h_tokens, 0)::bigint, coalesce(n.reasoning_tokens, 0)::bigint,
           coalesce(n.total_tokens, 0)::bigint,
           @extschema@.usage_nano_to_usd(coalesce(n.input_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.output_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.cache_read_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.cache_write_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.reasoning_cost, 0)),
           @extschema@.usage_nano_to_usd(coalesce(n.total_cost, 0)),
           round(n.latency_sum / nullif(n.latency_count, 0), 1),
           @extschema@.usage_hist_quantile(n.hist, 0.5),
           @extschema@.usage_hist_quantile(n.hist, 0.95),
           @extschema@.usage_hist_quantile(n.hist, 0.99),
           round(n.total_cost / nullif(sum(n.total_cost) OVER (), 0), 4)
    FROM named n
    ORDER BY coalesce(n.total_cost, 0) DESC, n.name NULLS LAST;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_breakdown(text, timestamptz, timestamptz) IS
'Internal: usage per model, endpoint or provider over [from_time, to_time), costliest first; behind usage_by_model, usage_by_endpoint and usage_by_provider';
REVOKE ALL ON FUNCTION @extschema@.usage_breakdown(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_breakdown(text, timestamptz, timestamptz) TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_by_model(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS TABLE (model text, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint, cost_share numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT * FROM @extschema@.usage_breakdown('model', from_time, to_time) $fn$;
COMMENT ON FUNCTION @extschema@.usage_by_model(timestamptz, timestamptz) IS
'Requests, tokens, USD cost (and share of it), success rate and latency per model over [from_time, to_time) (default: this month), costliest first';
REVOKE ALL ON FUNCTION @extschema@.usage_by_model(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_by_model(timestamptz, timestamptz) TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_by_endpoint(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS TABLE (endpoint text, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint, cost_share numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT * FROM @extschema@.usage_breakdown('endpoint', from_time, to_time) $fn$;
COMMENT ON FUNCTION @extschema@.usage_by_endpoint(timestamptz, timestamptz) IS
'Requests, tokens, USD cost (and share of it), success rate and latency per endpoint over [from_time, to_time) (default: this month), costliest first; NULL endpoint for events without one';
REVOKE ALL ON FUNCTION @extschema@.usage_by_endpoint(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_by_endpoint(timestamptz, timestamptz) TO tokenledger_admin;

CREATE FUNCTION @extschema@.usage_by_provider(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL)
RETURNS TABLE (provider text, requests bigint, successes bigint, failures bigint, success_rate numeric, unpriced_requests bigint, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cache_write_1h_tokens bigint, reasoning_tokens bigint, total_tokens bigint, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric, cache_write_cost_usd numeric, reasoning_cost_usd numeric, total_cost_usd numeric, avg_latency_ms numeric, p50_latency_ms bigint, p95_latency_ms bigint, p99_latency_ms bigint, cost_share numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT * FROM @extschema@.usage_breakdown('provider', from_time, to_time) $fn$;
COMMENT ON FUNCTION @extschema@.usage_by_provider(timestamptz, timestamptz) IS
'Requests, tokens, USD cost (and share of it), success rate and latency per provider over [from_time, to_time) (default: this month), costliest first; NULL provider for events without one';
REVOKE ALL ON FUNCTION @extschema@.usage_by_provider(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_by_provider(timestamptz, timestamptz) TO tokenledger_admin;

-- One query per period, each with its bounds as plain parameters.
CREATE FUNCTION @extschema@.usage_totals()
RETURNS TABLE (period text, period_from timestamptz, period_to timestamptz, requests bigint, failures bigint, unique_users bigint, unpriced_requests bigint, total_tokens bigint, total_cost_usd numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    p record;
BEGIN
    FOR p IN
        SELECT 'all_time' AS name, '-infinity'::timestamptz AS f, 'infinity'::timestamptz AS t
        UNION ALL
        SELECT 'this_month', m.period_from, m.period_to FROM @extschema@.usage_period(NULL, NULL, 'month') m
        UNION ALL
        SELECT 'today', d.period_from, d.period_to FROM @extschema@.usage_period(NULL, NULL, 'day') d
    LOOP
        RETURN QUERY
        SELECT p.name, p.f, p.t,
               coalesce(sum(x.requests), 0)::bigint, coalesce(sum(x.requests) FILTER (WHERE NOT x.success), 0)::bigint,
               @extschema@.usage_active_user_count(p.f, p.t), coalesce(sum(x.unpriced_requests), 0)::bigint,
               coalesce(sum(x.total_tokens), 0)::bigint, @extschema@.usage_nano_to_usd(coalesce(sum(x.total_cost_nano_usd), 0))
        FROM @extschema@.usage_report_facts(p.f, p.t) x;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_totals() IS
'Platform-wide requests, users, tokens and USD cost for all time, this month and today (calendar periods in tokenledger.timezone)';
REVOKE ALL ON FUNCTION @extschema@.usage_totals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_totals() TO tokenledger_admin;

CREATE VIEW @extschema@.usage_hourly WITH (security_invoker = true) AS
SELECT u.bucket, u.user_id, p.name AS provider, m.name AS model, e.name AS endpoint, u.success,
       sum(u.requests)::bigint AS requests,
       sum(u.requests) FILTER (WHERE NOT u.success)::bigint AS failures,
       sum(u.unpriced_requests)::bigint AS unpriced_requests,
       sum(u.input_tokens)::bigint AS input_tokens,
       sum(u.output_tokens)::bigint AS output_tokens,
       sum(u.cache_read_tokens)::bigint AS cache_read_tokens,
       sum(u.cache_write_tokens)::bigint AS cache_write_tokens,
       sum(u.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
       sum(u.reasoning_tokens)::bigint AS reasoning_tokens,
       sum(u.total_tokens)::bigint AS total_tokens,
       @extschema@.usage_nano_to_usd(sum(u.input_cost_nano_usd)) AS input_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.output_cost_nano_usd)) AS output_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.cache_read_cost_nano_usd)) AS cache_read_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.cache_write_cost_nano_usd)) AS cache_write_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.reasoning_cost_nano_usd)) AS reasoning_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.total_cost_nano_usd)) AS total_cost_usd,
       round(sum(u.latency_sum_ms) / nullif(sum(u.latency_count), 0), 1) AS avg_latency_ms
FROM (SELECT r.bucket, r.user_id, r.provider_id, r.model_id, r.endpoint_id, r.success, r.requests, r.unpriced_requests, r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cache_write_1h_tokens, r.reasoning_tokens, r.total_tokens, r.input_cost_nano_usd, r.output_cost_nano_usd, r.cache_read_cost_nano_usd, r.cache_write_cost_nano_usd, r.reasoning_cost_nano_usd, r.total_cost_nano_usd, r.latency_sum_ms, r.latency_count
      FROM @extschema@.usage_rollup_hourly r
      UNION ALL
      SELECT date_trunc('hour', l.occurred_at, 'UTC'), l.user_id, coalesce(l.provider_id, 0), l.model_id, coalesce(l.endpoint_id, 0), l.success, 1, (l.total_cost_nano_usd IS NULL)::integer, l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens, l.reasoning_tokens, l.total_tokens, coalesce(l.input_cost_nano_usd, 0), coalesce(l.output_cost_nano_usd, 0), coalesce(l.cache_read_cost_nano_usd, 0), coalesce(l.cache_write_cost_nano_usd, 0), coalesce(l.reasoning_cost_nano_usd, 0), coalesce(l.total_cost_nano_usd, 0), coalesce(l.latency_ms, 0), (l.latency_ms IS NOT NULL)::integer
      FROM @extschema@.usage_log l
      WHERE l.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
     ) AS u (bucket, user_id, provider_id, model_id, endpoint_id, success, requests, unpriced_requests,
             input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, total_tokens, input_cost_nano_usd, output_cost_nano_usd, cache_read_cost_nano_usd, cache_write_cost_nano_usd, reasoning_cost_nano_usd, total_cost_nano_usd, latency_sum_ms, latency_count)
JOIN @extschema@.usage_models m ON m.model_id = u.model_id
LEFT JOIN @extschema@.usage_providers p ON p.provider_id = u.provider_id
LEFT JOIN @extschema@.usage_endpoints e ON e.endpoint_id = u.endpoint_id
GROUP BY u.bucket, u.user_id, p.name, m.name, e.name, u.success;
COMMENT ON VIEW @extschema@.usage_hourly IS
'Usage per UTC hour, user, provider, model, endpoint and success, with names and USD costs; real-time (hourly rollup plus the raw tail); readers see their own rows';
GRANT SELECT ON @extschema@.usage_hourly TO tokenledger_reader, tokenledger_admin;

CREATE VIEW @extschema@.usage_daily WITH (security_invoker = true) AS
SELECT u.bucket, u.user_id, p.name AS provider, m.name AS model, e.name AS endpoint, u.success,
       sum(u.requests)::bigint AS requests,
       sum(u.requests) FILTER (WHERE NOT u.success)::bigint AS failures,
       sum(u.unpriced_requests)::bigint AS unpriced_requests,
       sum(u.input_tokens)::bigint AS input_tokens,
       sum(u.output_tokens)::bigint AS output_tokens,
       sum(u.cache_read_tokens)::bigint AS cache_read_tokens,
       sum(u.cache_write_tokens)::bigint AS cache_write_tokens,
       sum(u.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
       sum(u.reasoning_tokens)::bigint AS reasoning_tokens,
       sum(u.total_tokens)::bigint AS total_tokens,
       @extschema@.usage_nano_to_usd(sum(u.input_cost_nano_usd)) AS input_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.output_cost_nano_usd)) AS output_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.cache_read_cost_nano_usd)) AS cache_read_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.cache_write_cost_nano_usd)) AS cache_write_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.reasoning_cost_nano_usd)) AS reasoning_cost_usd,
       @extschema@.usage_nano_to_usd(sum(u.total_cost_nano_usd)) AS total_cost_usd,
       round(sum(u.latency_sum_ms) / nullif(sum(u.latency_count), 0), 1) AS avg_latency_ms
FROM (SELECT r.bucket, r.user_id, r.provider_id, r.model_id, r.endpoint_id, r.success, r.requests, r.unpriced_requests, r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cache_write_1h_tokens, r.reasoning_tokens, r.total_tokens, r.input_cost_nano_usd, r.output_cost_nano_usd, r.cache_read_cost_nano_usd, r.cache_write_cost_nano_usd, r.reasoning_cost_nano_usd, r.total_cost_nano_usd, r.latency_sum_ms, r.latency_count
      FROM @extschema@.usage_rollup_daily r
      UNION ALL
      SELECT date_trunc('day', l.occurred_at, (SELECT s.day_timezone FROM @extschema@.usage_rollup_state s)), l.user_id, coalesce(l.provider_id, 0), l.model_id, coalesce(l.endpoint_id, 0), l.success, 1, (l.total_cost_nano_usd IS NULL)::integer, l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.cache_write_1h_tokens, l.reasoning_tokens, l.total_tokens, coalesce(l.input_cost_nano_usd, 0), coalesce(l.output_cost_nano_usd, 0), coalesce(l.cache_read_cost_nano_usd, 0), coalesce(l.cache_write_cost_nano_usd, 0), coalesce(l.reasoning_cost_nano_usd, 0), coalesce(l.total_cost_nano_usd, 0), coalesce(l.latency_ms, 0), (l.latency_ms IS NOT NULL)::integer
      FROM @extschema@.usage_log l
      WHERE l.event_id > (SELECT s.watermark FROM @extschema@.usage_rollup_state s)
     ) AS u (bucket, user_id, provider_id, model_id, endpoint_id, success, requests, unpriced_requests,
             input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, total_tokens, input_cost_nano_usd, output_cost_nano_usd, cache_read_cost_nano_usd, cache_write_cost_nano_usd, reasoning_cost_nano_usd, total_cost_nano_usd, latency_sum_ms, latency_count)
JOIN @extschema@.usage_models m ON m.model_id = u.model_id
LEFT JOIN @extschema@.usage_providers p ON p.provider_id = u.provider_id
LEFT JOIN @extschema@.usage_endpoints e ON e.endpoint_id = u.endpoint_id
GROUP BY u.bucket, u.user_id, p.name, m.name, e.name, u.success;
COMMENT ON VIEW @extschema@.usage_daily IS
'Usage per calendar day (usage_rollup_state.day_timezone), user, provider, model, endpoint and success, with names and USD costs; real-time (daily rollup plus the raw tail); readers see their own rows';
GRANT SELECT ON @extschema@.usage_daily TO tokenledger_reader, tokenledger_admin;
