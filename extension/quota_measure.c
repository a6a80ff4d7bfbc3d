/*
 * quota_measure.c
 *    quota_measure(user, now): every limit of a user with its usage, holds,
 *    window start and reset time. Every quota check and reservation calls it.
 *
 * Usage is summed from quota_usage_counters (UTC day, hour and minute
 * buckets kept by the insert path, quota_counters.c) plus the raw ledger
 * rows of a window's partial start, so it equals what the ledger says:
 *   - sliding minute and hour: whole minute buckets (and for the hour, whole
 *     hour buckets) after the start; the minute bucket holding the start
 *     counts whole when its first event is inside the window, else its
 *     ledger rows inside the window are read;
 *   - calendar day and month (plan time zone): ledger rows up to the first
 *     whole UTC hour (only for offsets that are not whole hours), hour
 *     buckets up to the first whole UTC day, then day buckets.
 * Every window runs to the end of time, so events stamped ahead of now
 * (within tokenledger.max_future_skew) count in the current window.
 * The calling transaction's events not yet in the counters count as if they
 * were, from the backend's queue (quota_counters.c); a measure never writes.
 * Written in C because it is the whole cost of a check: a handful of index
 * probes, no per-row interpretation. quota_decide.c decides over it.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "tokenledger.h"
#include "quota.h"

PG_FUNCTION_INFO_V1(quota_measure);

/* The limit kinds, in quota_limit_kinds() order. */
const char *const tl_quota_limit_names[N_LIMITS] = {
	"requests_per_minute", "requests_per_hour", "requests_per_day", "tokens_per_minute",
	"tokens_per_day", "tokens_per_month", "cost_per_day", "cost_per_month"
};
const char *const tl_quota_limit_units[N_LIMITS] = {
	"requests", "requests", "requests", "tokens", "tokens", "tokens", "usd", "usd"
};
const QuotaWindow tl_quota_limit_windows[N_LIMITS] = {
	W_MINUTE, W_HOUR, W_DAY, W_MINUTE, W_DAY, W_MONTH, W_DAY, W_MONTH
};
static const char *const window_names[4] = {"minute", "hour", "day", "month"};

static SPIPlanPtr user_plan;
static SPIPlanPtr limits_plan;
static SPIPlanPtr overrides_plan;
static SPIPlanPtr counters_plan;
static SPIPlanPtr raw_recent_plan;
static SPIPlanPtr raw_calendar_plan;
static uint64 plans_generation;

/* Usage of one window: requests, tokens, cost and its earliest event. */
typedef struct Usage
{
	int64		requests;
	int64		tokens;
	int64		cost;
	TimestampTz first;			/* DT_NOEND when none */
} Usage;

static void
usage_add(Usage *u, int64 requests, int64 tokens, int64 cost, TimestampTz first)
{
	u->requests += requests;
	u->tokens += tokens;
	u->cost += cost;
	if (first < u->first)
		u->first = first;
}

static TimestampTz
floor_to(TimestampTz ts, int64 unit)
{
	int64		r = ts % unit;

	return r < 0 ? ts - r - unit : ts - r;
}

static TimestampTz
ceil_to(TimestampTz ts, int64 unit)
{
	return floor_to(ts + unit - 1, unit);
}

static void
prepare_plans(void)
{
	static const Oid user_types[1] = {TEXTOID};
	static const Oid limits_types[3] = {TEXTOID, JSONBOID, TIMESTAMPTZOID};
	static const Oid counters_types[7] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	static const Oid raw_types[7] = {TEXTOID,
	BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	TlState    *st = tl_state();
	char	   *counters = tl_qualified("quota_usage_counters");
	char	   *ledger = tl_qualified("usage_log");
	const char *bucket_cols = "c.bucket, c.requests, c.tokens, c.cost_nano_usd, c.first_at";
	const char *raw_cols = "l.occurred_at, l.total_tokens, coalesce(l.total_cost_nano_usd, 0)";
	char	   *limits_sql;

	if (user_plan != NULL && plans_generation == st->generation)
		return;
	if (user_plan)
	{
		SPI_freeplan(user_plan);
		SPI_freeplan(limits_plan);
		SPI_freeplan(overrides_plan);
		SPI_freeplan(counters_plan);
		SPI_freeplan(raw_recent_plan);
		SPI_freeplan(raw_calendar_plan);
	}
	user_plan = tl_keep_plan(psprintf(
		"SELECT qu.plan, qu.overrides, qu.blocked, qu.block_reason, qu.overrides <> '{}' "
		"FROM %s qu WHERE qu.user_id = $1",
		tl_qualified("quota_users")), 1, user_types);
	/*
	 * The plan with the user's overrides, and its calendar windows; users
	 * without overrides (most) skip the jsonb round trip.
	 */
	limits_sql = psprintf(
		"SELECT p.alert_thresholds, p.requests_per_minute, p.requests_per_hour, p.requests_per_day, "
		"p.tokens_per_minute, p.tokens_per_day, p.tokens_per_month, p.cost_per_day_nano_usd, "
		"p.cost_per_month_nano_usd, "
		"pg_catalog.date_trunc('day', l.t) AT TIME ZONE z.tz, "
		"pg_catalog.date_trunc('month', l.t) AT TIME ZONE z.tz, "
		"(pg_catalog.date_trunc('day', l.t) + interval '1 day') AT TIME ZONE z.tz, "
		"(pg_catalog.date_trunc('month', l.t) + interval '1 month') AT TIME ZONE z.tz "
		"FROM %s qp CROSS JOIN LATERAL %s p "
		"CROSS JOIN LATERAL (SELECT coalesce(p.timezone, "
		"nullif(pg_catalog.current_setting('tokenledger.timezone', true), ''), 'UTC') AS tz) z "
		"CROSS JOIN LATERAL (SELECT $3 AT TIME ZONE z.tz AS t) l "
		"WHERE qp.plan = $1", tl_qualified("quota_plans"), "%s");
	limits_plan = tl_keep_plan(psprintf(limits_sql, "(SELECT qp.*) "), 3, limits_types);
	overrides_plan = tl_keep_plan(psprintf(limits_sql, "pg_catalog.jsonb_populate_record(qp, $2)"),
								  3, limits_types);
	/* Buckets: minutes, two disjoint hour ranges, days; then the live holds. */
	counters_plan = tl_keep_plan(psprintf(
		"SELECT 0, %s FROM %s c WHERE c.user_id = $1 AND c.grain = 'm' AND c.bucket >= $2 "
		"UNION ALL SELECT 1, %s FROM %s c WHERE c.user_id = $1 AND c.grain = 'h' AND c.bucket >= $3 "
		"UNION ALL SELECT 1, %s FROM %s c WHERE c.user_id = $1 AND c.grain = 'h' AND c.bucket >= $4 AND c.bucket < $5 "
		"UNION ALL SELECT 2, %s FROM %s c WHERE c.user_id = $1 AND c.grain = 'd' AND c.bucket >= $6 "
		"UNION ALL SELECT 3, NULL::timestamptz, count(*), coalesce(sum(q.est_tokens), 0)::bigint, "
		"coalesce(sum(q.est_cost_nano_usd), 0)::bigint, NULL::timestamptz "
		"FROM %s q WHERE q.user_id = $1 AND q.expires_at > $7",
		bucket_cols, counters, bucket_cols, counters, bucket_cols, counters, bucket_cols, counters,
		tl_qualified("quota_reservations")), 7, counters_types);
	/*
	 * Ledger rows of partial window starts; a false flag skips its range.
	 * Each arm starts a scan of every ledger partition its range may reach,
	 * so the sliding windows' edges (most checks of a busy user) and the
	 * calendar ones (time zones off the whole hour) are separate queries.
	 */
	raw_recent_plan = tl_keep_plan(psprintf(
		"SELECT 0, %s FROM %s l WHERE $2 AND l.user_id = $1 AND l.occurred_at > $3 AND l.occurred_at < $4 "
		"UNION ALL SELECT 1, %s FROM %s l WHERE $5 AND l.user_id = $1 AND l.occurred_at > $6 AND l.occurred_at < $7",
		raw_cols, ledger, raw_cols, ledger), 7, raw_types);
	raw_calendar_plan = tl_keep_plan(psprintf(
		"SELECT 2, %s FROM %s l WHERE $2 AND l.user_id = $1 AND l.occurred_at >= $3 AND l.occurred_at < $4 "
		"UNION ALL SELECT 3, %s FROM %s l WHERE $5 AND l.user_id = $1 AND l.occurred_at >= $6 AND l.occurred_at < $7",
		raw_cols, ledger, raw_cols, ledger), 7, raw_types);
	plans_generation = st->generation;
}

static int64
get_int8(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/*
 * Adds the ledger rows of two partial window starts, between lo and hi for
 * each flag that is set (the plan decides which bounds are inclusive), to
 * the windows w its rows name (0..3: minute, hour, day, month).
 */
static void
add_raw_edges(SPIPlanPtr plan, text *user_id, bool read_only, Usage *w,
			  bool first, TimestampTz first_lo, TimestampTz first_hi,
			  bool second, TimestampTz second_lo, TimestampTz second_hi)
{
	Datum		args[7];
	bool		isnull;
	int			rc;
	uint64		r;

	args[0] = PointerGetDatum(user_id);
	args[1] = BoolGetDatum(first);
	args[2] = TimestampTzGetDatum(first_lo);
	args[3] = TimestampTzGetDatum(first_hi);
	args[4] = BoolGetDatum(second);
	args[5] = TimestampTzGetDatum(second_lo);
	args[6] = TimestampTzGetDatum(second_hi);
	rc = SPI_execute_plan(plan, args, NULL, read_only, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: reading quota window edges failed: %s", SPI_result_code_string(rc));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		int32		kind = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		TimestampTz at = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));

		usage_add(&w[kind], 1, get_int8(t, d, 3, &isnull), get_int8(t, d, 4, &isnull), at);
	}
}

/*
 * Measures every limit of user_id at now into *m. Call inside SPI; the
 * text and array datums in *m are copied into cxt.
 */
void
tl_quota_measure_user(text *user_id, TimestampTz now, bool read_only, QuotaMeasure *m,
					  MemoryContext cxt)
{
	Datum		out[4] = {0};
	bool		out_null[4];
	Datum		args[7];
	bool		isnull;
	bool		any_limit = false;
	bool		overrides;
	int64		lim[N_LIMITS];
	bool		lim_null[N_LIMITS];
	TimestampTz day0, month0, day_end, month_end;
	TimestampTz a_m, a_h, m1_m, m1_h, h1_h, h1_d, d1_d, h1_mo, d1_mo, e_m, e_h, ha_lo, hb_hi;
	Usage		w[4];
	Usage		edge_m = {0, 0, 0, DT_NOEND};
	Usage		edge_h = {0, 0, 0, DT_NOEND};
	int64		res_n = 0, res_tokens = 0, res_cost = 0;
	bool		raw_m, raw_h;
	int			rc;
	int			i;
	uint64		r;
	uint64		nrows;
	TlQueuedEvent *queued;
	int			nqueued;
	MemoryContext old;

	prepare_plans();
	memset(out_null, true, sizeof(out_null));
	m->n = 0;

	/*
	 * This transaction's own events count too. Its queued ones are added from
	 * memory below, never written here: writing would lock the user's counter
	 * rows until this transaction ends, blocking every other commit for the
	 * user. Those an earlier flush wrote need a snapshot that sees the flush.
	 */
	if (read_only && ActiveSnapshotSet() &&
		tl_quota_counters_flushed_since(GetActiveSnapshot()->curcid))
		read_only = false;

	/* The user's plan, overrides and block; unknown users follow the default plan. */
	args[0] = PointerGetDatum(user_id);
	rc = SPI_execute_plan(user_plan, args, NULL, read_only, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: quota user lookup failed: %s", SPI_result_code_string(rc));
	out[1] = BoolGetDatum(false);		/* blocked */
	args[1] = (Datum) 0;
	overrides = false;
	if (SPI_processed == 1)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;

		out[0] = SPI_getbinval(t, d, 1, &isnull);
		args[1] = SPI_getbinval(t, d, 2, &isnull);
		overrides = DatumGetBool(SPI_getbinval(t, d, 5, &isnull));
		out[1] = SPI_getbinval(t, d, 3, &isnull);
		out[2] = SPI_getbinval(t, d, 4, &out_null[2]);
		if (!out_null[2])
			out[2] = PointerGetDatum(PG_DETOAST_DATUM_COPY(out[2]));
	}
	else
	{
		/* As quota_default_plan(): the setting, else beta. */
		const char *dflt = GetConfigOption("tokenledger.default_plan", true, false);

		out[0] = CStringGetTextDatum(dflt != NULL && dflt[0] != '\0' ? dflt : "beta");
	}
	out_null[0] = out_null[1] = false;

	args[0] = out[0];
	args[2] = TimestampTzGetDatum(now);
	rc = SPI_execute_plan(overrides ? overrides_plan : limits_plan, args, overrides ? NULL : " n ", read_only, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: quota plan lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("quota plan \"%s\" does not exist", TextDatumGetCString(out[0])),
				 errhint("Create it with quota_plan_set, or set tokenledger.default_plan to an existing plan.")));
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;

		out[3] = SPI_getbinval(t, d, 1, &out_null[3]);	/* thresholds */
		if (!out_null[3])
			out[3] = PointerGetDatum(PG_DETOAST_DATUM_COPY(out[3]));
		for (i = 0; i < N_LIMITS; i++)
		{
			lim[i] = get_int8(t, d, 2 + i, &lim_null[i]);
			any_limit |= !lim_null[i];
		}
		day0 = DatumGetTimestampTz(SPI_getbinval(t, d, 10, &isnull));
		month0 = DatumGetTimestampTz(SPI_getbinval(t, d, 11, &isnull));
		day_end = DatumGetTimestampTz(SPI_getbinval(t, d, 12, &isnull));
		month_end = DatumGetTimestampTz(SPI_getbinval(t, d, 13, &isnull));
	}
	old = MemoryContextSwitchTo(cxt);
	m->plan = datumCopy(out[0], false, -1);
	m->blocked = DatumGetBool(out[1]);
	m->block_reason_null = out_null[2];
	m->block_reason = out_null[2] ? (Datum) 0 : datumCopy(out[2], false, -1);
	m->thresholds_null = out_null[3];
	m->thresholds = out_null[3] ? (Datum) 0 : datumCopy(out[3], false, -1);
	MemoryContextSwitchTo(old);
	if (!any_limit)
		return;					/* plan and block only */

	a_m = now - USECS_PER_MINUTE;
	a_h = now - USECS_PER_HOUR;
	m1_m = floor_to(a_m, USECS_PER_MINUTE) + USECS_PER_MINUTE;
	m1_h = floor_to(a_h, USECS_PER_MINUTE) + USECS_PER_MINUTE;
	e_m = m1_m - USECS_PER_MINUTE;
	e_h = m1_h - USECS_PER_MINUTE;
	h1_h = ceil_to(m1_h, USECS_PER_HOUR);
	h1_d = ceil_to(day0, USECS_PER_HOUR);
	d1_d = ceil_to(h1_d, USECS_PER_DAY);
	h1_mo = ceil_to(month0, USECS_PER_HOUR);
	d1_mo = ceil_to(h1_mo, USECS_PER_DAY);
	/* Hour buckets: one range from the earliest the hour or day reads, one for the month. */
	ha_lo = (h1_d < d1_d && h1_d < h1_h) ? h1_d : h1_h;
	hb_hi = d1_mo < ha_lo ? d1_mo : ha_lo;
	for (i = 0; i < 4; i++)
	{
		w[i].requests = w[i].tokens = w[i].cost = 0;
		w[i].first = DT_NOEND;
	}

	args[0] = PointerGetDatum(user_id);
	args[1] = TimestampTzGetDatum(e_h);
	args[2] = TimestampTzGetDatum(ha_lo);
	args[3] = TimestampTzGetDatum(h1_mo);
	args[4] = TimestampTzGetDatum(hb_hi);
	args[5] = TimestampTzGetDatum(d1_mo < d1_d ? d1_mo : d1_d);
	args[6] = TimestampTzGetDatum(now);
	rc = SPI_execute_plan(counters_plan, args, NULL, read_only, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: reading quota counters failed: %s", SPI_result_code_string(rc));
	/* The counter rows, then the queued events, each in its minute, hour and day bucket. */
	nrows = SPI_processed;
	nqueued = tl_quota_queued_events(user_id, &queued);
	for (r = 0; r < nrows + 3 * (uint64) nqueued; r++)
	{
		int32		kind;
		int64		n;
		int64		tokens;
		int64		cost;
		TimestampTz b;
		TimestampTz first;

		if (r < nrows)
		{
			HeapTuple	t = SPI_tuptable->vals[r];
			TupleDesc	d = SPI_tuptable->tupdesc;

			kind = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
			n = get_int8(t, d, 3, &isnull);
			tokens = get_int8(t, d, 4, &isnull);
			cost = get_int8(t, d, 5, &isnull);
			if (kind == 3)
			{
				res_n = n;
				res_tokens = tokens;
				res_cost = cost;
				continue;
			}
			b = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));
			first = DatumGetTimestampTz(SPI_getbinval(t, d, 6, &isnull));
		}
		else
		{
			TlQueuedEvent *e = &queued[(r - nrows) / 3];

			kind = (r - nrows) % 3;
			n = 1;
			tokens = e->tokens;
			cost = e->cost_nano_usd;
			first = e->occurred_at;
			b = floor_to(first, kind == 0 ? USECS_PER_MINUTE : kind == 1 ? USECS_PER_HOUR : USECS_PER_DAY);
		}
		if (kind == 0)			/* minute */
		{
			if (b >= m1_m)
				usage_add(&w[W_MINUTE], n, tokens, cost, first);
			else if (b == e_m)
				usage_add(&edge_m, n, tokens, cost, first);
			if (b >= m1_h && b < h1_h)
				usage_add(&w[W_HOUR], n, tokens, cost, first);
			else if (b == e_h)
				usage_add(&edge_h, n, tokens, cost, first);
		}
		else if (kind == 1)		/* hour */
		{
			if (b >= h1_h)
				usage_add(&w[W_HOUR], n, tokens, cost, first);
			if (b >= h1_d && b < d1_d)
				usage_add(&w[W_DAY], n, tokens, cost, first);
			if (b >= h1_mo && b < d1_mo)
				usage_add(&w[W_MONTH], n, tokens, cost, first);
		}
		else					/* day */
		{
			if (b >= d1_d)
				usage_add(&w[W_DAY], n, tokens, cost, first);
			if (b >= d1_mo)
				usage_add(&w[W_MONTH], n, tokens, cost, first);
		}
	}

	/* An edge minute whose first event is inside the window counts whole. */
	raw_m = edge_m.requests > 0 && edge_m.first <= a_m;
	raw_h = edge_h.requests > 0 && edge_h.first <= a_h;
	if (edge_m.requests > 0 && !raw_m)
		usage_add(&w[W_MINUTE], edge_m.requests, edge_m.tokens, edge_m.cost, edge_m.first);
	if (edge_h.requests > 0 && !raw_h)
		usage_add(&w[W_HOUR], edge_h.requests, edge_h.tokens, edge_h.cost, edge_h.first);
	if (raw_m || raw_h)
		add_raw_edges(raw_recent_plan, user_id, read_only, w,
					  raw_m, a_m, m1_m, raw_h, a_h, m1_h);
	if (day0 < h1_d || month0 < h1_mo)
		add_raw_edges(raw_calendar_plan, user_id, read_only, w,
					  day0 < h1_d, day0, h1_d, month0 < h1_mo, month0, h1_mo);

	for (i = 0; i < N_LIMITS; i++)
	{
		QuotaWindow win = tl_quota_limit_windows[i];
		QuotaLimit *x = &m->lim[m->n];
		int			unit = i < 3 ? 0 : i < 6 ? 1 : 2;	/* requests, tokens, usd */

		if (lim_null[i])
			continue;
		m->n++;
		x->kind = i;
		x->limit = lim[i];
		x->used = unit == 0 ? w[win].requests : unit == 1 ? w[win].tokens : w[win].cost;
		x->reserved = unit == 0 ? res_n : unit == 1 ? res_tokens : res_cost;
		x->resets_null = false;
		switch (win)
		{
			case W_MINUTE:
			case W_HOUR:
				{
					int64		len = win == W_MINUTE ? USECS_PER_MINUTE : USECS_PER_HOUR;

					x->window_start = now - len;
					x->resets_at = w[win].first + len;
					x->resets_null = w[win].requests == 0;
					break;
				}
			case W_DAY:
				x->window_start = day0;
				x->resets_at = day_end;
				break;
			case W_MONTH:
				x->window_start = month0;
				x->resets_at = month_end;
				break;
		}
	}
}

Datum
quota_measure(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	QuotaMeasure m;
	Datum		out[13];
	bool		out_null[13];

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tokenledger: SPI_connect failed");
	tl_quota_measure_user(PG_GETARG_TEXT_PP(0), PG_GETARG_TIMESTAMPTZ(1), true, &m, cxt);
	SPI_finish();

	memset(out_null, true, sizeof(out_null));
	out[0] = m.plan;
	out_null[0] = false;
	out[1] = BoolGetDatum(m.blocked);
	out_null[1] = false;
	out[2] = m.block_reason;
	out_null[2] = m.block_reason_null;
	out[3] = m.thresholds;
	out_null[3] = m.thresholds_null;
	if (m.n == 0)
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, out_null);
	for (int i = 0; i < m.n; i++)
	{
		QuotaLimit *x = &m.lim[i];
		QuotaWindow win = tl_quota_limit_windows[x->kind];

		out[4] = CStringGetTextDatum(tl_quota_limit_names[x->kind]);
		out[5] = CStringGetTextDatum(tl_quota_limit_units[x->kind]);
		out[6] = CStringGetTextDatum(window_names[win]);
		out[7] = BoolGetDatum(win == W_MINUTE || win == W_HOUR);
		out[8] = Int64GetDatum(x->limit);
		out[9] = Int64GetDatum(x->used);
		out[10] = Int64GetDatum(x->reserved);
		out[11] = TimestampTzGetDatum(x->window_start);
		out[12] = TimestampTzGetDatum(x->resets_at);
		for (int k = 4; k <= 12; k++)
			out_null[k] = false;
		out_null[12] = x->resets_null;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, out_null);
	}
	return (Datum) 0;
}

