/*
 * extension_state.c
 *    Where the extension's tables live, cached per backend.
 *
 * The insert path must not look up names on every call, yet DROP/CREATE
 * EXTENSION, ALTER TABLE or a new partition can change what a cached OID
 * or plan refers to. A relcache callback on our tables marks the state
 * stale; the next call rebuilds it (and callers re-prepare their plans when
 * the generation changes).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "tokenledger.h"

const char *const tl_dimension_tables[TL_DIM_COUNT] = {
	"usage_providers", "usage_models", "usage_endpoints", "usage_request_types"
};

static TlState state;

static bool
is_our_relation(Oid relid)
{
	int			i;

	if (relid == state.usage_log_oid || relid == state.event_seq_oid)
		return true;
	for (i = 0; i < TL_DIM_COUNT; i++)
		if (relid == state.dimension_oids[i])
			return true;
	return false;
}

static void
relcache_callback(Datum arg, Oid relid)
{
	if (!state.valid)
		return;
	if (relid == InvalidOid || is_our_relation(relid))
	{
		state.valid = false;
		tl_dimension_cache_reset();
	}
}

#if PG_VERSION_NUM < 160000
/* get_extension_schema() is exported only from PostgreSQL 16 on. */
static Oid
get_extension_schema(Oid ext_oid)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext_oid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		result = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}
#endif

static Oid
required_relation(const char *name)
{
	Oid			relid = get_relname_relid(name, state.schema_oid);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("tokenledger relation \"%s\" is missing", name),
				 errhint("Reinstall the extension with DROP EXTENSION tokenledger; CREATE EXTENSION tokenledger;")));
	return relid;
}

TlState *
tl_state(void)
{
	Oid			ext_oid;
	int			i;

	if (state.valid)
		return &state;

	ext_oid = get_extension_oid("tokenledger", true);
	if (!OidIsValid(ext_oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"tokenledger\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION tokenledger;")));

	state.schema_oid = get_extension_schema(ext_oid);
	if (state.schema_name)
		pfree(state.schema_name);
	state.schema_name = MemoryContextStrdup(TopMemoryContext,
											quote_identifier(get_namespace_name(state.schema_oid)));
	state.usage_log_oid = required_relation("usage_log");
	state.event_seq_oid = required_relation("usage_event_id_seq");
	for (i = 0; i < TL_DIM_COUNT; i++)
		state.dimension_oids[i] = required_relation(tl_dimension_tables[i]);

	tl_dimension_cache_reset();
	state.generation++;
	state.valid = true;
	return &state;
}

/*
 * Whether the extension is installed. Cheap while the cached state is
 * valid: dropping the extension drops usage_log, which invalidates it.
 */
bool
tl_extension_present(void)
{
	return state.valid || OidIsValid(get_extension_oid("tokenledger", true));
}

/* "schema"."name" for building queries; palloc'd in the current context. */
char *
tl_qualified(const char *name)
{
	return psprintf("%s.%s", tl_state()->schema_name, quote_identifier(name));
}

/* Prepares a query once per backend; it lives until the backend ends. */
SPIPlanPtr
tl_keep_plan(const char *sql, int nargs, const Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

	if (plan == NULL)
		elog(ERROR, "tokenledger: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

static void
xact_callback(XactEvent event, void *arg)
{
	/* A prepared transaction may still roll back: treat it as one. */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
		tl_dimension_xact_end(false, true);
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		tl_dimension_xact_end(true, true);
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		tl_dimension_xact_end(false, false);
}

void
tl_state_init_callbacks(void)
{
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}
