/*
 * quota_counters.c
 *    Per-user usage counters for quota checks, kept on the insert path.
 *
 * Every recorded event adds itself to three rows of quota_usage_counters:
 * its UTC day, UTC hour and UTC minute. A check sums whole buckets and reads
 * raw ledger rows only for the partial edges of a window, so it stays exact
 * (install/62_quota_counters.sql). All three rows are written by one
 * statement, coarsest first, so two transactions writing the same user's
 * rows take the locks in the same order.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "tokenledger.h"

static SPIPlanPtr count_plan;
static uint64 count_generation;

/* Start of the UTC bucket of length unit that holds ts (floor, also before 2000). */
static TimestampTz
bucket_of(TimestampTz ts, int64 unit)
{
	int64		r = ts % unit;

	return r < 0 ? ts - r - unit : ts - r;
}

/*
 * Adds one recorded event to its user's counters. Call it once per ledger
 * row actually written (never for a deduplicated retry), inside SPI.
 */
void
tl_quota_count(Datum user_id, TimestampTz occurred_at, int64 tokens, int64 cost_nano_usd)
{
	static const Oid types[7] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		args[7];
	int			rc;

	if (count_plan == NULL || count_generation != tl_state()->generation)
	{
		if (count_plan)
			SPI_freeplan(count_plan);
		count_plan = NULL;

		/*
		 * New binaries on a 0.1.0 schema, until ALTER EXTENSION UPDATE:
		 * nothing to count into; the upgrade backfills from the ledger.
		 */
		if (!OidIsValid(get_relname_relid("quota_usage_counters", tl_state()->schema_oid)))
			return;
		count_plan = tl_keep_plan(psprintf(
			"INSERT INTO %s AS c (user_id, grain, bucket, requests, tokens, cost_nano_usd, first_at) "
			"VALUES ($1, 'd', $2, 1, $5, $6, $7), ($1, 'h', $3, 1, $5, $6, $7), "
			"($1, 'm', $4, 1, $5, $6, $7) "
			"ON CONFLICT (user_id, grain, bucket) DO UPDATE SET requests = c.requests + 1, "
			"tokens = c.tokens + excluded.tokens, cost_nano_usd = c.cost_nano_usd + excluded.cost_nano_usd, "
			"first_at = least(c.first_at, excluded.first_at)",
			tl_qualified("quota_usage_counters")), 7, types);
		count_generation = tl_state()->generation;
	}
	args[0] = user_id;
	args[1] = TimestampTzGetDatum(bucket_of(occurred_at, USECS_PER_DAY));
	args[2] = TimestampTzGetDatum(bucket_of(occurred_at, USECS_PER_HOUR));
	args[3] = TimestampTzGetDatum(bucket_of(occurred_at, USECS_PER_MINUTE));
	args[4] = Int64GetDatum(tokens);
	args[5] = Int64GetDatum(cost_nano_usd);
	args[6] = TimestampTzGetDatum(occurred_at);
	rc = SPI_execute_plan(count_plan, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "tokenledger: quota counter update failed: %s", SPI_result_code_string(rc));
}

static SPIPlanPtr count_many_plan;
static uint64 count_many_generation;

/*
 * Adds many recorded events (a batch insert) with one statement: the events
 * are summed per user and bucket first, since one upsert may change a row
 * only once, and written in (user, grain, bucket) order, coarsest grain
 * first per user like tl_quota_count. Same result as one tl_quota_count per
 * event. Inside SPI.
 */
void
tl_quota_count_many(int n, const Datum *user_ids, const TimestampTz *occurred_at,
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
