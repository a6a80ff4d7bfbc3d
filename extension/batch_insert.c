/*
 * batch_insert.c
 *    usage_log_insert_batch: record many LLM calls in one statement.
 *
 * Each element goes through the same per-row steps as usage_log_insert
 * (tl_event_prepare: validation, dimension keys, pricing; tl_events_account:
 * quota counters and settlement), but the writes are set-based: one INSERT claims every
 * request id of the batch and one INSERT writes every new ledger row. That
 * spends the executor's per-statement start-up (partition routing, index
 * opening) once per batch instead of once per event.
 *
 * A batch is all or nothing: the first bad element raises the error of
 * usage_log_insert, prefixed with its 1-based position in the arrays, and
 * the statement writes nothing.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "tokenledger.h"
#include "ledger_event.h"

PG_FUNCTION_INFO_V1(usage_log_insert_batch);

/* Element types of the batch function's array arguments, by position. */
static const Oid arg_element_types[N_INSERT_ARGS] = {
	TEXTOID, TEXTOID,
	INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TIMESTAMPTZOID, INT4OID, BOOLOID, TEXTOID,
	JSONBOID, TEXTOID, INT8OID
};

static const char *const arg_names[N_INSERT_ARGS] = {
	"user_id", "model",
	"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
	"cache_write_1h_tokens", "reasoning_tokens",
	"provider", "endpoint", "request_type", "session_id", "message_id",
	"request_id", "occurred_at", "latency_ms", "success", "error_type",
	"metadata", "service_tier", "reservation_id"
};

static SPIPlanPtr claim_plan;
static SPIPlanPtr find_plan;
static SPIPlanPtr insert_plan;
static uint64 plans_generation;

static void
prepare_plans(void)
{
	TlState    *st = tl_state();
	Oid			claim_types[3] = {TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID};
	Oid			insert_types[N_PARAMS];
	StringInfoData args;
	int			i;

	if (insert_plan != NULL && plans_generation == st->generation)
		return;
	if (insert_plan)
	{
		SPI_freeplan(claim_plan);
		SPI_freeplan(find_plan);
		SPI_freeplan(insert_plan);
	}

	/*
	 * ON CONFLICT waits for a concurrent holder of the same request id and
	 * then skips it: the ids it returns are exactly the events this batch
	 * records.
	 */
	claim_plan = tl_keep_plan(psprintf(
		"INSERT INTO %s (request_id, event_id, occurred_at) "
		"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) "
		"ON CONFLICT (request_id) DO NOTHING RETURNING event_id",
		tl_qualified("usage_request_ids")), 3, claim_types);
	find_plan = tl_keep_plan(psprintf(
		"SELECT request_id, event_id FROM %s WHERE request_id = ANY ($1)",
		tl_qualified("usage_request_ids")), 1, claim_types);

	initStringInfo(&args);
	for (i = 0; i < N_PARAMS; i++)
	{
		insert_types[i] = get_array_type(tl_event_column_types[i]);
		appendStringInfo(&args, "%spg_catalog.unnest($%d)", i ? ", " : "", i + 1);
	}
	insert_plan = tl_keep_plan(psprintf("INSERT INTO %s (%s) SELECT * FROM ROWS FROM (%s)",
										tl_qualified("usage_log"), tl_event_columns, args.data),
							   N_PARAMS, insert_types);
	plans_generation = st->generation;
}

/* The arrays of one call, deconstructed; elems == NULL for an omitted one. */
typedef struct BatchArgs
{
	int			n;
	Datum	   *elems[N_INSERT_ARGS];
	bool	   *nulls[N_INSERT_ARGS];
} BatchArgs;

static void
deconstruct_args(FunctionCallInfo fcinfo, BatchArgs *args)
{
	int			a;

	if (PG_ARGISNULL(ARG_USER_ID))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id must not be null"),
				 errhint("Pass an array with the app's user id of every event.")));
	args->n = -1;
	for (a = 0; a < N_INSERT_ARGS; a++)
	{
		ArrayType  *arr;
		int16		typlen;
		bool		typbyval;
		char		typalign;
		int			count;

		args->elems[a] = NULL;
		args->nulls[a] = NULL;
		if (PG_ARGISNULL(a))
			continue;
		arr = PG_GETARG_ARRAYTYPE_P(a);
		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%s must be a one-dimensional array", arg_names[a]),
					 errhint("Pass one element per event, in the same order in every array.")));
		get_typlenbyvalalign(arg_element_types[a], &typlen, &typbyval, &typalign);
		deconstruct_array(arr, arg_element_types[a], typlen, typbyval, typalign,
						  &args->elems[a], &args->nulls[a], &count);
		if (a == ARG_USER_ID)
			args->n = count;
		else if (count != args->n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%s has %d elements but user_id has %d", arg_names[a], count, args->n),
					 errhint("Every array describes the same events: give each one element per event, or omit it (NULL) to use the default for all.")));
	}
}

/*
 * Fills fcinfo with element i as usage_log_insert's arguments. An omitted
 * array or a NULL element takes usage_log_insert's default where it has a
 * non-NULL one (occurred_at now(), request_type 'chat', success true).
 */
static void
element_args(const BatchArgs *args, int i, FunctionCallInfo fc, Datum default_request_type)
{
	int			a;

	for (a = 0; a < N_INSERT_ARGS; a++)
	{
		bool		isnull = args->elems[a] == NULL || args->nulls[a][i];

		fc->args[a].isnull = isnull;
		fc->args[a].value = isnull ? (Datum) 0 : args->elems[a][i];
		if (!isnull)
			continue;
		switch (a)
		{
			case ARG_OCCURRED_AT:
				fc->args[a].value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
				fc->args[a].isnull = false;
				break;
			case ARG_REQUEST_TYPE:
				fc->args[a].value = default_request_type;
				fc->args[a].isnull = false;
				break;
			case ARG_SUCCESS:
				fc->args[a].value = BoolGetDatum(true);
				fc->args[a].isnull = false;
				break;
			default:
				break;
		}
	}
}

static int
compare_text(Datum a, Datum b)
{
	text	   *ta = DatumGetTextPP(a);
	text	   *tb = DatumGetTextPP(b);
	int			la = VARSIZE_ANY_EXHDR(ta);
	int			lb = VARSIZE_ANY_EXHDR(tb);
	int			c = memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), Min(la, lb));

	return c != 0 ? c : (la > lb) - (la < lb);
}

/* The element whose request id is rid, among claim_pos (sorted by it); -1 if none. */
static int
find_claim(TlEvent *ev, const int *claim_pos, int nclaims, Datum rid)
{
	int			lo = 0, hi = nclaims - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = compare_text(ev[claim_pos[mid]].values[P_REQUEST_ID], rid);

		if (c == 0)
			return claim_pos[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Orders element positions by request id (arg: the events), for qsort_arg. */
static int
compare_request_ids(const void *a, const void *b, void *arg)
{
	TlEvent    *ev = (TlEvent *) arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	int			c = compare_text(ev[ia].values[P_REQUEST_ID], ev[ib].values[P_REQUEST_ID]);

	/* equal ids keep input order, so the first occurrence leads its run */
	return c != 0 ? c : (ia > ib) - (ia < ib);
}

/* One column of the given rows as an array, for an unnest() parameter. */
static Datum
column_array(TlEvent *ev, const int *rows, int nrows, int col)
{
	Oid			type = tl_event_column_types[col];
	Datum	   *values = palloc(sizeof(Datum) * Max(nrows, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(nrows, 1));
	int			dims[1] = {nrows};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			r;

	for (r = 0; r < nrows; r++)
	{
		values[r] = ev[rows[r]].values[col];
		nulls[r] = ev[rows[r]].nulls[col] == 'n';
	}
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}

/*
 * Per-element errors name the element: its 1-based position is put in front
 * of usage_log_insert's message; SQLSTATE, detail and hint are kept.
 */
static void
rethrow_for_element(MemoryContext cxt, int element)
{
	ErrorData  *edata;
	int			category;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
	/* Only bad input belongs to an element; a cancel or an internal error does not. */
	if (category != ERRCODE_DATA_EXCEPTION && category != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
	{
		FreeErrorData(edata);
		PG_RE_THROW();
	}
	FlushErrorState();
	edata->message = psprintf("element %d of the batch: %s", element, edata->message);
	ReThrowError(edata);
}

/* Validates and prepares every element (tl_event_prepare), in order. */
static void
prepare_events(const BatchArgs *args, TlEvent *ev)
{
	LOCAL_FCINFO(fc, N_INSERT_ARGS);
	volatile int i = 0;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		chat = CStringGetTextDatum("chat");

	InitFunctionCallInfoData(*fc, NULL, N_INSERT_ARGS, InvalidOid, NULL, NULL);
	PG_TRY();
	{
		for (i = 0; i < args->n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			element_args(args, i, fc, chat);
			tl_event_prepare(fc, &ev[i]);
		}
	}
	PG_CATCH();
	{
		rethrow_for_element(cxt, i + 1);
	}
	PG_END_TRY();
}

/*
 * The bookkeeping after the write (tl_events_account, shared with
 * usage_log_insert). A settlement error names its element.
 */
static void
account_events(TlEvent *ev, const bool *recorded, int n)
{
	volatile int failed = -1;	/* read after the longjmp */
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		tl_events_account(ev, recorded, n, &failed);
	}
	PG_CATCH();
	{
		if (failed < 0)
			PG_RE_THROW();
		rethrow_for_element(cxt, failed + 1);
	}
	PG_END_TRY();
}

Datum
usage_log_insert_batch(PG_FUNCTION_ARGS)
{
	BatchArgs	args;
	TlEvent    *ev;
	int64	   *ids;
	bool	   *recorded;		/* this call wrote the element's ledger row */
	bool	   *found;			/* its request id was already in the ledger */
	int		   *claim_pos;		/* leaders with a request id, by request id */
	int		   *leader;			/* the first element with the same request id */
	int		   *order;
	int		   *rows;
	int			n, nrows, nclaims, i;
	Datum	   *claim_ids, *claim_events, *claim_times;
	int64	   *claimed;
	uint64		nclaimed;
	int			rc;
	Datum	   *result;
	int			dims[1], lbs[1] = {1};

	deconstruct_args(fcinfo, &args);
	n = args.n;
	/* Every element is prepared in memory at once (ev below). */
	if ((Size) n > MaxAllocSize / sizeof(TlEvent))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("batch of %d events is too large", n),
				 errdetail("A batch may hold at most %d events.", (int) (MaxAllocSize / sizeof(TlEvent))),
				 errhint("Split the events into several calls of usage_log_insert_batch, such as 1000 events at a time.")));
	ids = palloc0(sizeof(int64) * Max(n, 1));
	result = palloc(sizeof(Datum) * Max(n, 1));
	dims[0] = n;

	if (!tl_enabled)
	{
		/* Like usage_log_insert: nothing recorded, a NULL id per event. */
		bool	   *allnull = palloc(sizeof(bool) * Max(n, 1));

		memset(allnull, true, sizeof(bool) * Max(n, 1));
		PG_RETURN_ARRAYTYPE_P(construct_md_array(result, allnull, 1, dims, lbs, INT8OID,
												 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));

	ev = palloc(sizeof(TlEvent) * n);
	recorded = palloc0(sizeof(bool) * n);
	found = palloc0(sizeof(bool) * n);
	leader = palloc(sizeof(int) * n);
	order = palloc(sizeof(int) * n);
	rows = palloc(sizeof(int) * n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tokenledger: SPI_connect failed");
	prepare_events(&args, ev);

	/* Duplicate request ids within the batch: the first occurrence leads. */
	nclaims = 0;
	for (i = 0; i < n; i++)
	{
		leader[i] = i;
		if (ev[i].nulls[P_REQUEST_ID] != 'n')
			order[nclaims++] = i;
	}
	qsort_arg(order, nclaims, sizeof(int), compare_request_ids, ev);
	for (i = 1; i < nclaims; i++)
		if (compare_text(ev[order[i]].values[P_REQUEST_ID],
						 ev[order[i - 1]].values[P_REQUEST_ID]) == 0)
			leader[order[i]] = leader[order[i - 1]];

	prepare_plans();

	/*
	 * Lock the ledger before drawing ids, as usage_log_insert does: the
	 * rollup watermark waits for every holder of this lock. Ids are drawn
	 * in input order.
	 */
	LockRelationOid(tl_state()->usage_log_oid, RowExclusiveLock);
	for (i = 0; i < n; i++)
		if (leader[i] == i)
		{
			ids[i] = nextval_internal(tl_state()->event_seq_oid, false);
			ev[i].values[P_EVENT_ID] = Int64GetDatum(ids[i]);
		}

	/* Claim the request ids, in key order (kinder to the index). */
	claim_pos = palloc(sizeof(int) * Max(nclaims, 1));
	claim_ids = palloc(sizeof(Datum) * Max(nclaims, 1));
	claim_events = palloc(sizeof(Datum) * Max(nclaims, 1));
	claim_times = palloc(sizeof(Datum) * Max(nclaims, 1));
	{
		int			k = 0;

		for (i = 0; i < nclaims; i++)
		{
			int			e = order[i];

			if (leader[e] != e)
				continue;
			claim_pos[k] = e;
			claim_ids[k] = ev[e].values[P_REQUEST_ID];
			claim_events[k] = ev[e].values[P_EVENT_ID];
			claim_times[k] = ev[e].values[P_OCCURRED_AT];
			k++;
		}
		nclaims = k;
	}
	claimed = palloc(sizeof(int64) * Max(nclaims, 1));
	nclaimed = 0;
	if (nclaims > 0)
	{
		Datum		p[3];
		int			d[1] = {nclaims};

		p[0] = PointerGetDatum(construct_md_array(claim_ids, NULL, 1, d, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		p[1] = PointerGetDatum(construct_md_array(claim_events, NULL, 1, d, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		p[2] = PointerGetDatum(construct_md_array(claim_times, NULL, 1, d, lbs, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		rc = SPI_execute_plan(claim_plan, p, NULL, false, 0);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "tokenledger: claiming request ids failed: %s", SPI_result_code_string(rc));
		nclaimed = SPI_processed;
		for (i = 0; i < (int) nclaimed; i++)
		{
			bool		isnull;

			claimed[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_freetuptable(SPI_tuptable);
		qsort(claimed, nclaimed, sizeof(int64), compare_int64);
	}

	/* Leaders to record: no request id, or a request id this batch claimed. */
	nrows = 0;
	for (i = 0; i < n; i++)
	{
		if (leader[i] != i)
			continue;
		if (ev[i].nulls[P_REQUEST_ID] == 'n' ||
			bsearch(&ids[i], claimed, nclaimed, sizeof(int64), compare_int64) != NULL)
		{
			recorded[i] = true;
			rows[nrows++] = i;
		}
	}

	/* Request ids already in the ledger: return the original event ids. */
	if ((uint64) nclaims > nclaimed)
	{
		Datum		p[1];
		int			d[1] = {0};
		uint64		r;

		for (i = 0; i < nclaims; i++)
			if (!recorded[claim_pos[i]])
				claim_ids[d[0]++] = ev[claim_pos[i]].values[P_REQUEST_ID];
		p[0] = PointerGetDatum(construct_md_array(claim_ids, NULL, 1, d, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		rc = SPI_execute_plan(find_plan, p, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "tokenledger: request id lookup failed: %s", SPI_result_code_string(rc));
		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		rid = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
			int			e = find_claim(ev, claim_pos, nclaims, rid);

			if (e >= 0 && !recorded[e])
			{
				ids[e] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
				found[e] = true;
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}

	if (nrows > 0)
	{
		Datum		p[N_PARAMS];
		int			c;

		for (c = 0; c < N_PARAMS; c++)
			p[c] = column_array(ev, rows, nrows, c);
		rc = SPI_execute_plan(insert_plan, p, NULL, false, 0);
		if (rc != SPI_OK_INSERT || SPI_processed != (uint64) nrows)
			elog(ERROR, "tokenledger: batch ledger insert failed: %s", SPI_result_code_string(rc));
	}

	for (i = 0; i < n; i++)
	{
		if (leader[i] == i && !recorded[i] && !found[i])
			elog(ERROR, "tokenledger: request id vanished during deduplication");
		result[i] = Int64GetDatum(ids[leader[i]]);
	}
	account_events(ev, recorded, n);
	SPI_finish();

	PG_RETURN_ARRAYTYPE_P(construct_md_array(result, NULL, 1, dims, lbs, INT8OID,
											 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
