// tokenledger C++ client: maintenance, scheduling, partitions and erasure
// (Client::usage_rollup, usage_schedule, usage_partitions, ...).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tokenledger {

/// One pg_cron job of usage_schedule.
struct CronJob {
    std::string jobname;                  ///< tokenledger-rollup-<db> or tokenledger-maintenance-<db>
    std::int64_t jobid = 0;
    std::string schedule;                 ///< cron expression
    std::string command;                  ///< CALL <schema>.usage_rollup() / usage_maintenance()
};

/// One table usage_forget_user rewrote.
struct ForgetResult {
    std::string object;                   ///< usage_log, usage_rollup_hourly, ..., quota_audit
    std::int64_t rows_changed = 0;
    std::string reassigned_to;            ///< the anonymous subject
};

/// One partition of usage_log; the default partition has no bounds.
struct LedgerPartition {
    std::string name;
    std::optional<std::chrono::system_clock::time_point> range_from;
    std::optional<std::chrono::system_clock::time_point> range_to;  ///< exclusive
    bool is_default = false;
};

}  // namespace tokenledger
