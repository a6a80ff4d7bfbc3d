// Client's pricing methods: price_set, price_alias_set, the two catalog
// importers, price_provider_name, usage_cost and usage_reprice.
#include "client_impl.hpp"

namespace tokenledger {
using namespace detail;
namespace {

constexpr Statement kPriceSet{
    "tl_price_set",
    "SELECT {schema}.price_set($1, $2, $3::timestamptz, $4::numeric, $5::numeric, $6::numeric, $7::numeric, "
    "$8::numeric, $9::numeric, $10, $11::bigint, $12::numeric, $13::numeric, $14::numeric, $15::numeric, "
    "$16::numeric, $17::numeric, $18::numeric, $19)",
    19};
constexpr Statement kAliasSet{"tl_price_alias_set", "SELECT {schema}.price_alias_set($1, $2, $3, $4::timestamptz, $5)",
                              5};
constexpr Statement kImportLitellm{"tl_price_import_litellm",
                                   "SELECT r.entry, r.provider, r.model, r.service_tier, r.action, r.reason "
                                   "FROM {schema}.price_import_litellm($1::jsonb, $2::timestamptz) r",
                                   2};
constexpr Statement kImportGenai{"tl_price_import_genai_prices",
                                 "SELECT r.entry, r.provider, r.model, r.service_tier, r.action, r.reason "
                                 "FROM {schema}.price_import_genai_prices($1::jsonb) r",
                                 1};
constexpr Statement kProviderName{"tl_price_provider_name", "SELECT {schema}.price_provider_name($1)", 1};
// Costs as nano-USD integers (exact, no numeric text to parse); an unset
// time is usage_cost's default, now().
constexpr Statement kCost{
    "tl_usage_cost",
    "SELECT c.input_cost_nano_usd, c.output_cost_nano_usd, c.cache_read_cost_nano_usd, "
    "c.cache_write_cost_nano_usd, c.reasoning_cost_nano_usd, c.total_cost_nano_usd, "
    "c.request_cost_nano_usd, c.price_id FROM {schema}.usage_cost($1, $2::bigint, $3::bigint, "
    "$4::bigint, $5::bigint, $6::bigint, $7::bigint, coalesce($8::timestamptz, pg_catalog.now()), "
    "$9, $10) c",
    10};
constexpr Statement kReprice{"tl_usage_reprice",
                             "SELECT r.events_changed, r.cost_delta_nano_usd FROM "
                             "{schema}.usage_reprice($1::timestamptz, $2::timestamptz) r",
                             2};

std::vector<PriceImportRow> read_import(const PGresult* r) {
    return read_rows<PriceImportRow>(r, [](RowReader& row) {
        PriceImportRow x;
        row.into(x.entry, x.provider, x.model, x.service_tier, x.action, x.reason);
        return x;
    });
}

Usd nano(RowReader& r) { return Usd::from_nano(r.i64()); }

}  // namespace

std::int32_t Client::price_set(const PriceSpec& p) {
    auto r =
        impl_->run(kPriceSet, {param(p.provider), param(p.model), param(p.valid_from), param(p.input_per_mtok),
                               param(p.output_per_mtok), param(p.cache_read_per_mtok), param(p.cache_write_per_mtok),
                               param(p.cache_write_1h_per_mtok), param(p.reasoning_per_mtok), param(p.service_tier),
                               param(p.tier_threshold_tokens), param(p.tier_input_per_mtok),
                               param(p.tier_output_per_mtok), param(p.tier_cache_read_per_mtok),
                               param(p.tier_cache_write_per_mtok), param(p.tier_cache_write_1h_per_mtok),
                               param(p.tier_reasoning_per_mtok), param(p.request), param(p.source)});
    return static_cast<std::int32_t>(RowReader(r.get(), 0).i64());
}

std::int32_t Client::price_alias_set(const std::string& provider, const std::string& alias,
                                     const std::string& target_model, TimePoint valid_from,
                                     const std::optional<std::string>& source) {
    auto r =
        impl_->run(kAliasSet, {param(provider), param(alias), param(target_model), param(valid_from), param(source)});
    return static_cast<std::int32_t>(RowReader(r.get(), 0).i64());
}

std::vector<PriceImportRow> Client::price_import_litellm(const std::string& catalog_json, TimePoint effective_from) {
    return read_import(impl_->run(kImportLitellm, {param(catalog_json), param(effective_from)}).get());
}

std::vector<PriceImportRow> Client::price_import_genai_prices(const std::string& catalog_json) {
    return read_import(impl_->run(kImportGenai, {param(catalog_json)}).get());
}

std::string Client::price_provider_name(const std::string& source_name) {
    return RowReader(impl_->run(kProviderName, {param(source_name)}).get(), 0).text();
}

std::optional<UsageCost> Client::usage_cost(const UsageEvent& ev) {
    auto r = impl_->run(kCost,
                        {param(ev.model), param(ev.input_tokens), param(ev.output_tokens), param(ev.cache_read_tokens),
                         param(ev.cache_write_tokens), param(ev.cache_write_1h_tokens), param(ev.reasoning_tokens),
                         param(ev.occurred_at), param(ev.provider), param(ev.service_tier)});
    RowReader row(r.get(), 0);
    if (PQgetisnull(r.get(), 0, 7)) return std::nullopt;  // no price: every column is NULL
    UsageCost c;
    for (auto* v : {&c.cost.input, &c.cost.output, &c.cost.cache_read, &c.cost.cache_write, &c.cost.reasoning,
                    &c.cost.total, &c.request})
        *v = nano(row);
    c.price_id = static_cast<std::int32_t>(row.i64());
    return c;
}

RepriceResult Client::usage_reprice(TimePoint from, TimePoint to) {
    auto r = impl_->run(kReprice, {param(from), param(to)});
    RowReader row(r.get(), 0);
    RepriceResult out;
    out.events_changed = row.i64();
    out.cost_delta = nano(row);
    return out;
}

}  // namespace tokenledger
