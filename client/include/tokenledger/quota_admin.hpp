// tokenledger C++ client: plans, assignments, status and alerts of the
// quota engine (Client::quota_*). Decisions are QuotaDecision.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenledger/usd.hpp"

namespace tokenledger {

/// A plan (quota_plans row). nullopt limits are unlimited; give every limit
/// each time, since quota_plan_set replaces the whole plan.
struct QuotaPlan {
    std::string plan;                               ///< 1-64 of [A-Za-z0-9_.-]
    std::optional<std::int64_t> requests_per_minute;  ///< sliding 60 s
    std::optional<std::int64_t> requests_per_hour;    ///< sliding 60 min
    std::optional<std::int64_t> requests_per_day;     ///< calendar day
    std::optional<std::int64_t> tokens_per_minute;
    std::optional<std::int64_t> tokens_per_day;
    std::optional<std::int64_t> tokens_per_month;
    std::optional<Usd> cost_per_day;
    std::optional<Usd> cost_per_month;
    std::vector<std::int32_t> alert_thresholds{50, 80, 100};  ///< percent of a limit
    std::optional<std::string> timezone;            ///< of the day and month windows; nullopt: tokenledger.timezone
    /// Read only: when quota_plan_set last changed the row.
    std::optional<std::chrono::system_clock::time_point> updated_at;
};

/// A user's assignment (quota_users row).
struct QuotaUser {
    std::string user_id;
    std::string plan;
    /// The per-user limits as stored: a JSON object keyed by quota_plans
    /// column (cost in nano-USD, e.g. {"cost_per_day_nano_usd": 2500000000}).
    std::string overrides;
    bool blocked = false;
    std::optional<std::string> block_reason;
    std::optional<std::chrono::system_clock::time_point> blocked_at;
    std::chrono::system_clock::time_point assigned_at;
};

/// One limit of quota_status. Amounts are in `unit`: requests, tokens, or
/// for usd limits nano-USD (like QuotaDecision).
struct QuotaLimitStatus {
    std::string limit_name;                         ///< requests_per_minute, ..., cost_per_month
    std::string unit;                               ///< requests, tokens or usd
    std::string window_kind;                        ///< minute, hour (sliding), day, month (calendar)
    std::int64_t used = 0;                          ///< recorded usage in the window
    std::int64_t reserved = 0;                      ///< active holds
    std::int64_t limit = 0;
    std::int64_t remaining = 0;                     ///< limit - used - reserved, at least 0
    std::chrono::system_clock::time_point window_start;
    std::optional<std::chrono::system_clock::time_point> resets_at;
};

/// quota_status: a user's plan, block and every limit of the plan.
struct QuotaStatus {
    std::string plan;
    bool blocked = false;
    std::optional<std::string> block_reason;
    std::vector<QuotaLimitStatus> limits;           ///< empty for a plan without limits
};

/// One quota_alerts row: usage crossed threshold_pct of a limit.
struct QuotaAlert {
    std::int64_t alert_id = 0;
    std::chrono::system_clock::time_point created_at;
    std::string user_id;
    std::string plan;
    std::string limit_name;
    std::int32_t threshold_pct = 0;
    std::chrono::system_clock::time_point window_start;
    std::int64_t used = 0;                          ///< in unit (nano-USD for usd)
    std::int64_t limit = 0;
    std::string unit;                               ///< requests, tokens or usd
};

/// One row of quota_limit_kinds: a kind of limit a plan may set.
struct QuotaLimitKind {
    std::string limit_name;
    std::string plan_column;                        ///< the quota_plans column (cost in nano-USD)
    std::string unit;
    std::string window_kind;
    bool sliding = false;
};

}  // namespace tokenledger
