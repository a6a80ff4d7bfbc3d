// Client's quota methods: decisions (shared with QuotaGuard through
// quota_sql), status, plans, assignments, blocks, alerts and upkeep.
#include "client_impl.hpp"
#include "quota_sql.hpp"

namespace tokenledger {
using namespace detail;
namespace {

constexpr Statement kCheck{"tl_quota_check", quota_check_sql, 3};
constexpr Statement kReserve{"tl_quota_reserve", quota_reserve_sql, 4};
constexpr Statement kRelease{"tl_quota_release", quota_release_sql, 1};
constexpr Statement kStatus{
    "tl_quota_status",
    [] {
        return "SELECT x.plan, x.blocked, x.block_reason, x.limit_name, x.unit, x.window_kind, " +
               quota_amount_sql("x.used", "x.unit") + ", " + quota_amount_sql("x.reserved", "x.unit") + ", " +
               quota_amount_sql("x.limit_value", "x.unit") + ", " + quota_amount_sql("x.remaining", "x.unit") + ", " +
               epoch_us("x.window_start") + ", " + epoch_us("x.resets_at") + " FROM {schema}.quota_status($1) x";
    },
    1};
constexpr Statement kPlanSet{
    "tl_quota_plan_set",
    [] {
        return "SELECT p.plan, p.requests_per_minute, p.requests_per_hour, p.requests_per_day, p.tokens_per_minute, "
               "p.tokens_per_day, p.tokens_per_month, p.cost_per_day_nano_usd, p.cost_per_month_nano_usd, "
               "p.alert_thresholds, p.timezone, " +
               epoch_us("p.updated_at") +
               " FROM {schema}.quota_plan_set($1, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint, "
               "$7::bigint, $8::numeric, $9::numeric, $10::integer[], $11) p";
    },
    11};
constexpr Statement kAssign{"tl_quota_assign",
                            [] {
                                return "SELECT a.user_id, a.plan, a.overrides, a.blocked, a.block_reason, " +
                                       epoch_us("a.blocked_at") + ", " + epoch_us("a.assigned_at") +
                                       " FROM {schema}.quota_assign($1, $2, $3::jsonb) a";
                            },
                            3};
constexpr Statement kBlock{"tl_quota_block", "SELECT {schema}.quota_block($1, $2)", 2};
constexpr Statement kUnblock{"tl_quota_unblock", "SELECT {schema}.quota_unblock($1)", 1};
// The unit is not stored with an alert: quota_limit_kinds names it. The
// SQL defaults of the period are the open ends.
constexpr Statement kAlerts{"tl_quota_alerts",
                            [] {
                                return "SELECT a.alert_id, " + epoch_us("a.created_at") +
                                       ", a.user_id, a.plan, a.limit_name, a.threshold_pct, " +
                                       epoch_us("a.window_start") +
                                       ", a.used, a.limit_value, k.unit FROM {schema}.quota_alerts(coalesce("
                                       "$1::timestamptz, '-infinity'), coalesce($2::timestamptz, 'infinity')) a "
                                       "LEFT JOIN {schema}.quota_limit_kinds() k ON k.limit_name = a.limit_name "
                                       "ORDER BY a.created_at, a.alert_id";
                            },
                            2};
constexpr Statement kLimitKinds{
    "tl_quota_limit_kinds",
    "SELECT k.limit_name, k.plan_column, k.unit, k.window_kind, k.sliding FROM {schema}.quota_limit_kinds() k", 0};
// The functions that take nothing and answer one value.
constexpr Statement kDefaultPlan{"tl_quota_default_plan", "SELECT {schema}.quota_default_plan()", 0};
constexpr Statement kSweep{"tl_quota_sweep_reservations", "SELECT {schema}.quota_sweep_reservations()", 0};
constexpr Statement kPrune{"tl_quota_prune_counters", "SELECT {schema}.quota_prune_counters()", 0};
constexpr Statement kRebuild{"tl_quota_rebuild_counters", "SELECT {schema}.quota_rebuild_counters()", 0};
constexpr Statement kFlush{"tl_quota_counters_flush", "SELECT {schema}.quota_counters_flush()", 0};

// A PostgreSQL array literal of integers: {50,80,100}.
std::string int_array(const std::vector<std::int32_t>& v) {
    std::string s = "{";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "}";
}

}  // namespace

QuotaDecision Client::quota_check(const std::string& user_id, std::int64_t est_tokens, std::int64_t est_cost_nano_usd) {
    auto p = quota_params(user_id, est_tokens, est_cost_nano_usd);
    return read_quota_decision(impl_->run(kCheck, Params(p.begin(), p.end())).get(), false);
}

QuotaDecision Client::quota_reserve(const std::string& user_id, std::int64_t est_tokens, std::int64_t est_cost_nano_usd,
                                    std::chrono::seconds ttl) {
    auto p = quota_reserve_params(user_id, est_tokens, est_cost_nano_usd, ttl);
    return read_quota_decision(impl_->run(kReserve, Params(p.begin(), p.end())).get(), true);
}

bool Client::quota_release(std::int64_t reservation_id) {
    return RowReader(impl_->run(kRelease, {param(reservation_id)}).get(), 0).boolean();
}

QuotaStatus Client::quota_status(const std::string& user_id) {
    auto r = impl_->run(kStatus, {param(user_id)});
    QuotaStatus st;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
        RowReader row(r.get(), i);
        std::optional<std::string> name;
        row.into(st.plan, st.blocked, st.block_reason, name);
        if (!name) continue;  // a plan without limits: one row, no limit
        QuotaLimitStatus l;
        l.limit_name = *name;
        row.into(l.unit, l.window_kind, l.used, l.reserved, l.limit, l.remaining, l.window_start, l.resets_at);
        st.limits.push_back(std::move(l));
    }
    return st;
}

QuotaPlan Client::quota_plan_set(const QuotaPlan& plan) {
    auto r =
        impl_->run(kPlanSet, {param(plan.plan), param(plan.requests_per_minute), param(plan.requests_per_hour),
                              param(plan.requests_per_day), param(plan.tokens_per_minute), param(plan.tokens_per_day),
                              param(plan.tokens_per_month), param(plan.cost_per_day), param(plan.cost_per_month),
                              param(int_array(plan.alert_thresholds)), param(plan.timezone)});
    RowReader row(r.get(), 0);
    QuotaPlan out;
    std::optional<std::int64_t> day_nano, month_nano;  // stored as nano-USD
    std::vector<std::string> thresholds;
    row.into(out.plan, out.requests_per_minute, out.requests_per_hour, out.requests_per_day, out.tokens_per_minute,
             out.tokens_per_day, out.tokens_per_month, day_nano, month_nano, thresholds, out.timezone, out.updated_at);
    if (day_nano) out.cost_per_day = Usd::from_nano(*day_nano);
    if (month_nano) out.cost_per_month = Usd::from_nano(*month_nano);
    out.alert_thresholds.clear();
    for (auto& t : thresholds) out.alert_thresholds.push_back(std::stoi(t));
    return out;
}

QuotaUser Client::quota_assign(const std::string& user_id, const std::string& plan, const std::string& overrides_json) {
    auto r = impl_->run(kAssign, {param(user_id), param(plan), param(overrides_json)});
    QuotaUser u;
    RowReader(r.get(), 0).into(u.user_id, u.plan, u.overrides, u.blocked, u.block_reason, u.blocked_at, u.assigned_at);
    return u;
}

void Client::quota_block(const std::string& user_id, const std::string& reason) {
    impl_->run(kBlock, {param(user_id), param(reason)});
}

bool Client::quota_unblock(const std::string& user_id) {
    return RowReader(impl_->run(kUnblock, {param(user_id)}).get(), 0).boolean();
}

std::vector<QuotaAlert> Client::quota_alerts(OptTime from, OptTime to) {
    auto r = impl_->run(kAlerts, {param(from), param(to)});
    return read_rows<QuotaAlert>(r.get(), [](RowReader& row) {
        QuotaAlert a;
        row.into(a.alert_id, a.created_at, a.user_id, a.plan, a.limit_name, a.threshold_pct, a.window_start, a.used,
                 a.limit, a.unit);
        return a;
    });
}

std::vector<QuotaLimitKind> Client::quota_limit_kinds() {
    return read_rows<QuotaLimitKind>(impl_->run(kLimitKinds, Params{}).get(), [](RowReader& row) {
        QuotaLimitKind k;
        row.into(k.limit_name, k.plan_column, k.unit, k.window_kind, k.sliding);
        return k;
    });
}

std::string Client::quota_default_plan() { return RowReader(impl_->run(kDefaultPlan, Params{}).get(), 0).text(); }

std::int64_t Client::quota_sweep_reservations() { return RowReader(impl_->run(kSweep, Params{}).get(), 0).i64(); }

std::int64_t Client::quota_prune_counters() { return RowReader(impl_->run(kPrune, Params{}).get(), 0).i64(); }

std::int64_t Client::quota_rebuild_counters() { return RowReader(impl_->run(kRebuild, Params{}).get(), 0).i64(); }

std::int32_t Client::quota_counters_flush() {
    return static_cast<std::int32_t>(RowReader(impl_->run(kFlush, Params{}).get(), 0).i64());
}


}  // namespace tokenledger
