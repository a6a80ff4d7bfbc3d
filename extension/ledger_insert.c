/*
 * ledger_insert.c
 *    usage_log_insert: validate, deduplicate and record one LLM call.
 *
 * This is the hot path every app call takes, so it runs in C with plans
 * prepared once per backend and dimension keys from a backend-local cache.
 * Every check runs before anything is written, and nothing is buffered:
 * the event is in the ledger when the caller's transaction commits.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "tokenledger.h"
#include "ledger_event.h"

PG_FUNCTION_INFO_V1(usage_log_insert);

#define N_BUCKETS 6
static const char *const bucket_names[N_BUCKETS] = {
	"input_tokens", "output_tokens", "cache_read_tokens",
	"cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens"
};

const Oid	tl_event_column_types[N_PARAMS] = {
	TIMESTAMPTZOID, INT8OID, INT8OID,
	INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
	INT4OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID,
	INT4OID, INT4OID, INT4OID, INT4OID, INT2OID, INT2OID,
	CHAROID, BOOLOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, JSONBOID
};

const char	tl_event_columns[] = "occurred_at, event_id, total_tokens, "
	"input_cost_nano_usd, output_cost_nano_usd, cache_read_cost_nano_usd, "
	"cache_write_cost_nano_usd, reasoning_cost_nano_usd, total_cost_nano_usd, "
	"input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, "
	"output_tokens, reasoning_tokens, latency_ms, model_id, endpoint_id, price_id, "
	"provider_id, request_type_id, service_tier, success, user_id, request_id, "
	"session_id, message_id, error_type, metadata";

static SPIPlanPtr insert_plan;
static SPIPlanPtr claim_and_insert_plan;
static SPIPlanPtr find_request_plan;
static SPIPlanPtr settle_plan;	/* quotas: settles a reservation */
static uint64 plans_generation;

static void
prepare_plans(void)
{
	TlState    *st = tl_state();
	const char *columns;
	char	   *row;
	Oid			settle_types[1] = {INT8OID};

	if (insert_plan != NULL && plans_generation == st->generation)
		return;
	if (insert_plan)
	{
		SPI_freeplan(insert_plan);
		SPI_freeplan(claim_and_insert_plan);
		SPI_freeplan(find_request_plan);
		SPI_freeplan(settle_plan);
	}
	columns = tl_event_columns;
	row = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
		"$18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29";

	insert_plan = tl_keep_plan(psprintf("INSERT INTO %s (%s) VALUES (%s)",
									 tl_qualified("usage_log"), columns, row),
							N_PARAMS, tl_event_column_types);

	/*
	 * With a request id, claiming it and recording the event are one
	 * statement: the claim waits for a concurrent holder of the same id and
	 * then yields no row, so nothing is recorded twice.
	 */
	claim_and_insert_plan = tl_keep_plan(psprintf(
		"WITH claim AS (INSERT INTO %s (request_id, event_id, occurred_at) "
		"VALUES ($%d, $%d, $%d) ON CONFLICT (request_id) DO NOTHING RETURNING 1) "
		"INSERT INTO %s (%s) SELECT %s FROM claim",
		tl_qualified("usage_request_ids"), P_REQUEST_ID + 1, P_EVENT_ID + 1, P_OCCURRED_AT + 1,
		tl_qualified("usage_log"), columns, row), N_PARAMS, tl_event_column_types);

	find_request_plan = tl_keep_plan(psprintf("SELECT event_id FROM %s WHERE request_id = $1",
										   tl_qualified("usage_request_ids")),
								  1, &tl_event_column_types[P_REQUEST_ID]);
	/* quotas: the reservation's estimate gives way to the recorded usage */
	settle_plan = tl_keep_plan(psprintf("DELETE FROM %s WHERE reservation_id = $1 RETURNING user_id",
									 tl_qualified("quota_reservations")), 1, settle_types);
	plans_generation = st->generation;
}

/*
 * quotas: the event settles its reservation. Deleting the hold in the same
 * transaction as the ledger insert swaps estimate for actual atomically. A
 * hold already released, swept or settled is no error: the usage is real.
 */
static void
settle_reservation(TlEvent *ev, const char *user_id)
{
	Datum		id;
	bool		isnull;
	int			rc;
	char	   *owner;

	if (!ev->has_reservation)
		return;
	id = Int64GetDatum(ev->reservation_id);
	rc = SPI_execute_plan(settle_plan, &id, NULL, false, 0);
	if (rc != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "tokenledger: settling reservation failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return;
	owner = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (strcmp(owner, user_id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reservation " INT64_FORMAT " belongs to another user", DatumGetInt64(id)),
				 errhint("Pass the reservation_id quota_reserve returned for this same user_id.")));
}

static void
reject(int sqlstate, const char *msg, const char *hint)
{
	ereport(ERROR, (errcode(sqlstate), errmsg("%s", msg), errhint("%s", hint)));
}

/* A required, non-empty text argument no longer than max_bytes. */
static char *
required_text(FunctionCallInfo fcinfo, int argno, const char *what, int max_bytes,
			  const char *hint)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		reject(ERRCODE_NULL_VALUE_NOT_ALLOWED, psprintf("%s must not be null", what), hint);
	t = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(t) == 0)
		reject(ERRCODE_INVALID_PARAMETER_VALUE, psprintf("%s must not be empty", what), hint);
	if (VARSIZE_ANY_EXHDR(t) > (Size) max_bytes)
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   psprintf("%s is longer than %d bytes", what, max_bytes), hint);
	return text_to_cstring(t);
}

/* An optional text argument: NULL (or empty, for names) means "none". */
static Datum
optional_text(FunctionCallInfo fcinfo, int argno, const char *what, int max_bytes,
			  bool *isnull)
{
	text	   *t;

	*isnull = PG_ARGISNULL(argno);
	if (*isnull)
		return (Datum) 0;
	t = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(t) > (Size) max_bytes)
		reject(ERRCODE_INVALID_PARAMETER_VALUE,
			   psprintf("%s is longer than %d bytes", what, max_bytes),
			   "Shorten the value; ids and names are short labels, not content.");
	return PointerGetDatum(t);
}

static char
service_tier_code(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(ARG_SERVICE_TIER))
		return 's';
	return tl_service_tier_code(text_to_cstring(PG_GETARG_TEXT_PP(ARG_SERVICE_TIER)));
}

static void
check_occurred_at(TimestampTz ts)
{
	TimestampTz limit;

	if (TIMESTAMP_NOT_FINITE(ts))
		reject(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE, "occurred_at must be a finite timestamp",
			   "Pass the time of the call, or omit occurred_at to use now().");
	limit = TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(),
										(int64) tl_max_future_skew_s * 1000);
	if (ts > limit)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("occurred_at lies too far in the future"),
				 errdetail("occurred_at is %s; the limit is %d seconds after the server's now().",
						   timestamptz_to_str(ts), tl_max_future_skew_s),
				 errhint("Check the app's clock and time zone, or raise tokenledger.max_future_skew.")));
}

static void
check_metadata(Jsonb *metadata)
{
	if (!JB_ROOT_IS_OBJECT(metadata) || JB_ROOT_IS_SCALAR(metadata))
		reject(ERRCODE_INVALID_PARAMETER_VALUE, "metadata must be a JSON object",
			   "Pass tags as an object such as {\"team\": \"search\"}, or NULL.");
	if (VARSIZE(metadata) > (Size) tl_max_metadata_bytes + VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata is too large"),
				 errdetail("It takes %zu bytes; the limit is %d.",
						   (Size) VARSIZE(metadata) - VARHDRSZ, tl_max_metadata_bytes),
				 errhint("Keep metadata to a few tags and never store message content; "
						 "an admin may raise tokenledger.max_metadata_bytes.")));
}

/* Validation, dimension keys and pricing of one event (see ledger_event.h). */
void
tl_event_prepare(FunctionCallInfo fcinfo, TlEvent *ev)
{
	Datum	   *values = ev->values;
	char	   *nulls = ev->nulls;
	int64		tokens[N_BUCKETS];
	int64		total = 0;
	int			i;
	char	   *user_id;
	char	   *model;
	bool		isnull;
	Datum		request_id;
	bool		request_id_null;
	TimestampTz occurred_at;

	/* Validate everything before writing anything. */
	user_id = required_text(fcinfo, ARG_USER_ID, "user_id", TL_ID_MAX,
							"Pass the app's user id as text; use a fixed id such as 'anonymous' for calls without a user.");
	model = required_text(fcinfo, ARG_MODEL, "model", TL_NAME_MAX,
						  "Pass the model id the provider reported, such as 'gpt-4o'.");

	for (i = 0; i < N_BUCKETS; i++)
	{
		tokens[i] = PG_ARGISNULL(ARG_INPUT + i) ? 0 : PG_GETARG_INT64(ARG_INPUT + i);
		if (tokens[i] < 0)
			reject(ERRCODE_INVALID_PARAMETER_VALUE,
				   psprintf("%s must not be negative", bucket_names[i]),
				   "Token counts are zero or more; map the provider's usage with usage_normalize.");
		if (tokens[i] > tl_max_tokens_per_event)
			reject(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
				   psprintf("%s is implausibly large", bucket_names[i]),
				   "Check the caller's units; tokenledger.max_tokens_per_event caps one event.");
		total += tokens[i];
	}
	if (total > tl_max_tokens_per_event)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("total token count is implausibly large"),
				 errdetail("The buckets add up to " INT64_FORMAT "; tokenledger.max_tokens_per_event is %d.",
						   total, tl_max_tokens_per_event),
				 errhint("Check the caller's units; the buckets are disjoint and must not repeat the same tokens.")));

	if (PG_ARGISNULL(ARG_OCCURRED_AT))
		reject(ERRCODE_NULL_VALUE_NOT_ALLOWED, "occurred_at must not be null",
			   "Omit occurred_at to record the call at now().");
	occurred_at = PG_GETARG_TIMESTAMPTZ(ARG_OCCURRED_AT);
	check_occurred_at(occurred_at);

	if (!PG_ARGISNULL(ARG_LATENCY_MS) && PG_GETARG_INT32(ARG_LATENCY_MS) < 0)
		reject(ERRCODE_INVALID_PARAMETER_VALUE, "latency_ms must not be negative",
			   "Pass the call's duration in milliseconds, or NULL when unknown.");
	if (PG_ARGISNULL(ARG_SUCCESS))
		reject(ERRCODE_NULL_VALUE_NOT_ALLOWED, "success must not be null",
			   "Pass true for a completed call and false for a failed one.");
	if (PG_ARGISNULL(ARG_REQUEST_TYPE))
		reject(ERRCODE_NULL_VALUE_NOT_ALLOWED, "request_type must not be null",
			   "Omit request_type for 'chat', or pass a type listed in usage_request_types.");
	if (!PG_ARGISNULL(ARG_METADATA))
		check_metadata(PG_GETARG_JSONB_P(ARG_METADATA));

	request_id = optional_text(fcinfo, ARG_REQUEST_ID, "request_id", TL_ID_MAX, &request_id_null);
	if (!request_id_null && VARSIZE_ANY_EXHDR(DatumGetTextPP(request_id)) == 0)
		reject(ERRCODE_INVALID_PARAMETER_VALUE, "request_id must not be empty",
			   "Pass a unique id per logical request (retries reuse it), or NULL to skip deduplication.");

	memset(nulls, ' ', N_PARAMS);
	values[P_REQUEST_ID] = request_id;
	nulls[P_REQUEST_ID] = request_id_null ? 'n' : ' ';
	values[P_SESSION_ID] = optional_text(fcinfo, ARG_SESSION_ID, "session_id", TL_ID_MAX, &isnull);
	nulls[P_SESSION_ID] = isnull ? 'n' : ' ';
	values[P_MESSAGE_ID] = optional_text(fcinfo, ARG_MESSAGE_ID, "message_id", TL_ID_MAX, &isnull);
	nulls[P_MESSAGE_ID] = isnull ? 'n' : ' ';
	values[P_ERROR_TYPE] = optional_text(fcinfo, ARG_ERROR_TYPE, "error_type", TL_NAME_MAX, &isnull);
	nulls[P_ERROR_TYPE] = isnull ? 'n' : ' ';
	values[P_SERVICE_TIER] = CharGetDatum(service_tier_code(fcinfo));
	/* Checked before the dimension lookups below, which may write. */
	(void) optional_text(fcinfo, ARG_PROVIDER, "provider", TL_NAME_MAX, &isnull);
	(void) optional_text(fcinfo, ARG_ENDPOINT, "endpoint", TL_NAME_MAX, &isnull);

	values[P_OCCURRED_AT] = TimestampTzGetDatum(occurred_at);
	values[P_TOTAL_TOKENS] = Int64GetDatum(total);
	values[P_INPUT] = Int32GetDatum((int32) tokens[0]);
	values[P_OUTPUT] = Int32GetDatum((int32) tokens[1]);
	values[P_CACHE_READ] = Int32GetDatum((int32) tokens[2]);
	values[P_CACHE_WRITE] = Int32GetDatum((int32) tokens[3]);
	values[P_CACHE_WRITE_1H] = Int32GetDatum((int32) tokens[4]);
	values[P_REASONING] = Int32GetDatum((int32) tokens[5]);
	values[P_LATENCY_MS] = PG_ARGISNULL(ARG_LATENCY_MS) ? (Datum) 0 : PG_GETARG_DATUM(ARG_LATENCY_MS);
	nulls[P_LATENCY_MS] = PG_ARGISNULL(ARG_LATENCY_MS) ? 'n' : ' ';
	values[P_SUCCESS] = PG_GETARG_DATUM(ARG_SUCCESS);
	values[P_USER_ID] = CStringGetTextDatum(user_id);
	values[P_METADATA] = PG_ARGISNULL(ARG_METADATA) ? (Datum) 0 : PG_GETARG_DATUM(ARG_METADATA);
	nulls[P_METADATA] = PG_ARGISNULL(ARG_METADATA) ? 'n' : ' ';
	ev->user_id = user_id;
	ev->has_reservation = !PG_ARGISNULL(ARG_RESERVATION_ID);
	ev->reservation_id = ev->has_reservation ? PG_GETARG_INT64(ARG_RESERVATION_ID) : 0;

	values[P_MODEL_ID] = Int32GetDatum(tl_dimension_id(TL_DIM_MODEL, model));
	values[P_REQUEST_TYPE_ID] = Int16GetDatum((int16) tl_dimension_id(TL_DIM_REQUEST_TYPE,
														text_to_cstring(PG_GETARG_TEXT_PP(ARG_REQUEST_TYPE))));
	nulls[P_PROVIDER_ID] = 'n';
	if (!PG_ARGISNULL(ARG_PROVIDER) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(ARG_PROVIDER)) > 0)
	{
		values[P_PROVIDER_ID] = Int16GetDatum((int16) tl_dimension_id(TL_DIM_PROVIDER,
														  text_to_cstring(PG_GETARG_TEXT_PP(ARG_PROVIDER))));
		nulls[P_PROVIDER_ID] = ' ';
	}
	nulls[P_ENDPOINT_ID] = 'n';
	if (!PG_ARGISNULL(ARG_ENDPOINT) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(ARG_ENDPOINT)) > 0)
	{
		values[P_ENDPOINT_ID] = Int32GetDatum(tl_dimension_id(TL_DIM_ENDPOINT,
												  text_to_cstring(PG_GETARG_TEXT_PP(ARG_ENDPOINT))));
		nulls[P_ENDPOINT_ID] = ' ';
	}

	/* Priced as of occurred_at; an unknown model stays unpriced (NULL). */
	{
		TlCost		cost;

		if (tl_price_at_insert && tl_price_event(model,
						   nulls[P_PROVIDER_ID] == 'n' ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(ARG_PROVIDER)),
						   DatumGetChar(values[P_SERVICE_TIER]), occurred_at, tokens, &cost))
		{
			values[P_INPUT_COST] = Int64GetDatum(cost.input);
			values[P_OUTPUT_COST] = Int64GetDatum(cost.output);
			values[P_CACHE_READ_COST] = Int64GetDatum(cost.cache_read);
			values[P_CACHE_WRITE_COST] = Int64GetDatum(cost.cache_write);
			values[P_REASONING_COST] = Int64GetDatum(cost.reasoning);
			values[P_TOTAL_COST] = Int64GetDatum(cost.total);
			values[P_PRICE_ID] = Int32GetDatum(cost.price_id);
		}
		else
		{
			for (i = P_INPUT_COST; i <= P_TOTAL_COST; i++)
				nulls[i] = 'n';
			nulls[P_PRICE_ID] = 'n';
		}
	}
}

/*
 * Bookkeeping after the ledger write, shared by usage_log_insert (n = 1)
 * and usage_log_insert_batch: per-row accounting belongs here so both paths
 * keep it. Quota counters are added set-based for a batch.
 */
void
tl_events_account(TlEvent *ev, const bool *recorded, int n, volatile int *failed)
{
	Datum	   *users = palloc(sizeof(Datum) * n);
	TimestampTz *at = palloc(sizeof(TimestampTz) * n);
	int64	   *tokens = palloc(sizeof(int64) * n);
	int64	   *cost = palloc(sizeof(int64) * n);
	int			counted = 0;
	int			i;

	prepare_plans();
	/* quotas: every row written counts (a deduplicated retry does not) */
	for (i = 0; i < n; i++)
	{
		if (!recorded[i])
			continue;
		users[counted] = ev[i].values[P_USER_ID];
		at[counted] = DatumGetTimestampTz(ev[i].values[P_OCCURRED_AT]);
		tokens[counted] = DatumGetInt64(ev[i].values[P_TOTAL_TOKENS]);
		cost[counted] = ev[i].nulls[P_TOTAL_COST] == 'n' ? 0 : DatumGetInt64(ev[i].values[P_TOTAL_COST]);
		counted++;
	}
	if (counted == 1)
		tl_quota_count(users[0], at[0], tokens[0], cost[0]);
	else if (counted > 1)
		tl_quota_count_many(counted, users, at, tokens, cost);
	for (i = 0; i < n; i++)
	{
		*failed = i;
		settle_reservation(&ev[i], ev[i].user_id);
	}
}

Datum
usage_log_insert(PG_FUNCTION_ARGS)
{
	TlEvent		ev;
	Datum	   *values = ev.values;
	char	   *nulls = ev.nulls;
	Datum		request_id;
	bool		isnull;
	int64		event_id;
	int			rc;
	bool		recorded;
	int			failed;

	if (!tl_enabled)
		PG_RETURN_NULL();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tokenledger: SPI_connect failed");
	tl_event_prepare(fcinfo, &ev);
	request_id = values[P_REQUEST_ID];
	prepare_plans();

	/*
	 * Lock the ledger before drawing the id: the rollup watermark waits for
	 * every holder of this lock (rollup_support.c), so no id is drawn unseen.
	 */
	LockRelationOid(tl_state()->usage_log_oid, RowExclusiveLock);
	event_id = nextval_internal(tl_state()->event_seq_oid, false);
	values[P_EVENT_ID] = Int64GetDatum(event_id);

	rc = SPI_execute_plan(nulls[P_REQUEST_ID] == 'n' ? insert_plan : claim_and_insert_plan,
						  values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "tokenledger: ledger insert failed: %s", SPI_result_code_string(rc));
	recorded = SPI_processed > 0;
	if (!recorded)
	{
		/* A retry: the first recording wins and its id is returned. */
		rc = SPI_execute_plan(find_request_plan, &request_id, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "tokenledger: request id vanished during deduplication");
		event_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	}
	tl_events_account(&ev, &recorded, 1, &failed);
	SPI_finish();

	PG_RETURN_INT64(event_id);
}
