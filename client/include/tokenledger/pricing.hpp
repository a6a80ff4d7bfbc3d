// tokenledger C++ client: the price catalog and costs (Client::price_*,
// usage_cost, usage_reprice). Prices are exact USD per million tokens.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "tokenledger/reports.hpp"
#include "tokenledger/usd.hpp"

namespace tokenledger {

/// The arguments of price_set: a provider's model and service tier, priced
/// from valid_from on. Prices may have at most 9 decimals. nullopt optional
/// prices take the catalog's fallbacks (e.g. reasoning at the output price).
struct PriceSpec {
    std::string provider;
    std::string model;
    std::chrono::system_clock::time_point valid_from;
    Usd input_per_mtok;
    Usd output_per_mtok;
    std::optional<Usd> cache_read_per_mtok;
    std::optional<Usd> cache_write_per_mtok;         ///< 5-minute cache writes
    std::optional<Usd> cache_write_1h_per_mtok;
    std::optional<Usd> reasoning_per_mtok;
    std::string service_tier = "standard";           ///< standard, batch, flex or priority
    /// A context tier: above this many input tokens (cached included) the
    /// tier_* prices apply (tier input and output are then required).
    std::optional<std::int64_t> tier_threshold_tokens;
    std::optional<Usd> tier_input_per_mtok;
    std::optional<Usd> tier_output_per_mtok;
    std::optional<Usd> tier_cache_read_per_mtok;
    std::optional<Usd> tier_cache_write_per_mtok;
    std::optional<Usd> tier_cache_write_1h_per_mtok;
    std::optional<Usd> tier_reasoning_per_mtok;
    std::optional<Usd> request;                      ///< a price per request
    std::optional<std::string> source;               ///< where the price comes from
};

/// One entry of a price_import_litellm / price_import_genai_prices run.
struct PriceImportRow {
    std::string entry;                               ///< the catalog's key for the entry
    std::optional<std::string> provider;             ///< nullopt when skipped before it was known
    std::optional<std::string> model;
    std::optional<std::string> service_tier;
    std::string action;                              ///< inserted, changed, unchanged or skipped
    std::optional<std::string> reason;               ///< why it was skipped
};

/// usage_cost: what one call costs at the catalog price in force.
struct UsageCost {
    CostBreakdown cost;                              ///< cost.total includes `request`
    Usd request;                                     ///< the per-request price, if any
    std::int32_t price_id = 0;                       ///< the catalog row used
};

/// usage_reprice: how stored costs changed.
struct RepriceResult {
    std::int64_t events_changed = 0;
    Usd cost_delta;                                  ///< new total minus old total (negative when cheaper)
};

}  // namespace tokenledger
