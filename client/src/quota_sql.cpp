#include "quota_sql.hpp"

namespace tokenledger {
namespace detail {
namespace {

// The decision columns in base units (nano-USD for usd limits), times as
// epoch microseconds: no text parsing of numerics or timestamps.
std::string decision_columns() {
    return "d.allowed, d.limit_name, d.unit, " + quota_amount_sql("d.used", "d.unit") + ", " +
           quota_amount_sql("d.reserved", "d.unit") + ", " + quota_amount_sql("d.limit_value", "d.unit") + ", " +
           quota_amount_sql("d.remaining", "d.unit") + ", " + epoch_us("d.resets_at") +
           ", d.retry_after, d.blocked, d.block_reason, d.plan";
}

}  // namespace

std::string quota_amount_sql(const std::string& column, const std::string& unit_column) {
    return "CASE " + unit_column + " WHEN 'usd' THEN (" + column + " * 1000000000)::bigint ELSE " + column +
           "::bigint END";
}

std::string quota_check_sql() {
    return "SELECT " + decision_columns() + " FROM {schema}.quota_check($1, $2::bigint, $3::numeric) d";
}

std::string quota_reserve_sql() {
    return "SELECT d.reservation_id, " + epoch_us("d.expires_at") + ", " + decision_columns() +
           " FROM {schema}.quota_reserve($1, $2::bigint, $3::numeric, $4::bigint * interval '1 second') d";
}

std::string quota_release_sql() { return "SELECT {schema}.quota_release($1::bigint)"; }

std::vector<std::string> quota_params(const std::string& user_id, std::int64_t est_tokens,
                                      std::int64_t est_cost_nano_usd) {
    return {user_id, std::to_string(est_tokens), Usd::from_nano(est_cost_nano_usd).str()};
}

std::vector<std::string> quota_reserve_params(const std::string& user_id, std::int64_t est_tokens,
                                              std::int64_t est_cost_nano_usd, std::chrono::seconds ttl) {
    auto p = quota_params(user_id, est_tokens, est_cost_nano_usd);
    p.push_back(std::to_string(ttl.count()));
    return p;
}

QuotaDecision read_quota_decision(const PGresult* r, bool reservation) {
    RowReader row(r, 0);
    QuotaDecision d;
    if (reservation) row.into(d.reservation_id, d.expires_at);
    row.into(d.allowed, d.limit_name, d.unit, d.used, d.reserved, d.limit, d.remaining, d.resets_at, d.retry_after,
             d.blocked, d.block_reason, d.plan);
    return d;
}

}  // namespace detail
}  // namespace tokenledger
