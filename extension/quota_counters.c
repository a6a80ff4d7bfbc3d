/*
 * quota_counters.c
 *    Per-user usage counters for quota checks, kept on the insert path.
 *
 * Every recorded event adds itself to three rows of quota_usage_counters:
 * its UTC day, UTC hour and UTC minute. A check sums whole buckets and reads
 * raw ledger rows only for the partial edges of a window, so it stays exact
 * (install/62_quota_counters.sql).
 *
 * An insert does not write the counters itself: it queues its event in
 * backend memory, and the queue is written by one upsert just before the
 * transaction commits (or sooner, when something in the same transaction
 * rewrites the counters: tl_quota_counters_flush; checks add the queue from
 * memory instead, tl_quota_queued_events). Writing per insert would
 * update the same rows again and again inside one transaction, and every
 * such update walks the whole chain of row versions the transaction left
 * behind: a backfill of n events for one user would cost O(n^2). It also
 * keeps a user's counter rows locked only for the moment of the commit.
 * Rows are written in (user, grain, bucket) order, so two committing
 * transactions lock shared rows in the same order.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "tokenledger.h"

/* One recorded event waiting to be counted, and the subtransaction that recorded it. */
typedef struct PendingEvent
{
	SubTransactionId subid;
	Datum		user_id;		/* text, in TopTransactionContext */
	TimestampTz occurred_at;
	int64		tokens;
	int64		cost_nano_usd;
} PendingEvent;

static PendingEvent *pending;	/* in TopTransactionContext */
static int	n_pending;
static int	max_pending;
static Oid	counting_user;		/* who queued: the insert functions' owner */

/*
 * pending[0 .. flushed_upto()) are written already. Rolling back the
 * subtransaction a flush ran in undoes its upsert, so each flush is
 * remembered with its subtransaction and the queue position it reached.
 */
typedef struct FlushMark
{
	SubTransactionId subid;
	int			upto;
	CommandId	cid;			/* command counter after the upsert */
} FlushMark;

static FlushMark *flush_marks;	/* in TopTransactionContext, oldest first */
static int	n_marks;
static int	max_marks;

/* The queue position the latest flush still in effect reached. */
static inline int
flushed_upto(void)
{
	return n_marks > 0 ? flush_marks[n_marks - 1].upto : 0;
}

/* Start of the UTC bucket of length unit that holds ts (floor, also before 2000). */
static TimestampTz
bucket_of(TimestampTz ts, int64 unit)
{
	int64		r = ts % unit;

	return r < 0 ? ts - r - unit : ts - r;
}

static SPIPlanPtr count_one_plan;
static uint64 count_one_generation;

/* The usual case, a transaction with one event: a plain three-row upsert. Inside SPI. */
static void
write_one(Datum user_id, TimestampTz occurred_at, int64 tokens, int64 cost_nano_usd)
{
	static const Oid types[7] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		args[7];
	int			rc;

	if (count_one_plan == NULL || count_one_generation != tl_state()->generation)
	{
		if (count_one_plan)
			SPI_freeplan(count_one_plan);
		count_one_plan = NULL;
		/* New binaries on a 0.1.0 schema: nothing to count into (see write_counts). */
		if (!OidIsValid(get_relname_relid("quota_usage_counters", tl_state()->schema_oid)))
			return;
		count_one_plan = tl_keep_plan(psprintf(
			"INSERT INTO %s AS c (user_id, grain, bucket, requests, tokens, cost_nano_usd, first_at) "
			"VALUES ($1, 'd', $2, 1, $5, $6, $7), ($1, 'h', $3, 1, $5, $6, $7), "
			"($1, 'm', $4, 1, $5, $6, $7) "
			"ON CONFLICT (user_id, grain, bucket) DO UPDATE SET requests = c.requests + 1, "
			"tokens = c.tokens + excluded.tokens, cost_nano_usd = c.cost_nano_usd + excluded.cost_nano_usd, "
			"first_at = least(c.first_at, excluded.first_at)",
			tl_qualified("quota_usage_counters")), 7, types);
		count_one_generation = tl_state()->generation;
	}
	args[0] = user_id;
	args[1] = TimestampTzGetDatum(bucket_of(occurred_at, USECS_PER_DAY));
	args[2] = TimestampTzGetDatum(bucket_of(occurred_at, USECS_PER_HOUR));
	args[3] = TimestampTzGetDatum(bucket_of(occurred_at, USECS_PER_MINUTE));
	args[4] = Int64GetDatum(tokens);
	args[5] = Int64GetDatum(cost_nano_usd);
	args[6] = TimestampTzGetDatum(occurred_at);
	rc = SPI_execute_plan(count_one_plan, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "tokenledger: quota counter update failed: %s", SPI_result_code_string(rc));
}

static SPIPlanPtr count_many_plan;
static uint64 count_many_generation;

/*
 * Adds events to the counters with one statement: they are summed per user
 * and bucket first, since one upsert may change a row only once, and
 * written in (user, grain, bucket) order. Inside SPI.
 */
static void
write_counts(int n, const Datum *user_ids, const TimestampTz *occurred_at,
					const int64 *tokens, const int64 *cost_nano_usd)
{
	static const Oid types[7] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum	   *cols[7];
	Datum		args[7];
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i,
				c,
				rc;

	if (n <= 0)
		return;
	if (count_many_plan == NULL || count_many_generation != tl_state()->generation)
	{
		if (count_many_plan)
			SPI_freeplan(count_many_plan);
		count_many_plan = NULL;
		/* New binaries on a 0.1.0 schema: nothing to count into (see above). */
		if (!OidIsValid(get_relname_relid("quota_usage_counters", tl_state()->schema_oid)))
			return;
		count_many_plan = tl_keep_plan(psprintf(
			"INSERT INTO %s AS c (user_id, grain, bucket, requests, tokens, cost_nano_usd, first_at) "
			"SELECT e.u, x.g, x.b, count(*), sum(e.t), sum(e.k), min(e.a) "
			"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
			"pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) "
			"AS e(u, d, h, m, t, k, a) "
			"CROSS JOIN LATERAL (VALUES ('d'::pg_catalog.\"char\", e.d), ('h', e.h), ('m', e.m)) AS x(g, b) "
			"GROUP BY e.u, x.g, x.b ORDER BY e.u COLLATE \"C\", x.g, x.b "
			"ON CONFLICT (user_id, grain, bucket) DO UPDATE SET requests = c.requests + excluded.requests, "
			"tokens = c.tokens + excluded.tokens, cost_nano_usd = c.cost_nano_usd + excluded.cost_nano_usd, "
			"first_at = least(c.first_at, excluded.first_at)",
			tl_qualified("quota_usage_counters")), 7, types);
		count_many_generation = tl_state()->generation;
	}
	for (c = 0; c < 7; c++)
		cols[c] = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		cols[0][i] = user_ids[i];
		cols[1][i] = TimestampTzGetDatum(bucket_of(occurred_at[i], USECS_PER_DAY));
		cols[2][i] = TimestampTzGetDatum(bucket_of(occurred_at[i], USECS_PER_HOUR));
		cols[3][i] = TimestampTzGetDatum(bucket_of(occurred_at[i], USECS_PER_MINUTE));
		cols[4][i] = Int64GetDatum(tokens[i]);
		cols[5][i] = Int64GetDatum(cost_nano_usd[i]);
		cols[6][i] = TimestampTzGetDatum(occurred_at[i]);
	}
	args[0] = PointerGetDatum(construct_md_array(cols[0], NULL, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	for (c = 1; c < 7; c++)
		args[c] = PointerGetDatum(construct_md_array(cols[c], NULL, 1, dims, lbs,
													 c == 4 || c == 5 ? INT8OID : TIMESTAMPTZOID,
													 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	rc = SPI_execute_plan(count_many_plan, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "tokenledger: quota counter update failed: %s", SPI_result_code_string(rc));
}

/* Queues a recorded event; call once per ledger row written (never for a deduplicated retry). */
void
tl_quota_count(Datum user_id, TimestampTz occurred_at, int64 tokens, int64 cost_nano_usd)
{
	PendingEvent *e;

	if (n_pending == max_pending)
	{
		max_pending = max_pending ? max_pending * 2 : 64;
		pending = pending
			? repalloc_huge(pending, sizeof(PendingEvent) * max_pending)
			: MemoryContextAllocHuge(TopTransactionContext, sizeof(PendingEvent) * max_pending);
	}
	if (n_pending == 0)
		counting_user = GetUserId();
	e = &pending[n_pending++];
	e->subid = GetCurrentSubTransactionId();
	e->user_id = PointerGetDatum(MemoryContextAlloc(TopTransactionContext, VARSIZE_ANY(DatumGetPointer(user_id))));
	memcpy(DatumGetPointer(e->user_id), DatumGetPointer(user_id), VARSIZE_ANY(DatumGetPointer(user_id)));
	e->occurred_at = occurred_at;
	e->tokens = tokens;
	e->cost_nano_usd = cost_nano_usd;
}

void
tl_quota_count_many(int n, const Datum *user_ids, const TimestampTz *occurred_at,
					const int64 *tokens, const int64 *cost_nano_usd)
{
	int			i;

	for (i = 0; i < n; i++)
		tl_quota_count(user_ids[i], occurred_at[i], tokens[i], cost_nano_usd[i]);
}

/*
 * Writes the queued events of this transaction into the counters; true if
 * there were any. Called before commit, and by everything in the same
 * transaction that rewrites the counters (erasure, reprice, rebuild, prune,
 * truncate); checks add the queue from memory instead.
 */
bool
tl_quota_counters_flush(void)
{
	Datum	   *users;
	TimestampTz *at;
	int64	   *tokens;
	int64	   *cost;
	int			done = flushed_upto();
	int			n = n_pending - done;
	int			i;
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
	SubTransactionId subid = GetCurrentSubTransactionId();

	if (n <= 0)
		return false;
	/* The extension was dropped in this transaction: nothing to count into. */
	if (!tl_extension_present())
	{
		n_pending = done;
		return false;
	}
	users = palloc(sizeof(Datum) * n);
	at = palloc(sizeof(TimestampTz) * n);
	tokens = palloc(sizeof(int64) * n);
	cost = palloc(sizeof(int64) * n);
	for (i = 0; i < n; i++)
	{
		PendingEvent *e = &pending[done + i];

		users[i] = e->user_id;
		at[i] = e->occurred_at;
		tokens[i] = e->tokens;
		cost[i] = e->cost_nano_usd;
	}
	/*
	 * The flush may run at commit, outside the SECURITY DEFINER insert that
	 * queued the events: write as that function's owner, with the search
	 * path pinned so the caller's path cannot redirect the query.
	 */
	GetUserIdAndSecContext(&saved_user, &saved_sec);
	SetUserIdAndSecContext(counting_user, saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tokenledger: SPI_connect failed");
	if (n == 1)
		write_one(users[0], at[0], tokens[0], cost[0]);
	else
		write_counts(n, users, at, tokens, cost);
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
	SetUserIdAndSecContext(saved_user, saved_sec);
	/* Only now: an error above leaves the queue for the abort to discard. */
	if (n_marks == 0 || flush_marks[n_marks - 1].subid != subid)
	{
		if (n_marks == max_marks)
		{
			max_marks = max_marks ? max_marks * 2 : 8;
			flush_marks = flush_marks
				? repalloc(flush_marks, sizeof(FlushMark) * max_marks)
				: MemoryContextAlloc(TopTransactionContext, sizeof(FlushMark) * max_marks);
		}
		flush_marks[n_marks++].subid = subid;
	}
	flush_marks[n_marks - 1].upto = n_pending;
	flush_marks[n_marks - 1].cid = GetCurrentCommandId(false);
	return true;
}

/*
 * Whether a flush of this transaction may be invisible to a snapshot taken
 * at command cid (it wrote at or after cid): such a reader needs a newer one.
 */
bool
tl_quota_counters_flushed_since(CommandId cid)
{
	return n_marks > 0 && flush_marks[n_marks - 1].cid >= cid;
}

/*
 * This transaction's queued events of user_id not yet in the counters, into
 * *events (palloc'd); returns how many. Checks add these to the counters
 * they read rather than flush: a flush would lock the user's counter rows
 * until this transaction ends.
 */
int
tl_quota_queued_events(text *user_id, TlQueuedEvent **events)
{
	const char *u = VARDATA_ANY(user_id);
	Size		ulen = VARSIZE_ANY_EXHDR(user_id);
	int			n = 0;
	int			i;

	*events = NULL;
	for (i = flushed_upto(); i < n_pending; i++)
	{
		Pointer		p = DatumGetPointer(pending[i].user_id);

		if (VARSIZE_ANY_EXHDR(p) != ulen || memcmp(VARDATA_ANY(p), u, ulen) != 0)
			continue;
		if (*events == NULL)
			*events = palloc(sizeof(TlQueuedEvent) * (n_pending - i));
		(*events)[n].occurred_at = pending[i].occurred_at;
		(*events)[n].tokens = pending[i].tokens;
		(*events)[n].cost_nano_usd = pending[i].cost_nano_usd;
		n++;
	}
	return n;
}

PG_FUNCTION_INFO_V1(quota_counters_flush);

/* SQL: writes this transaction's queued events into quota_usage_counters. */
Datum
quota_counters_flush(PG_FUNCTION_ARGS)
{
	int			n = n_pending - flushed_upto();

	tl_quota_counters_flush();
	PG_RETURN_INT32(n);
}

static void
counters_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (n_pending > flushed_upto())
			{
				PushActiveSnapshot(GetTransactionSnapshot());
				tl_quota_counters_flush();
				PopActiveSnapshot();
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			/* the queue lived in TopTransactionContext, which is going away */
			pending = NULL;
			n_pending = max_pending = 0;
			flush_marks = NULL;
			n_marks = max_marks = 0;
			break;
		default:
			break;
	}
}

/*
 * A rolled-back subtransaction's events were never recorded, and the
 * flushes that ran in it were undone. Subtransaction ids grow, and
 * everything queued or flushed since the aborted one began carries its id
 * or a child's (larger) id, also after such a child committed into it: the
 * tail of the marks and of the queue. The events the undone flushes wrote
 * are queued again; of those, the ones queued in the aborted subtransaction
 * are then dropped with the rest of its tail.
 */
static void
counters_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (n_marks > 0 && flush_marks[n_marks - 1].subid >= mySubid)
		n_marks--;
	while (n_pending > flushed_upto() && pending[n_pending - 1].subid >= mySubid)
		n_pending--;
}

void
tl_quota_counters_init(void)
{
	RegisterXactCallback(counters_xact_callback, NULL);
	RegisterSubXactCallback(counters_subxact_callback, NULL);
}
