/*
 * rollup_support.c
 *    C support for rollups: waiting for in-flight ledger writers before the
 *    rollup watermark advances, and log-spaced latency histograms.
 *
 * Watermark handshake. usage_log_insert takes RowExclusiveLock on usage_log
 * before it draws an event id, and holds it until its transaction ends. The
 * rollup reads the sequence's last value (the candidate watermark) and then
 * waits, as CREATE INDEX CONCURRENTLY does, for every transaction that holds
 * a lock on usage_log conflicting with ShareLock. Every event id at or below
 * the candidate was drawn by a transaction that already held the lock when
 * the candidate was read, so once those transactions have ended, every row
 * with an id at or below the candidate is committed or gone for good. The
 * wait takes no lock itself, so new inserts are never blocked.
 *
 * Histograms. Latencies are counted in log-spaced buckets, two per power of
 * two: bucket 0 holds 0 ms, bucket 1 holds 1 ms, and for v >= 2 with
 * e = floor(log2 v) bucket 1 + 2e + (second half of the octave). A bucket's
 * upper bound is at most 1.5 times its lower bound, so a percentile read
 * from the histogram is within that factor of the exact one. Histograms are
 * int8[] with trailing empty buckets trimmed; they add elementwise.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "tokenledger.h"

#define TL_HIST_BUCKETS 64
/* Data of a one-dimensional array without nulls (checked by the callers). */
#define HIST_DATA(a) ((int64 *) ((char *) (a) + ARR_OVERHEAD_NONULLS(1)))

PG_FUNCTION_INFO_V1(usage_rollup_wait_for_writers);
PG_FUNCTION_INFO_V1(usage_latency_bucket);
PG_FUNCTION_INFO_V1(usage_hist_accum);
PG_FUNCTION_INFO_V1(usage_hist_merge);
PG_FUNCTION_INFO_V1(usage_hist_trim);
PG_FUNCTION_INFO_V1(usage_hist_quantile);
PG_FUNCTION_INFO_V1(usage_hist_add);
PG_FUNCTION_INFO_V1(usage_hist_negate);

/*
 * Waits until every transaction that was writing usage_log when this was
 * called has ended. Honours lock_timeout and statement_timeout.
 */
Datum
usage_rollup_wait_for_writers(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;
	Oid			relid = tl_state()->usage_log_oid;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	WaitForLockers(tag, ShareLock, false);
	PG_RETURN_VOID();
}

static int
latency_bucket(int32 v)
{
	int			e;

	if (v <= 0)
		return 0;
	if (v == 1)
		return 1;
	e = 31 - __builtin_clz((uint32) v);
	return 1 + 2 * e + ((v >> (e - 1)) & 1);
}

/* Largest latency (ms) that falls into bucket b. */
static int64
bucket_upper(int b)
{
	int			e,
				half;
	int64		lower;

	if (b <= 0)
		return 0;
	if (b <= 2)
		return 1;
	e = (b - 1) / 2;
	half = (b - 1) % 2;
	lower = ((int64) 1 << e) + (half ? ((int64) 1 << (e - 1)) : 0);
	return lower + ((int64) 1 << (e - 1)) - 1;
}

Datum
usage_latency_bucket(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(latency_bucket(PG_GETARG_INT32(0)));
}

static ArrayType *
hist_new(void)
{
	Datum		zeros[TL_HIST_BUCKETS];
	int			i;

	for (i = 0; i < TL_HIST_BUCKETS; i++)
		zeros[i] = Int64GetDatum(0);
	return construct_array(zeros, TL_HIST_BUCKETS, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static int64 *
hist_values(ArrayType *a, int *n, const char *what)
{
	if (ARR_NDIM(a) == 0)
	{
		*n = 0;
		return NULL;
	}
	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT8OID ||
		ARR_DIMS(a)[0] > TL_HIST_BUCKETS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a latency histogram", what),
				 errhint("Pass a histogram built by usage_latency_hist or read from a rollup table.")));
	*n = ARR_DIMS(a)[0];
	return HIST_DATA(a);
}

/*
 * The state of both aggregates is a full-length int8[], updated in place
 * when called as an aggregate (as float8_accum does), copied otherwise.
 */
static ArrayType *
hist_state(FunctionCallInfo fcinfo)
{
	ArrayType  *state;
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		aggcontext = CurrentMemoryContext;
	if (PG_ARGISNULL(0))
	{
		MemoryContext old = MemoryContextSwitchTo(aggcontext);

		state = hist_new();
		MemoryContextSwitchTo(old);
		return state;
	}
	state = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] != TL_HIST_BUCKETS || ARR_HASNULL(state) ||
		ARR_ELEMTYPE(state) != INT8OID)
		elog(ERROR, "tokenledger: malformed histogram state");
	if (!AggCheckCallContext(fcinfo, NULL))
		state = PG_GETARG_ARRAYTYPE_P_COPY(0);
	return state;
}

/* Transition function of usage_latency_hist(latency_ms int4). */
Datum
usage_hist_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hist_state(fcinfo);

	if (!PG_ARGISNULL(1))
		(HIST_DATA(state))[latency_bucket(PG_GETARG_INT32(1))]++;
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Transition function of usage_hist_sum(int8[]). */
Datum
usage_hist_merge(PG_FUNCTION_ARGS)
{
	ArrayType  *state = hist_state(fcinfo);
	int64	   *dst = HIST_DATA(state);
	int64	   *src;
	int			n,
				i;

	if (PG_ARGISNULL(1))
		PG_RETURN_ARRAYTYPE_P(state);
	src = hist_values(PG_GETARG_ARRAYTYPE_P(1), &n, "the argument");
	for (i = 0; i < n; i++)
		dst[i] += src[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Final function: drops trailing empty buckets ('{}' when all are empty). */
Datum
usage_hist_trim(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	int64	   *v;
	int			n;
	Datum	   *d;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	a = PG_GETARG_ARRAYTYPE_P(0);
	v = hist_values(a, &n, "the argument");
	while (n > 0 && v[n - 1] == 0)
		n--;
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	d = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * The q-quantile (0 < q <= 1) of a histogram, as the upper bound in ms of
 * the bucket holding the ceil(q * count)-th smallest latency; NULL when the
 * histogram is empty.
 */
Datum
usage_hist_quantile(PG_FUNCTION_ARGS)
{
	int64	   *v;
	int			n,
				i;
	int64		total = 0,
				seen = 0,
				rank;
	float8		q = PG_GETARG_FLOAT8(1);

	if (!(q > 0.0 && q <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantile must lie in (0, 1], got %g", q),
				 errhint("Pass 0.5 for the median, 0.95 for p95.")));
	v = hist_values(PG_GETARG_ARRAYTYPE_P(0), &n, "the argument");
	for (i = 0; i < n; i++)
		total += v[i];
	if (total == 0)
		PG_RETURN_NULL();
	rank = (int64) ceil(q * (float8) total);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < n; i++)
	{
		seen += v[i];
		if (seen >= rank)
			break;
	}
	PG_RETURN_INT64(bucket_upper(i));
}

/* Elementwise sum of two histograms; NULL counts as empty. */
Datum
usage_hist_add(PG_FUNCTION_ARGS)
{
	int64	   *a = NULL,
			   *b = NULL;
	int			na = 0,
				nb = 0,
				n,
				i;
	Datum	   *d;

	if (!PG_ARGISNULL(0))
		a = hist_values(PG_GETARG_ARRAYTYPE_P(0), &na, "the first argument");
	if (!PG_ARGISNULL(1))
		b = hist_values(PG_GETARG_ARRAYTYPE_P(1), &nb, "the second argument");
	n = Max(na, nb);
	while (n > 0 && (n > na || a[n - 1] == 0) && (n > nb || b[n - 1] == 0))
		n--;
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	d = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum((i < na ? a[i] : 0) + (i < nb ? b[i] : 0));
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A histogram with every count negated, to subtract it with usage_hist_add. */
Datum
usage_hist_negate(PG_FUNCTION_ARGS)
{
	int64	   *a;
	int			n,
				i;
	Datum	   *d;

	a = hist_values(PG_GETARG_ARRAYTYPE_P(0), &n, "the argument");
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	d = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(-a[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
