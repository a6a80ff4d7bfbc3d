/*
 * ledger_event.h
 *    One validated, priced ledger row, shared by the single-row insert
 *    (ledger_insert.c) and the batch insert (batch_insert.c).
 *
 * Both paths run the same per-row steps: tl_event_prepare() validates the
 * arguments of usage_log_insert, resolves dimension keys and prices the
 * event; the caller writes the row; tl_events_account() then does the
 * bookkeeping that follows a recording (quota counters, settlement).
 */
#ifndef TOKENLEDGER_LEDGER_EVENT_H
#define TOKENLEDGER_LEDGER_EVENT_H

#include "postgres.h"
#include "fmgr.h"

/* Columns of the ledger INSERT, in the order of tl_event_columns. */
enum
{
	P_OCCURRED_AT = 0, P_EVENT_ID, P_TOTAL_TOKENS,
	P_INPUT_COST, P_OUTPUT_COST, P_CACHE_READ_COST, P_CACHE_WRITE_COST, P_REASONING_COST, P_TOTAL_COST,
	P_INPUT, P_CACHE_READ, P_CACHE_WRITE, P_CACHE_WRITE_1H, P_OUTPUT, P_REASONING,
	P_LATENCY_MS, P_MODEL_ID, P_ENDPOINT_ID, P_PRICE_ID, P_PROVIDER_ID, P_REQUEST_TYPE_ID,
	P_SERVICE_TIER, P_SUCCESS, P_USER_ID, P_REQUEST_ID, P_SESSION_ID, P_MESSAGE_ID,
	P_ERROR_TYPE, P_METADATA, N_PARAMS
};

/* Argument positions of usage_log_insert, as declared in install/30_insert.sql. */
enum
{
	ARG_USER_ID = 0, ARG_MODEL,
	ARG_INPUT, ARG_OUTPUT, ARG_CACHE_READ, ARG_CACHE_WRITE, ARG_CACHE_WRITE_1H, ARG_REASONING,
	ARG_PROVIDER, ARG_ENDPOINT, ARG_REQUEST_TYPE, ARG_SESSION_ID, ARG_MESSAGE_ID,
	ARG_REQUEST_ID, ARG_OCCURRED_AT, ARG_LATENCY_MS, ARG_SUCCESS, ARG_ERROR_TYPE,
	ARG_METADATA, ARG_SERVICE_TIER, ARG_RESERVATION_ID, N_INSERT_ARGS
};

/* Column list and types of the ledger INSERT (ledger_insert.c). */
extern const char tl_event_columns[];
extern const Oid tl_event_column_types[N_PARAMS];

typedef struct TlEvent
{
	Datum		values[N_PARAMS];	/* the ledger row; event_id is drawn by the writer */
	char		nulls[N_PARAMS];	/* SPI convention: 'n' null, ' ' not */
	char	   *user_id;
	bool		has_reservation;
	int64		reservation_id;
} TlEvent;

/*
 * Validates usage_log_insert's arguments in fcinfo (every check runs before
 * anything is written), resolves dimension keys and prices the event. The
 * caller must be connected to SPI. Raises the user-facing error on bad input.
 */
extern void tl_event_prepare(FunctionCallInfo fcinfo, TlEvent *ev);

/*
 * Bookkeeping after the ledger write, for the n events passed to the writer
 * (in input order): recorded[i] is false when event i's request id was
 * already in the ledger (nothing new was written). Adds the written events
 * to the quota counters and settles every event's quota reservation. On an
 * error, *failed is the event being settled (for the caller's message). The
 * caller must be connected to SPI.
 */
extern void tl_events_account(TlEvent *ev, const bool *recorded, int n, volatile int *failed);

#endif							/* TOKENLEDGER_LEDGER_EVENT_H */
