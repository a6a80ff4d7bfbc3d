/*
 * quota_decide.c
 *    quota_check and quota_reserve: the admission decision over a user's
 *    measured limits (quota_measure.c), in C because plpgsql versions cost
 *    more than the measurement itself.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "tokenledger.h"
#include "quota.h"

PG_FUNCTION_INFO_V1(quota_check);
PG_FUNCTION_INFO_V1(quota_reserve);

static SPIPlanPtr relief_plan;
static SPIPlanPtr lock_plan;
static SPIPlanPtr plan_exists_plan;
static SPIPlanPtr pin_plan;
static SPIPlanPtr hold_plan;
static SPIPlanPtr alerts_plan;
static uint64 plans_generation;

/* The answer: allowed, and the binding (or closest to binding) limit. */
typedef struct Decision
{
	bool		allowed;
	QuotaLimit *best;
	TimestampTz relief;			/* resets_at reported */
	bool		relief_null;
} Decision;

static void
prepare_plans(void)
{
	static const Oid relief_types[5] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, INTERVALOID, INT8OID};
	static const Oid text_types[2] = {TEXTOID, TEXTOID};
	static const Oid hold_types[5] = {TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, INTERVALOID};
	static const Oid alerts_types[2] = {TEXTOID, TIMESTAMPTZOID};

	if (relief_plan != NULL && plans_generation == tl_state()->generation)
		return;
	if (relief_plan)
	{
		SPI_freeplan(relief_plan);
		SPI_freeplan(lock_plan);
		SPI_freeplan(plan_exists_plan);
		SPI_freeplan(pin_plan);
		SPI_freeplan(hold_plan);
		SPI_freeplan(alerts_plan);
	}
	relief_plan = tl_keep_plan(psprintf("SELECT %s($1, $2, $3, $4, $5)",
										tl_qualified("quota_sliding_relief")), 5, relief_types);
	lock_plan = tl_keep_plan(psprintf("SELECT 1 FROM %s qu WHERE qu.user_id = $1 FOR UPDATE",
									  tl_qualified("quota_users")), 1, text_types);
	plan_exists_plan = tl_keep_plan(psprintf("SELECT 1 FROM %s qp WHERE qp.plan = $1",
											 tl_qualified("quota_plans")), 1, text_types);
	pin_plan = tl_keep_plan(psprintf("INSERT INTO %s (user_id, plan) VALUES ($1, $2) ON CONFLICT DO NOTHING",
									 tl_qualified("quota_users")), 2, text_types);
	hold_plan = tl_keep_plan(psprintf(
		"INSERT INTO %s (user_id, est_tokens, est_cost_nano_usd, created_at, expires_at) "
		"VALUES ($1, $2, $3, $4, $4 + $5) RETURNING reservation_id, expires_at",
		tl_qualified("quota_reservations")), 5, hold_types);
	alerts_plan = tl_keep_plan(psprintf("SELECT %s($1, ARRAY(SELECT x FROM %s($1, $2) x), $2)",
										tl_qualified("quota_fire_alerts"), tl_qualified("quota_measure")),
							   2, alerts_types);
	plans_generation = tl_state()->generation;
}

/*
 * The validation of quota_check_args (60_quota.sql), in C because a check
 * would otherwise spend a tenth of its time calling it: the same errors,
 * and est_cost in nano-USD. Keep the two in step.
 */
static int64
check_args(FunctionCallInfo fcinfo)
{
	Datum		usd;
	Datum		nano;

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id must not be null or empty"),
				 errhint("Pass the app's user id as text, the same one given to usage_log_insert.")));
	if (PG_ARGISNULL(1) || PG_GETARG_INT64(1) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("est_tokens must be zero or more"),
				 errhint("Pass the expected total tokens of the request (input plus maximum output), or 0.")));
	if (PG_ARGISNULL(2))
		return 0;
	usd = PG_GETARG_DATUM(2);
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, usd, NumericGetDatum(int64_to_numeric(0)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("est_cost must not be negative"),
				 errhint("Give amounts in USD as a non-negative numeric, such as 0.50.")));
	nano = DirectFunctionCall2(numeric_mul, usd, NumericGetDatum(int64_to_numeric(1000000000)));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, nano,
										  DirectFunctionCall2(numeric_trunc, nano, Int32GetDatum(0)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, usd, NumericGetDatum(int64_to_numeric(INT64CONST(9000000000))))))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("est_cost is not representable in nano-USD"),
				 errhint("Use at most 9 decimal places and less than 9e9 USD.")));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, nano));
}

static int
unit_of(int kind)
{
	return kind < 3 ? 0 : kind < 6 ? 1 : 2;		/* requests, tokens, usd */
}

static int64
estimate_for(int kind, int64 est_tokens, int64 est_cost)
{
	int			unit = unit_of(kind);

	return unit == 0 ? 1 : unit == 1 ? est_tokens : est_cost;
}

/* A measured amount in the API's unit: nano-USD as USD (scale 9), else as is. */
static Datum
display(int64 v, int kind)
{
	uint64		a;

	if (unit_of(kind) != 2)
		return NumericGetDatum(int64_to_numeric(v));
	a = v < 0 ? -(uint64) v : (uint64) v;
	return DirectFunctionCall3(numeric_in,
							   CStringGetDatum(psprintf("%s" UINT64_FORMAT ".%09" INT64_MODIFIER "u",
														v < 0 ? "-" : "", a / 1000000000,
														a % 1000000000)),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * Admits or denies a request of est_tokens and est_cost nano-USD: denied
 * when any limit lacks room. Reports the binding limit that relents last
 * (sliding: when enough of the oldest usage ages out), else the limit
 * closest to binding.
 */
static void
decide(QuotaMeasure *m, Datum user_id, int64 est_tokens, int64 est_cost, TimestampTz now,
	   Decision *d)
{
	int128		best_num = 0, best_den = 1;	/* closest-to-binding ratio */
	bool		have_ratio = false;

	d->allowed = !m->blocked;
	d->best = NULL;
	d->relief = 0;
	d->relief_null = true;
	if (m->blocked)
		return;
	for (int i = 0; i < m->n; i++)
	{
		QuotaLimit *x = &m->lim[i];
		int64		est = estimate_for(x->kind, est_tokens, est_cost);
		int128		need = (int128) x->used + x->reserved + est - x->limit;

		if (need > 0)
		{
			/* Denied by this limit; the binding one is the last to relent. */
			TimestampTz relief = x->resets_at;
			bool		relief_null = x->resets_null;
			QuotaWindow win = tl_quota_limit_windows[x->kind];

			if (win == W_MINUTE || win == W_HOUR)
			{
				int64		len = win == W_MINUTE ? USECS_PER_MINUTE : USECS_PER_HOUR;

				relief_null = true;
				if (need <= x->used)
				{
					Interval   *iv = palloc0(sizeof(Interval));
					Datum		args[5];
					int			rc;

					iv->time = len;
					args[0] = user_id;
					args[1] = CStringGetTextDatum(tl_quota_limit_units[x->kind]);
					args[2] = TimestampTzGetDatum(x->window_start);
					args[3] = IntervalPGetDatum(iv);
					args[4] = Int64GetDatum((int64) need);
					rc = SPI_execute_plan(relief_plan, args, NULL, true, 1);
					if (rc != SPI_OK_SELECT || SPI_processed != 1)
						elog(ERROR, "tokenledger: quota_sliding_relief failed: %s", SPI_result_code_string(rc));
					relief = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1, &relief_null));
				}
				if (relief_null)
				{
					relief = now + len;
					relief_null = false;
				}
			}
			if (d->allowed || (!relief_null && !d->relief_null && relief > d->relief))
			{
				d->best = x;
				d->relief = relief;
				d->relief_null = relief_null;
			}
			d->allowed = false;
		}
		else if (d->allowed)
		{
			/* Allowed so far: report the limit closest to binding (exact ratio). */
			int128		num = x->limit == 0 ? 0 : (int128) x->limit - x->used - x->reserved - est;
			int128		den = x->limit == 0 ? 1 : x->limit;

			if (!have_ratio || num * best_den < best_num * den)
			{
				d->best = x;
				best_num = num;
				best_den = den;
				have_ratio = true;
				d->relief = x->resets_at;
				d->relief_null = x->resets_null;
			}
		}
	}
}

/*
 * The quota_decision columns (allowed, limit_name, unit, used, reserved,
 * limit_value, remaining, resets_at, retry_after, blocked, block_reason,
 * plan) into out[0..11]; held is what this call itself holds (reserve).
 */
static void
decision_out(QuotaMeasure *m, Decision *d, TimestampTz now, int64 held, Datum *out, bool *out_null)
{
	for (int k = 0; k < 12; k++)
		out_null[k] = true;
	out[0] = BoolGetDatum(d->allowed);
	out[9] = BoolGetDatum(m->blocked);
	out[10] = m->block_reason;
	out[11] = m->plan;
	out_null[0] = out_null[9] = out_null[11] = false;
	out_null[10] = m->block_reason_null;
	if (m->blocked)
	{
		out[1] = CStringGetTextDatum("blocked");
		out_null[1] = false;
		return;
	}
	if (d->best != NULL)
	{
		QuotaLimit *b = d->best;
		int64		reserved = b->reserved + held;
		int64		remaining = b->limit - b->used - reserved;

		out[1] = CStringGetTextDatum(tl_quota_limit_names[b->kind]);
		out[2] = CStringGetTextDatum(tl_quota_limit_units[b->kind]);
		out[3] = display(b->used, b->kind);
		out[4] = display(reserved, b->kind);
		out[5] = display(b->limit, b->kind);
		out[6] = display(remaining > 0 ? remaining : 0, b->kind);
		for (int k = 1; k <= 6; k++)
			out_null[k] = false;
		out[7] = TimestampTzGetDatum(d->relief);
		out_null[7] = d->relief_null;
		if (!d->allowed)
		{
			/* greatest(ceil(seconds until relief), 1) */
			int64		us = d->relief - now;
			int64		secs = us <= 0 ? 0 : (us + USECS_PER_SEC - 1) / USECS_PER_SEC;

			out[8] = Int32GetDatum(secs < 1 ? 1 : (int32) Min(secs, PG_INT32_MAX));
			out_null[8] = d->relief_null;
		}
	}
}

static TupleDesc
result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "tokenledger: return type must be a row type");
	return BlessTupleDesc(desc);
}

/* Forms the result in the caller's context (the datums live in SPI's), then leaves SPI. */
static Datum
finish(TupleDesc desc, Datum *out, bool *out_null, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HeapTuple	tuple = heap_form_tuple(desc, out, out_null);

	MemoryContextSwitchTo(old);
	SPI_finish();
	return HeapTupleGetDatum(tuple);
}

/* quota_check(user_id, est_tokens, est_cost): read-only, holds nothing. */
Datum
quota_check(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	TupleDesc	desc = result_desc(fcinfo);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	QuotaMeasure m;
	Decision	d;
	Datum		out[12];
	bool		out_null[12];
	int64		est_cost;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tokenledger: SPI_connect failed");
	prepare_plans();
	est_cost = check_args(fcinfo);
	tl_quota_measure_user(PG_GETARG_TEXT_PP(0), now, true, &m, cxt);
	decide(&m, PG_GETARG_DATUM(0), PG_GETARG_INT64(1), est_cost, now, &d);
	decision_out(&m, &d, now, 0, out, out_null);
	PG_RETURN_DATUM(finish(desc, out, out_null, cxt));
}

/* Whether any limit has reached one of its alert thresholds (quota_fire_alerts has work). */
static bool
alert_due(QuotaMeasure *m)
{
	Datum	   *t;
	bool	   *t_null;
	int			n;

	if (m->thresholds_null || m->n == 0)
		return false;
	deconstruct_array(DatumGetArrayTypeP(m->thresholds), INT2OID, 2, true, TYPALIGN_SHORT,
					  &t, &t_null, &n);
	for (int i = 0; i < m->n; i++)
		for (int k = 0; k < n; k++)
			if (!t_null[k] && m->lim[i].limit > 0 &&
				(int128) m->lim[i].used * 100 >= (int128) DatumGetInt16(t[k]) * m->lim[i].limit)
				return true;
	return false;
}

/*
 * quota_reserve(user_id, est_tokens, est_cost, ttl): the hard cap. Locks the
 * user's quota_users row (pinning the default plan on first sight), measures
 * after the lock, holds the estimate if every limit has room, and records
 * any alert thresholds crossed. See quota_reserve in install/60_quota.sql.
 */
Datum
quota_reserve(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	TupleDesc	desc = result_desc(fcinfo);
	TimestampTz now;
	QuotaMeasure m;
	Decision	d;
	Datum		dec[12];
	bool		dec_null[12];
	Datum		out[14];
	bool		out_null[14];
	Datum		args[5];
	int64		est_cost;
	int64		held = 0;
	Interval   *ttl;
	Interval	zero = {0, 0, 0};
	Interval	day = {0, 1, 0};
	bool		isnull;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tokenledger: SPI_connect failed");
	prepare_plans();
	est_cost = check_args(fcinfo);
	ttl = PG_ARGISNULL(3) ? NULL : PG_GETARG_INTERVAL_P(3);
	if (ttl == NULL ||
		DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(ttl), IntervalPGetDatum(&zero))) <= 0 ||
		DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(ttl), IntervalPGetDatum(&day))) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must lie between 0 and 1 day"),
				 errhint("Pass how long the request may take before its hold lapses, such as interval '2 minutes'.")));

	/* One user's admissions queue here; other users never wait. */
	args[0] = PG_GETARG_DATUM(0);
	rc = SPI_execute_plan(lock_plan, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: locking the quota user failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		/*
		 * First sight: pin the default plan. A concurrent first sight waits
		 * on the same key, then both lock the one row.
		 */
		const char *dflt = GetConfigOption("tokenledger.default_plan", true, false);

		args[1] = CStringGetTextDatum(dflt != NULL && dflt[0] != '\0' ? dflt : "beta");
		rc = SPI_execute_plan(plan_exists_plan, &args[1], NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "tokenledger: quota plan lookup failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("quota plan \"%s\" does not exist", TextDatumGetCString(args[1])),
					 errhint("Create it with quota_plan_set, or set tokenledger.default_plan to an existing plan.")));
		rc = SPI_execute_plan(pin_plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "tokenledger: pinning the default plan failed: %s", SPI_result_code_string(rc));
		rc = SPI_execute_plan(lock_plan, args, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "tokenledger: locking the quota user failed: %s", SPI_result_code_string(rc));
	}

	/*
	 * A fresh snapshot, after the lock: every hold committed before it counts.
	 * Measured, and held from, the clock now, not the transaction start: in
	 * a transaction older than ttl the hold would expire before other
	 * sessions see it. Readers compare holds with their now(), never later
	 * than the clock, so every reader counts a hold for its whole ttl.
	 */
	now = GetCurrentTimestamp();
	tl_quota_measure_user(PG_GETARG_TEXT_PP(0), now, false, &m, cxt);
	decide(&m, PG_GETARG_DATUM(0), PG_GETARG_INT64(1), est_cost, now, &d);

	memset(out_null, true, sizeof(out_null));
	if (d.allowed)
	{
		args[0] = PG_GETARG_DATUM(0);
		args[1] = PG_GETARG_DATUM(1);
		args[2] = Int64GetDatum(est_cost);
		args[3] = TimestampTzGetDatum(now);
		args[4] = IntervalPGetDatum(ttl);
		rc = SPI_execute_plan(hold_plan, args, NULL, false, 1);
		if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
			elog(ERROR, "tokenledger: holding the reservation failed: %s", SPI_result_code_string(rc));
		out[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		out[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		out_null[0] = out_null[1] = false;
		if (d.best != NULL)
			held = estimate_for(d.best->kind, PG_GETARG_INT64(1), est_cost);
	}
	if (alert_due(&m))
	{
		args[0] = PG_GETARG_DATUM(0);
		args[1] = TimestampTzGetDatum(now);
		rc = SPI_execute_plan(alerts_plan, args, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "tokenledger: recording quota alerts failed: %s", SPI_result_code_string(rc));
	}

	/* The decision, and for an admission what is left after this hold. */
	decision_out(&m, &d, now, held, dec, dec_null);
	for (int k = 0; k < 12; k++)
	{
		out[2 + k] = dec[k];
		out_null[2 + k] = dec_null[k];
	}
	PG_RETURN_DATUM(finish(desc, out, out_null, cxt));
}
