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
