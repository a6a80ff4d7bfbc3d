/*
 * tokenledger.c
 *    Module entry point and settings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "tokenledger.h"

PG_MODULE_MAGIC;

bool		tl_enabled = true;
int			tl_max_tokens_per_event = 100000000;
int			tl_max_metadata_bytes = 4096;
int			tl_max_future_skew_s = 300;
bool		tl_price_at_insert = true;

/* Rollups, partitions and reports (read from SQL with current_setting). */
static char *tl_partition_interval = NULL;
static char *tl_raw_retention = NULL;
static char *tl_report_timezone = NULL;
static int	tl_rollup_batch_size = 500000;

/* quotas */
static char *tl_default_plan = NULL;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * Settings are superuser-set (per database or role with ALTER ... SET):
	 * an app must not be able to switch its own accounting off.
	 */
	DefineCustomBoolVariable("tokenledger.enabled",
							 "Records usage; off makes usage_log_insert a no-op returning NULL.",
							 "The kill switch: set it with ALTER SYSTEM, ALTER DATABASE or ALTER ROLE.",
							 &tl_enabled, true, PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("tokenledger.max_tokens_per_event",
							"Largest total token count one event may carry.",
							"Larger counts are rejected as corrupt input.",
							&tl_max_tokens_per_event, 100000000, 1, 1000000000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("tokenledger.max_metadata_bytes",
							"Largest metadata object one event may carry, in bytes.",
							"Metadata holds tags, never message content.",
							&tl_max_metadata_bytes, 4096, 0, 1048576,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomIntVariable("tokenledger.max_future_skew",
							"How far occurred_at may lie ahead of the server clock.",
							"Guards against events stamped with a wrong clock or unit.",
							&tl_max_future_skew_s, 300, 0, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomStringVariable("tokenledger.partition_interval",
							   "Width of the ledger's time partitions, such as '1 month' or '1 week'.",
							   "Whole months align to calendar months (UTC); other widths align to Monday 2000-01-03 UTC. Applies to partitions created from then on.",
							   &tl_partition_interval, "1 month", PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("tokenledger.raw_retention",
							   "How long raw ledger partitions are kept before usage_maintenance drops them.",
							   "Rollups keep the history; only partitions already rolled up are dropped.",
							   &tl_raw_retention, "90 days", PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("tokenledger.timezone",
							   "Time zone of calendar days, weeks and months in reports and quota windows.",
							   "Superuser-set, so an app cannot move its own quota reset; the daily rollup keeps the zone set when the extension was created.",
							   &tl_report_timezone, "UTC", PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("tokenledger.rollup_batch_size",
							"Event ids folded per transaction by usage_rollup.",
							"usage_rollup commits after each batch, so a large backlog never becomes one huge transaction.",
							&tl_rollup_batch_size, 500000, 100, 10000000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	/* quotas */
	DefineCustomStringVariable("tokenledger.default_plan",
							   "Quota plan of users who were never assigned one.",
							   "An unknown user gets this plan on first sight (quota_reserve).",
							   &tl_default_plan, "beta", PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("tokenledger.price_at_insert",
							 "Prices each event in usage_log_insert from the price catalog.",
							 "Off stores events unpriced (for bulk backfills); price them later with usage_reprice.",
							 &tl_price_at_insert, true, PGC_SUSET, 0,
							 NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("tokenledger");
#else
	EmitWarningsOnPlaceholders("tokenledger");
#endif

	tl_state_init_callbacks();
	tl_quota_counters_init();
	tl_pricing_init();
}
