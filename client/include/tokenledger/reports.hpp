// tokenledger C++ client: what the report functions answer (Client::usage_*).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenledger/usage_event.hpp"
#include "tokenledger/usd.hpp"

namespace tokenledger {

/// The half-open period [from, to) a report covered, after the report's
/// defaults applied (the current month in tokenledger.timezone when no
/// bounds were given). nullopt is an open end (-infinity / infinity).
struct Period {
    std::optional<TimePoint> from;
    std::optional<TimePoint> to;
};

/// Cost per bucket in exact USD, as the ledger priced it. cache_write
/// covers the 5-minute and the 1-hour cache writes; total also includes
/// any per-request price.
struct CostBreakdown {
    Usd input;
    Usd output;
    Usd cache_read;
    Usd cache_write;
    Usd reasoning;
    Usd total;
};

inline bool operator==(const CostBreakdown& a, const CostBreakdown& b) noexcept {
    return a.input == b.input && a.output == b.output && a.cache_read == b.cache_read &&
           a.cache_write == b.cache_write && a.reasoning == b.reasoning && a.total == b.total;
}
inline bool operator!=(const CostBreakdown& a, const CostBreakdown& b) noexcept { return !(a == b); }

/// Latency in ms. Percentiles come from the rollups' log-spaced histograms:
/// the upper bound of the bucket holding the quantile (at most 1.5x the
/// exact value). nullopt when no event had a latency.
struct LatencyStats {
    std::optional<double> avg_ms;         ///< rounded to 0.1 ms
    std::optional<std::int64_t> p50_ms;
    std::optional<std::int64_t> p95_ms;
    std::optional<std::int64_t> p99_ms;
};

/// The figures every summary and breakdown shares.
struct UsageFigures {
    std::int64_t requests = 0;
    std::int64_t successes = 0;
    std::int64_t failures = 0;
    std::optional<double> success_rate;   ///< successes / requests, 4 places; nullopt without requests
    std::int64_t unpriced_requests = 0;   ///< events of models without a price (cost counted as 0)
    TokenCounts tokens;                   ///< tokens.total() is total_tokens
    CostBreakdown cost;
    LatencyStats latency;
};

/// usage_user_summary: one user over a period.
struct UserSummary {
    Period period;
    UsageFigures usage;
};

/// usage_system_summary: the platform over a period.
struct SystemSummary {
    Period period;
    std::int64_t unique_users = 0;
    UsageFigures usage;
    std::int32_t days = 1;                ///< calendar days of the period up to today (at least 1)
    double avg_requests_per_day = 0;      ///< 2 places
    Usd avg_cost_per_day;
};

/// usage_session_summary: one chat session, straight from the ledger (no
/// latency percentiles).
struct SessionSummary {
    std::vector<std::string> user_ids;
    std::optional<TimePoint> first_at;    ///< nullopt for a session without events
    std::optional<TimePoint> last_at;
    UsageFigures usage;
};

/// One row of usage_by_model / usage_by_endpoint / usage_by_provider.
struct BreakdownRow {
    std::optional<std::string> name;      ///< nullopt: events without an endpoint (provider)
    UsageFigures usage;
    std::optional<double> cost_share;     ///< of the period's total cost, 4 places
};

/// Requests, tokens and cost of a user, a time bucket or a period.
struct UsageTotals {
    std::int64_t requests = 0;
    std::int64_t failures = 0;
    std::int64_t unpriced_requests = 0;
    std::int64_t total_tokens = 0;
    Usd total_cost;
};

/// How usage_top_users ranks (ties by user id).
enum class UserRanking { Cost, Tokens, Requests };

/// One row of usage_top_users.
struct TopUser {
    std::int64_t rank = 0;
    std::string user_id;
    UsageTotals usage;
};

/// The bucket width of usage_timeseries (calendar buckets in tokenledger.timezone).
enum class TimeBucket { Hour, Day, Week, Month };

/// Narrows usage_timeseries to one user, model and/or endpoint.
struct SeriesFilter {
    std::optional<std::string> user_id;
    std::optional<std::string> model;
    std::optional<std::string> endpoint;
};

/// One bucket of usage_timeseries (zero-filled).
struct TimeseriesPoint {
    TimePoint bucket_start;
    UsageTotals usage;
    std::optional<double> avg_latency_ms;
};

/// One row of usage_totals: all_time, this_month or today.
struct PeriodTotals {
    std::string period;
    Period bounds;
    std::int64_t unique_users = 0;
    UsageTotals usage;
};

/// One event of usage_user_history (the usage_events view): the event as
/// recorded (reservation_id is never set) and how it was priced.
struct LedgerEvent {
    std::int64_t event_id = 0;
    UsageEvent event;
    std::optional<CostBreakdown> cost;    ///< nullopt while the event is unpriced
    std::optional<std::int32_t> price_id;
};

}  // namespace tokenledger
