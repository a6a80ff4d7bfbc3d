/*
 * pricing.c
 *    Exact event costs from a backend-local copy of the price catalog.
 *
 * The whole catalog (a few hundred rows) is loaded once per backend into a
 * private memory context, so pricing an event costs no query. A statement
 * trigger on each catalog table (price_catalog_changed) sends a relcache
 * invalidation for that table: every backend drops its copy when the change
 * commits, and this backend at the end of the changing command. A copy that
 * may hold rows of a transaction that then aborts is dropped on abort.
 *
 * Arithmetic is integer: prices are held in 1e-9 USD per million tokens
 * (the catalog allows at most 9 decimals), and a bucket's cost in nano-USD
 * is tokens * price / 1e6, rounded half away from zero, in 128-bit integers.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "tokenledger.h"

PG_FUNCTION_INFO_V1(usage_cost);
PG_FUNCTION_INFO_V1(price_catalog_changed);

#define N_RATES 6				/* input, output, cache read, cw 5m, cw 1h, reasoning */

typedef struct PriceRow
{
	int32		price_id;
	char		tier;
	bool		shipped;
	TimestampTz valid_from;
	TimestampTz valid_to;		/* DT_NOEND when open-ended */
	int64		rate[N_RATES];	/* 1e-9 USD per million tokens, fallbacks applied */
	bool		has_tier;
	int64		threshold;
	int64		tier_rate[N_RATES];
	int64		request_nano;
} PriceRow;

typedef struct AliasRow
{
	int			target;			/* index into models */
	bool		shipped;
	TimestampTz valid_from;
	TimestampTz valid_to;
} AliasRow;

typedef struct CatalogModel
{
	int32		price_model_id;
	char	   *provider;
	int			next_same_name; /* next model with this name, other provider; -1 */
	int			nprices;
	PriceRow   *prices;
	int			naliases;
	AliasRow   *aliases;
} CatalogModel;

typedef struct NameEntry
{
	char		name[TL_NAME_MAX + 1];	/* hash key */
	int			first;			/* index into models */
} NameEntry;

static MemoryContext price_cxt;
static bool cache_valid = false;
static uint64 inval_count = 0;
static bool changed_in_xact = false;
static Oid	catalog_oids[3];
static int	nmodels;
static CatalogModel *models;
static HTAB *names;
static int	nproviders;
static char **providers;

static void
price_cache_invalidate(void)
{
	cache_valid = false;
	inval_count++;
}

static void
price_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == catalog_oids[0] || relid == catalog_oids[1]
		|| relid == catalog_oids[2])
		price_cache_invalidate();
}

static void
price_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) && changed_in_xact)
		price_cache_invalidate();
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT
		|| event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		changed_in_xact = false;
}

static void
price_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && changed_in_xact)
		price_cache_invalidate();
}

void
tl_pricing_init(void)
{
	CacheRegisterRelcacheCallback(price_relcache_callback, (Datum) 0);
	RegisterXactCallback(price_xact_callback, NULL);
	RegisterSubXactCallback(price_subxact_callback, NULL);
}

/* Trigger: a statement changed a catalog table. */
Datum
price_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("price_catalog_changed must be called as a trigger"),
				 errhint("It is attached to the price catalog tables; do not call it directly.")));
	changed_in_xact = true;
	CacheInvalidateRelcache(trigdata->tg_relation);
	price_cache_invalidate();
	return PointerGetDatum(NULL);
}

static int64
get_int8(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

static void
lower_copy(char *dst, const char *src, size_t cap)
{
	size_t		i;

	for (i = 0; src[i] != '\0' && i + 1 < cap; i++)
		dst[i] = pg_ascii_tolower((unsigned char) src[i]);
	dst[i] = '\0';
}

static int
find_model_index_by_id(int32 id)
{
	/* Models are loaded ordered by id, so binary search. */
	int			lo = 0,
				hi = nmodels - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (models[mid].price_model_id == id)
			return mid;
		if (models[mid].price_model_id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

#define RATE_SQL(col, fallback) "(coalesce(" col ", " fallback ") * 1000000000)::int8"

static void
load_catalog(void)
{
	TlState    *st;
	uint64		before = inval_count;
	MemoryContext old;
	HASHCTL		ctl;
	int			rc;
	uint64		i;
	int			j;
	SPITupleTable *tt;

	if (price_cxt == NULL)
		price_cxt = AllocSetContextCreate(TopMemoryContext, "tokenledger price cache",
										  ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(price_cxt);
	models = NULL;
	names = NULL;
	nmodels = 0;
	nproviders = 0;
	providers = NULL;

	st = tl_state();
	catalog_oids[0] = get_relname_relid("price_models", st->schema_oid);
	catalog_oids[1] = get_relname_relid("prices", st->schema_oid);
	catalog_oids[2] = get_relname_relid("price_aliases", st->schema_oid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tokenledger: SPI_connect failed");

	rc = SPI_execute(psprintf("SELECT price_model_id, provider, model FROM %s ORDER BY price_model_id",
							  tl_qualified("price_models")), true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: loading price_models failed: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;

	old = MemoryContextSwitchTo(price_cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TL_NAME_MAX + 1;
	ctl.entrysize = sizeof(NameEntry);
	ctl.hcxt = price_cxt;
	names = hash_create("tokenledger price names", 256, &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	nmodels = (int) SPI_processed;
	models = palloc0(sizeof(CatalogModel) * Max(nmodels, 1));
	providers = palloc0(sizeof(char *) * Max(nmodels, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = tt->vals[i];
		bool		isnull;
		bool		found;
		char	   *provider = SPI_getvalue(tup, tt->tupdesc, 2);
		char	   *model = SPI_getvalue(tup, tt->tupdesc, 3);
		char		key[TL_NAME_MAX + 1];
		NameEntry  *e;
		CatalogModel *m = &models[i];

		m->price_model_id = DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		m->provider = pstrdup(provider);
		m->next_same_name = -1;
		for (j = 0; j < nproviders; j++)
			if (strcmp(providers[j], provider) == 0)
				break;
		if (j == nproviders)
			providers[nproviders++] = m->provider;
		lower_copy(key, model, sizeof(key));
		e = hash_search(names, key, HASH_ENTER, &found);
		if (found)
			m->next_same_name = e->first;
		e->first = (int) i;
	}
	MemoryContextSwitchTo(old);

	rc = SPI_execute(psprintf(
		"SELECT price_id, price_model_id, service_tier::text, valid_from, "
		"coalesce(valid_to, 'infinity'), "
		RATE_SQL("input_usd_per_mtok", "0") ", "
		RATE_SQL("output_usd_per_mtok", "0") ", "
		RATE_SQL("cache_read_usd_per_mtok", "input_usd_per_mtok") ", "
		RATE_SQL("cache_write_usd_per_mtok", "input_usd_per_mtok") ", "
		RATE_SQL("cache_write_1h_usd_per_mtok", "coalesce(cache_write_usd_per_mtok, input_usd_per_mtok)") ", "
		RATE_SQL("reasoning_usd_per_mtok", "output_usd_per_mtok") ", "
		"tier_threshold_tokens, "
		RATE_SQL("tier_input_usd_per_mtok", "NULL") ", "
		RATE_SQL("tier_output_usd_per_mtok", "NULL") ", "
		RATE_SQL("tier_cache_read_usd_per_mtok", "tier_input_usd_per_mtok") ", "
		RATE_SQL("tier_cache_write_usd_per_mtok", "tier_input_usd_per_mtok") ", "
		RATE_SQL("tier_cache_write_1h_usd_per_mtok", "coalesce(tier_cache_write_usd_per_mtok, tier_input_usd_per_mtok)") ", "
		RATE_SQL("tier_reasoning_usd_per_mtok", "tier_output_usd_per_mtok") ", "
		"(coalesce(request_usd, 0) * 1000000000)::int8, shipped "
		"FROM %s ORDER BY price_model_id, valid_from", tl_qualified("prices")), true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: loading prices failed: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;
	old = MemoryContextSwitchTo(price_cxt);
	for (i = 0; i < SPI_processed;)
	{
		bool		isnull;
		int32		mid = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		uint64		n = 0;
		int			idx = find_model_index_by_id(mid);
		CatalogModel *m;

		while (i + n < SPI_processed
			   && DatumGetInt32(SPI_getbinval(tt->vals[i + n], tt->tupdesc, 2, &isnull)) == mid)
			n++;
		if (idx < 0)
		{
			i += n;				/* a row committed after the models query: next load */
			continue;
		}
		m = &models[idx];
		m->nprices = (int) n;
		m->prices = palloc0(sizeof(PriceRow) * n);
		for (j = 0; j < (int) n; j++, i++)
		{
			HeapTuple	tup = tt->vals[i];
			PriceRow   *p = &m->prices[j];
			int			k;

			p->price_id = DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
			p->tier = SPI_getvalue(tup, tt->tupdesc, 3)[0];
			p->valid_from = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 4, &isnull));
			p->valid_to = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 5, &isnull));
			for (k = 0; k < N_RATES; k++)
				p->rate[k] = get_int8(tup, tt->tupdesc, 6 + k, &isnull);
			p->threshold = get_int8(tup, tt->tupdesc, 12, &isnull);
			p->has_tier = !isnull;
			for (k = 0; k < N_RATES; k++)
				p->tier_rate[k] = get_int8(tup, tt->tupdesc, 13 + k, &isnull);
			p->request_nano = get_int8(tup, tt->tupdesc, 19, &isnull);
			p->shipped = DatumGetBool(SPI_getbinval(tup, tt->tupdesc, 20, &isnull));
		}
	}
	MemoryContextSwitchTo(old);

	rc = SPI_execute(psprintf(
		"SELECT alias_model_id, target_model_id, valid_from, coalesce(valid_to, 'infinity'), shipped "
		"FROM %s ORDER BY alias_model_id, valid_from", tl_qualified("price_aliases")), true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tokenledger: loading price_aliases failed: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;
	old = MemoryContextSwitchTo(price_cxt);
	for (i = 0; i < SPI_processed;)
	{
		bool		isnull;
		int32		aid = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		uint64		n = 0;
		int			idx = find_model_index_by_id(aid);
		CatalogModel *m;
		int			kept = 0;

		while (i + n < SPI_processed
			   && DatumGetInt32(SPI_getbinval(tt->vals[i + n], tt->tupdesc, 1, &isnull)) == aid)
			n++;
		if (idx < 0)
		{
			i += n;
			continue;
		}
		m = &models[idx];
		m->aliases = palloc0(sizeof(AliasRow) * n);
		for (j = 0; j < (int) n; j++, i++)
		{
			HeapTuple	tup = tt->vals[i];
			int			target = find_model_index_by_id(DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 2, &isnull)));

			if (target < 0)
				continue;
			m->aliases[kept].target = target;
			m->aliases[kept].valid_from = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 3, &isnull));
			m->aliases[kept].valid_to = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 4, &isnull));
			m->aliases[kept].shipped = DatumGetBool(SPI_getbinval(tup, tt->tupdesc, 5, &isnull));
			kept++;
		}
		m->naliases = kept;
	}
	MemoryContextSwitchTo(old);

	SPI_finish();
	/* An invalidation that arrived while loading means the copy may be stale. */
	cache_valid = (inval_count == before);
}

static bool
known_provider(const char *provider)
{
	int			i;

	for (i = 0; i < nproviders; i++)
		if (strcmp(providers[i], provider) == 0)
			return true;
	return false;
}

/*
 * The catalog model named "name" for the provider, or when provider is NULL
 * the only one of that name. -1 when none (or ambiguous).
 */
static int
find_model(const char *provider, const char *name)
{
	char		key[TL_NAME_MAX + 1];
	NameEntry  *e;
	int			idx;
	int			found = -1;

	if (strlen(name) > TL_NAME_MAX)
		return -1;
	lower_copy(key, name, sizeof(key));
	e = hash_search(names, key, HASH_FIND, NULL);
	if (e == NULL)
		return -1;
	for (idx = e->first; idx >= 0; idx = models[idx].next_same_name)
	{
		if (provider != NULL)
		{
			if (strcmp(models[idx].provider, provider) == 0)
				return idx;
		}
		else if (found >= 0)
			return -1;			/* ambiguous without a provider */
		else
			found = idx;
	}
	return found;
}

/*
 * The price row of the model (following aliases) for the tier at "at". An
 * admin row overrides a shipped row covering the same time.
 */
static const PriceRow *
price_at(int idx, char tier, TimestampTz at)
{
	int			depth;
	int			j;

	for (depth = 0; depth < 4 && idx >= 0; depth++)
	{
		CatalogModel *m = &models[idx];
		const PriceRow *found = NULL;
		int			next = -1;
		bool		next_shipped = true;

		for (j = 0; j < m->nprices; j++)
		{
			const PriceRow *p = &m->prices[j];

			if (p->tier == tier && p->valid_from <= at && at < p->valid_to
				&& (found == NULL || found->shipped))
				found = p;
		}
		if (found != NULL)
			return found;
		for (j = 0; j < m->naliases; j++)
		{
			const AliasRow *a = &m->aliases[j];

			if (a->valid_from <= at && at < a->valid_to && (next < 0 || next_shipped))
			{
				next = a->target;
				next_shipped = a->shipped;
			}
		}
		idx = next;
	}
	return NULL;
}

/* Length of a trailing date suffix (-2024-08-06 or -20241022), else 0. */
static size_t
date_suffix_len(const char *name)
{
	size_t		len = strlen(name);
	size_t		k;

	if (len > 11 && name[len - 11] == '-' && name[len - 6] == '-' && name[len - 3] == '-')
	{
		for (k = len - 10; k < len; k++)
			if (k != len - 6 && k != len - 3 && !isdigit((unsigned char) name[k]))
				break;
		if (k == len && (name[len - 10] == '1' || name[len - 10] == '2'))
			return 11;
	}
	if (len > 9 && name[len - 9] == '-')
	{
		for (k = len - 8; k < len; k++)
			if (!isdigit((unsigned char) name[k]))
				break;
		if (k == len && (name[len - 8] == '1' || name[len - 8] == '2'))
			return 9;
	}
	return 0;
}

/*
 * Resolves the model the app reported: exact name, then (through aliases,
 * by date, inside price_at) the same name without a provider prefix, then
 * without a date suffix. The first name the catalog knows decides.
 */
static const PriceRow *
resolve_price(const char *model, const char *provider, char tier, TimestampTz at)
{
	char		prov_buf[TL_NAME_MAX + 1];
	char		name[TL_NAME_MAX + 1];
	const char *prov = NULL;
	const char *slash;
	size_t		cut;
	int			idx;

	if (provider != NULL && provider[0] != '\0' && strlen(provider) <= TL_NAME_MAX)
	{
		lower_copy(prov_buf, provider, sizeof(prov_buf));
		/* A provider the catalog does not know adds no information. */
		if (known_provider(prov_buf))
			prov = prov_buf;
	}
	if (strlen(model) > TL_NAME_MAX)
		return NULL;
	lower_copy(name, model, sizeof(name));

	idx = find_model(prov, name);
	if (idx >= 0)
		return price_at(idx, tier, at);

	slash = strrchr(name, '/');
	if (slash != NULL && slash[1] != '\0')
	{
		size_t		plen = slash - name;
		char		prefix[TL_NAME_MAX + 1];

		memcpy(prefix, name, plen);
		prefix[plen] = '\0';
		if (prov == NULL && strchr(prefix, '/') == NULL && known_provider(prefix))
		{
			memcpy(prov_buf, prefix, plen + 1);
			prov = prov_buf;
		}
		memmove(name, slash + 1, strlen(slash + 1) + 1);
		idx = find_model(prov, name);
		if (idx >= 0)
			return price_at(idx, tier, at);
	}

	cut = date_suffix_len(name);
	if (cut > 0)
	{
		name[strlen(name) - cut] = '\0';
		idx = find_model(prov, name);
		if (idx >= 0)
			return price_at(idx, tier, at);
	}
	return NULL;
}

/* round(tokens * rate / 1e6) half away from zero; tokens, rate >= 0. */
static int64
bucket_cost(int64 tokens, int64 rate)
{
	int128		product = (int128) tokens * rate;
	int128		q = (product + 500000) / 1000000;

	if (q > PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cost is out of range"),
				 errhint("Check the token counts and the catalog price.")));
	return (int64) q;
}

static int64
add_cost(int64 a, int64 b)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cost is out of range"),
				 errhint("Check the token counts and the catalog price.")));
	return r;
}

/*
 * Prices one event. tokens[] follows usage_log_insert's argument order:
 * input, output, cache read, cache write 5m, cache write 1h, reasoning.
 * Returns false (and leaves *cost alone) when the model has no price.
 * May run SPI queries to (re)load the catalog.
 */
bool
tl_price_event(const char *model, const char *provider, char tier, TimestampTz at,
			   const int64 *tokens, TlCost *cost)
{
	const PriceRow *p;
	const int64 *rate;
	int64		input_total;

	if (!cache_valid || models == NULL)
		load_catalog();
	p = resolve_price(model, provider, tier, at);
	if (p == NULL)
		return false;

	input_total = tokens[0] + tokens[2] + tokens[3] + tokens[4];
	rate = (p->has_tier && input_total > p->threshold) ? p->tier_rate : p->rate;

	cost->input = bucket_cost(tokens[0], rate[0]);
	cost->output = bucket_cost(tokens[1], rate[1]);
	cost->cache_read = bucket_cost(tokens[2], rate[2]);
	cost->cache_write = add_cost(bucket_cost(tokens[3], rate[3]), bucket_cost(tokens[4], rate[4]));
	cost->reasoning = bucket_cost(tokens[5], rate[5]);
	cost->request = p->request_nano;
	cost->total = add_cost(add_cost(add_cost(cost->input, cost->output), add_cost(cost->cache_read, cost->cache_write)),
						   add_cost(cost->reasoning, cost->request));
	cost->price_id = p->price_id;
	return true;
}

char
tl_service_tier_code(const char *tier)
{
	if (strcmp(tier, "standard") == 0 || strcmp(tier, "default") == 0)
		return 's';
	if (strcmp(tier, "batch") == 0)
		return 'b';
	if (strcmp(tier, "flex") == 0)
		return 'f';
	if (strcmp(tier, "priority") == 0)
		return 'p';
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown service tier \"%s\"", tier),
			 errhint("Use standard, batch, flex or priority.")));
	return 's';					/* keep compiler quiet */
}

static const char *const cost_arg_names[6] = {
	"input_tokens", "output_tokens", "cache_read_tokens",
	"cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens"
};

/* usage_cost(model, six buckets, at, provider, service_tier) */
Datum
usage_cost(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[15];
	bool		nulls[15];
	int64		tokens[6];
	TlCost		cost;
	char	   *model;
	char	   *provider = NULL;
	char		tier = 's';
	TimestampTz at;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "tokenledger: usage_cost must return a composite type");
	desc = BlessTupleDesc(desc);

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be null or empty"),
				 errhint("Pass the model id the provider reported, such as 'gpt-4o'.")));
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (i = 0; i < 6; i++)
	{
		tokens[i] = PG_ARGISNULL(1 + i) ? 0 : PG_GETARG_INT64(1 + i);
		if (tokens[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not be negative", cost_arg_names[i]),
					 errhint("Token counts are zero or more.")));
		if (tokens[i] > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s is implausibly large", cost_arg_names[i]),
					 errhint("One event holds at most 2147483647 tokens per bucket.")));
	}
	if (PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("at must not be null"),
				 errhint("Pass the time of the call, or omit it to price at now().")));
	at = PG_GETARG_TIMESTAMPTZ(7);
	if (!PG_ARGISNULL(8))
		provider = text_to_cstring(PG_GETARG_TEXT_PP(8));
	if (!PG_ARGISNULL(9))
		tier = tl_service_tier_code(text_to_cstring(PG_GETARG_TEXT_PP(9)));

	for (i = 0; i < 15; i++)
		nulls[i] = true;
	if (tl_price_event(model, provider, tier, at, tokens, &cost))
	{
		int64		nano[7] = {cost.input, cost.output, cost.cache_read, cost.cache_write,
		cost.reasoning, cost.request, cost.total};

		for (i = 0; i < 7; i++)
		{
			values[i] = Int64GetDatum(nano[i]);
			values[7 + i] = NumericGetDatum(int64_div_fast_to_numeric(nano[i], 9));
			nulls[i] = nulls[7 + i] = false;
		}
		values[14] = Int32GetDatum(cost.price_id);
		nulls[14] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
