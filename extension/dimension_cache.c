/*
 * dimension_cache.c
 *    Backend-local cache of dimension names -> small integer keys.
 *
 * Providers, models and endpoints are stored once in their dimension tables
 * and referenced by key from every ledger row. A miss costs one SELECT (and,
 * for a name never seen, one INSERT ... ON CONFLICT DO NOTHING); a hit costs
 * a hash probe. Dimension rows are append-only, so a cached key stays true
 * unless the transaction that created it aborts: then the cache is dropped.
 * Callers must be connected to SPI.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "tokenledger.h"

typedef struct DimEntry
{
	char		name[TL_NAME_MAX + 1];	/* hash key */
	int32		id;
} DimEntry;

static const char *const id_columns[TL_DIM_COUNT] = {
	"provider_id", "model_id", "endpoint_id", "request_type_id"
};

static HTAB *caches[TL_DIM_COUNT];
static SPIPlanPtr select_plans[TL_DIM_COUNT];
static SPIPlanPtr insert_plans[TL_DIM_COUNT];
static uint64 plans_generation;
/*
 * Set once the running transaction created a dimension row: from then on
 * the cache may hold keys of its uncommitted rows (also cached again from
 * its own rows after a reset), so every rollback in it drops the cache.
 * Cleared only when the transaction ends.
 */
static bool created_in_xact = false;

void
tl_dimension_cache_reset(void)
{
	int			i;

	for (i = 0; i < TL_DIM_COUNT; i++)
	{
		if (caches[i])
			hash_destroy(caches[i]);
		caches[i] = NULL;
	}
}

/*
 * The end of the transaction (top_level) or a subtransaction's rollback. A
 * PREPARE counts as a rollback: the prepared transaction may yet roll back.
 */
void
tl_dimension_xact_end(bool committed, bool top_level)
{
	if (!committed && created_in_xact)
		tl_dimension_cache_reset();
	if (top_level)
		created_in_xact = false;
}

static HTAB *
cache_for(TlDimension dim)
{
	if (caches[dim] == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = TL_NAME_MAX + 1;
		ctl.entrysize = sizeof(DimEntry);
		ctl.hcxt = TopMemoryContext;
		caches[dim] = hash_create("tokenledger dimension cache", 64, &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	return caches[dim];
}

static void
prepare_plans(void)
{
	TlState    *st = tl_state();
	const Oid	text_type = TEXTOID;
	int			i;

	if (plans_generation == st->generation && select_plans[0] != NULL)
		return;
	for (i = 0; i < TL_DIM_COUNT; i++)
	{
		char	   *table = tl_qualified(tl_dimension_tables[i]);

		if (select_plans[i])
			SPI_freeplan(select_plans[i]);
		if (insert_plans[i])
			SPI_freeplan(insert_plans[i]);
		select_plans[i] = tl_keep_plan(psprintf("SELECT %s FROM %s WHERE name = $1",
												id_columns[i], table), 1, &text_type);
		insert_plans[i] = tl_keep_plan(psprintf("INSERT INTO %s (name) VALUES ($1) "
												"ON CONFLICT (name) DO NOTHING RETURNING %s",
												table, id_columns[i]), 1, &text_type);
	}
	plans_generation = st->generation;
}

/* Runs a one-column plan and returns its int32 result, or -1 for no row. */
static int32
run_id_plan(SPIPlanPtr plan, const char *name)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	Datum		d;
	int			rc = SPI_execute_plan(plan, &arg, NULL, false, 1);

	if (rc != SPI_OK_SELECT && rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "tokenledger: dimension lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return -1;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	/* smallint and integer keys both fit in int32 */
	return TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid == INT2OID
		? (int32) DatumGetInt16(d) : DatumGetInt32(d);
}

static void
unknown_request_type(const char *name)
{
	char	   *known = "";
	int			rc;

	rc = SPI_execute(psprintf("SELECT string_agg(name, ', ' ORDER BY request_type_id) FROM %s",
							  tl_qualified("usage_request_types")), true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
		known = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown request type \"%s\"", name),
			 errdetail("Known request types: %s.", known),
			 errhint("Use one of the known types, or have an admin add a row to usage_request_types.")));
}

/*
 * The key for a name, creating the dimension row on first sight (request
 * types excepted: they are a closed list).
 */
int32
tl_dimension_id(TlDimension dim, const char *name)
{
	DimEntry   *entry;
	bool		found;
	int32		id;

	prepare_plans();
	entry = (DimEntry *) hash_search(cache_for(dim), name, HASH_FIND, &found);
	if (found)
		return entry->id;

	id = run_id_plan(select_plans[dim], name);
	if (id < 0 && dim == TL_DIM_REQUEST_TYPE)
		unknown_request_type(name);
	if (id < 0)
	{
		id = run_id_plan(insert_plans[dim], name);
		if (id >= 0)
			created_in_xact = true;
		else					/* a concurrent transaction created it first */
			id = run_id_plan(select_plans[dim], name);
		if (id < 0)
			elog(ERROR, "tokenledger: could not resolve %s \"%s\"",
				 tl_dimension_tables[dim], name);
	}

	entry = (DimEntry *) hash_search(cache_for(dim), name, HASH_ENTER, &found);
	entry->id = id;
	return id;
}
