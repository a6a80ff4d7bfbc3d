/*
 * tokenledger.h
 *    Declarations shared by the tokenledger extension's C files.
 */
#ifndef TOKENLEDGER_H
#define TOKENLEDGER_H

#include "postgres.h"
#include "executor/spi.h"
#include "utils/timestamp.h"

/* Settings (tokenledger.c) */
extern bool tl_enabled;
extern int	tl_max_tokens_per_event;
extern int	tl_max_metadata_bytes;
extern int	tl_max_future_skew_s;
extern bool tl_price_at_insert;

/* Longest provider, model, endpoint or request type name, in bytes. */
#define TL_NAME_MAX 200
/* Longest user, request, session or message id, in bytes. */
#define TL_ID_MAX 256

/*
 * Where the extension's objects live, resolved once per backend and again
 * after any relcache invalidation of its tables (extension_state.c).
 */
typedef struct TlState
{
	bool		valid;
	Oid			schema_oid;
	char	   *schema_name;	/* quoted, in TopMemoryContext */
	Oid			usage_log_oid;
	Oid			event_seq_oid;
	Oid			dimension_oids[4];
	uint64		generation;		/* bumped each time the state is rebuilt */
} TlState;

extern TlState *tl_state(void);
extern bool tl_extension_present(void);
extern char *tl_qualified(const char *name);
extern SPIPlanPtr tl_keep_plan(const char *sql, int nargs, const Oid *argtypes);

/* Dimensions (dimension_cache.c) */
typedef enum TlDimension
{
	TL_DIM_PROVIDER = 0,
	TL_DIM_MODEL,
	TL_DIM_ENDPOINT,
	TL_DIM_REQUEST_TYPE
} TlDimension;

#define TL_DIM_COUNT 4
extern const char *const tl_dimension_tables[TL_DIM_COUNT];

extern int32 tl_dimension_id(TlDimension dim, const char *name);
extern void tl_dimension_cache_reset(void);
extern void tl_dimension_xact_end(bool committed, bool top_level);

/* Pricing (pricing.c): costs in nano-USD from the backend's price cache. */
typedef struct TlCost
{
	int64		input;
	int64		output;
	int64		cache_read;
	int64		cache_write;	/* 5-minute plus 1-hour writes */
	int64		reasoning;
	int64		request;
	int64		total;
	int32		price_id;
} TlCost;

extern bool tl_price_event(const char *model, const char *provider, char tier,
						   TimestampTz at, const int64 *tokens, TlCost *cost);
extern char tl_service_tier_code(const char *tier);
extern void tl_pricing_init(void);

/*
 * Quota counters (quota_counters.c): one call per ledger row written queues
 * it; the queue is written before commit or by tl_quota_counters_flush
 * (for rewrites of the counters; a flush a rolled-back subtransaction
 * undoes is queued again).
 */
extern void tl_quota_count(Datum user_id, TimestampTz occurred_at, int64 tokens,
						   int64 cost_nano_usd);
extern void tl_quota_count_many(int n, const Datum *user_ids, const TimestampTz *occurred_at,
								const int64 *tokens, const int64 *cost_nano_usd);
extern bool tl_quota_counters_flush(void);
extern bool tl_quota_counters_flushed_since(CommandId cid);

/* A queued event not yet in the counters (quota_measure.c adds them itself). */
typedef struct TlQueuedEvent
{
	TimestampTz occurred_at;
	int64		tokens;
	int64		cost_nano_usd;
} TlQueuedEvent;

extern int	tl_quota_queued_events(text *user_id, TlQueuedEvent **events);
extern void tl_quota_counters_init(void);

/* Invalidation of everything cached per backend. */
extern void tl_state_init_callbacks(void);

#endif							/* TOKENLEDGER_H */
