// Internal: the SQL of quota_check / quota_reserve / quota_release and how
// their answers become a QuotaDecision. One source for QuotaGuard (with a
// deadline and a fail policy) and Client (plain calls).
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "pq.hpp"
#include "tokenledger/quota_decision.hpp"

namespace tokenledger {
namespace detail {

// The SQL, with {schema} for the extension's schema (with_schema).
/// SELECT over quota_check($1 user, $2 est_tokens, $3 est_cost USD).
std::string quota_check_sql();
/// SELECT over quota_reserve($1, $2, $3, $4 ttl in seconds).
std::string quota_reserve_sql();
/// SELECT quota_release($1 reservation_id).
std::string quota_release_sql();

/// The parameters of quota_check_sql.
std::vector<std::string> quota_params(const std::string& user_id, std::int64_t est_tokens,
                                      std::int64_t est_cost_nano_usd);
/// The parameters of quota_reserve_sql: quota_params and the ttl.
std::vector<std::string> quota_reserve_params(const std::string& user_id, std::int64_t est_tokens,
                                              std::int64_t est_cost_nano_usd, std::chrono::seconds ttl);

/// The decision in row 0 of a quota_check_sql / quota_reserve_sql result.
QuotaDecision read_quota_decision(const PGresult* r, bool reservation);

/// SQL for an amount of a quota limit in its base unit as bigint: nano-USD
/// for usd limits, requests and tokens as they are.
std::string quota_amount_sql(const std::string& column, const std::string& unit_column);

}  // namespace detail
}  // namespace tokenledger
