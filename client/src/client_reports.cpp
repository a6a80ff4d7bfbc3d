// Client's report methods: usage_user_summary, usage_top_users,
// usage_user_history, usage_session_summary, usage_system_summary,
// usage_timeseries, usage_by_model/endpoint/provider, usage_totals.
#include "client_impl.hpp"

namespace tokenledger {
using namespace detail;
namespace {

// The columns of UsageFigures, in read_figures' order. Session summaries
// have no latency percentiles: NULLs keep the shape.
std::string figures(bool percentiles) {
    return std::string(
               "x.requests, x.successes, x.failures, x.success_rate, x.unpriced_requests, x.input_tokens, "
               "x.output_tokens, x.cache_read_tokens, x.cache_write_tokens, x.cache_write_1h_tokens, "
               "x.reasoning_tokens, x.input_cost_usd, x.output_cost_usd, x.cache_read_cost_usd, "
               "x.cache_write_cost_usd, x.reasoning_cost_usd, x.total_cost_usd, x.avg_latency_ms, ") +
           (percentiles ? "x.p50_latency_ms, x.p95_latency_ms, x.p99_latency_ms"
                        : "NULL::bigint, NULL::bigint, NULL::bigint");
}

// The six buckets in TokenCounts' order, and the costs in CostBreakdown's.
void read_tokens(RowReader& r, TokenCounts& t) {
    r.into(t.input_tokens, t.output_tokens, t.cache_read_tokens, t.cache_write_tokens, t.cache_write_1h_tokens,
           t.reasoning_tokens);
}

void read_costs(RowReader& r, CostBreakdown& c) {
    r.into(c.input, c.output, c.cache_read, c.cache_write, c.reasoning, c.total);
}

UsageFigures read_figures(RowReader& r) {
    UsageFigures f;
    r.into(f.requests, f.successes, f.failures, f.success_rate, f.unpriced_requests);
    read_tokens(r, f.tokens);
    read_costs(r, f.cost);
    r.into(f.latency.avg_ms, f.latency.p50_ms, f.latency.p95_ms, f.latency.p99_ms);
    return f;
}

// requests, failures, unpriced_requests, total_tokens, total_cost_usd.
constexpr const char* kTotalsColumns = "x.requests, x.failures, x.unpriced_requests, x.total_tokens, x.total_cost_usd";

UsageTotals read_totals(RowReader& r) {
    UsageTotals t;
    r.into(t.requests, t.failures, t.unpriced_requests, t.total_tokens, t.total_cost);
    return t;
}

std::string period_columns() { return epoch_us("x.period_from") + ", " + epoch_us("x.period_to"); }

constexpr Statement kUserSummary{"tl_usage_user_summary",
                                 [] {
                                     return "SELECT " + period_columns() + ", " + figures(true) +
                                            " FROM {schema}.usage_user_summary($1, $2::timestamptz, $3::timestamptz) x";
                                 },
                                 3};
constexpr Statement kTopUsers{
    "tl_usage_top_users",
    [] {
        return std::string("SELECT x.rank, x.user_id, ") + kTotalsColumns +
               " FROM {schema}.usage_top_users($1::timestamptz, $2::timestamptz, $3::integer, "
               "$4, $5::integer) x";
    },
    5};
constexpr Statement kUserHistory{
    "tl_usage_user_history",
    [] {
        return "SELECT x.event_id, " + epoch_us("x.occurred_at") +
               ", x.user_id, x.provider, x.model, x.endpoint, x.request_type, x.service_tier, x.session_id, "
               "x.message_id, x.request_id, x.success, x.error_type, x.latency_ms, x.input_tokens, x.output_tokens, "
               "x.cache_read_tokens, x.cache_write_tokens, x.cache_write_1h_tokens, x.reasoning_tokens, x.priced, "
               "x.input_cost_usd, x.output_cost_usd, x.cache_read_cost_usd, x.cache_write_cost_usd, "
               "x.reasoning_cost_usd, x.total_cost_usd, x.price_id, x.metadata "
               "FROM {schema}.usage_user_history($1, $2::integer, $3::bigint) x";
    },
    3};
constexpr Statement kSession{"tl_usage_session_summary",
                             [] {
                                 return "SELECT x.user_ids, " + epoch_us("x.first_at") + ", " + epoch_us("x.last_at") +
                                        ", " + figures(false) + " FROM {schema}.usage_session_summary($1) x";
                             },
                             1};
constexpr Statement kSystem{"tl_usage_system_summary",
                            [] {
                                return "SELECT " + period_columns() + ", x.unique_users, " + figures(true) +
                                       ", x.days, x.avg_requests_per_day, x.avg_cost_per_day_usd FROM "
                                       "{schema}.usage_system_summary($1::timestamptz, $2::timestamptz) x";
                            },
                            2};
constexpr Statement kTimeseries{"tl_usage_timeseries",
                                [] {
                                    return "SELECT " + epoch_us("x.bucket_start") + ", " + kTotalsColumns +
                                           ", x.avg_latency_ms FROM {schema}.usage_timeseries($1, $2::timestamptz, "
                                           "$3::timestamptz, $4, $5, $6) x";
                                },
                                6};
constexpr Statement kTotals{"tl_usage_totals",
                            [] {
                                return "SELECT x.period, " + period_columns() + ", x.unique_users, " + kTotalsColumns +
                                       " FROM {schema}.usage_totals() x";
                            },
                            0};

// usage_by_model / usage_by_endpoint / usage_by_provider: one shape, the
// name column named after the dimension.
std::string breakdown_sql(const std::string& dimension) {
    return "SELECT x." + dimension + ", " + figures(true) + ", x.cost_share FROM {schema}.usage_by_" + dimension +
           "($1::timestamptz, $2::timestamptz) x";
}
constexpr Statement kByModel{"tl_usage_by_model", [] { return breakdown_sql("model"); }, 2};
constexpr Statement kByEndpoint{"tl_usage_by_endpoint", [] { return breakdown_sql("endpoint"); }, 2};
constexpr Statement kByProvider{"tl_usage_by_provider", [] { return breakdown_sql("provider"); }, 2};

const char* ranking_name(UserRanking r) {
    switch (r) {
    case UserRanking::Tokens: return "tokens";
    case UserRanking::Requests: return "requests";
    default: return "cost";
    }
}

const char* bucket_name(TimeBucket b) {
    switch (b) {
    case TimeBucket::Hour: return "hour";
    case TimeBucket::Week: return "week";
    case TimeBucket::Month: return "month";
    default: return "day";
    }
}

LedgerEvent read_event(RowReader& r) {
    LedgerEvent x;
    UsageEvent& e = x.event;
    r.into(x.event_id, e.occurred_at, e.user_id, e.provider, e.model, e.endpoint, e.request_type, e.service_tier,
           e.session_id, e.message_id, e.request_id, e.success, e.error_type, e.latency_ms);
    TokenCounts tokens;
    read_tokens(r, tokens);
    apply(tokens, e);
    bool priced = false;
    CostBreakdown cost;
    r.into(priced);
    read_costs(r, cost);
    if (priced) x.cost = cost;
    r.into(x.price_id, e.metadata);
    return x;
}

BreakdownRow read_breakdown(RowReader& r) {
    BreakdownRow b;
    r.into(b.name);
    b.usage = read_figures(r);
    r.into(b.cost_share);
    return b;
}

}  // namespace

UserSummary Client::usage_user_summary(const std::string& user_id, OptTime from, OptTime to) {
    auto res = impl_->run(kUserSummary, {param(user_id), param(from), param(to)});
    RowReader r(res.get(), 0);
    UserSummary u;
    r.into(u.period.from, u.period.to);
    u.usage = read_figures(r);
    return u;
}

std::vector<TopUser> Client::usage_top_users(OptTime from, OptTime to, std::int32_t limit, UserRanking order_by,
                                             std::int32_t offset) {
    auto res =
        impl_->run(kTopUsers, {param(from), param(to), param(limit), param(ranking_name(order_by)), param(offset)});
    return read_rows<TopUser>(res.get(), [](RowReader& r) {
        TopUser u;
        r.into(u.rank, u.user_id);
        u.usage = read_totals(r);
        return u;
    });
}

std::vector<LedgerEvent> Client::usage_user_history(const std::string& user_id, std::int32_t limit,
                                                    std::optional<std::int64_t> before_id) {
    auto res = impl_->run(kUserHistory, {param(user_id), param(limit), param(before_id)});
    return read_rows<LedgerEvent>(res.get(), read_event);
}

SessionSummary Client::usage_session_summary(const std::string& session_id) {
    auto res = impl_->run(kSession, {param(session_id)});
    RowReader r(res.get(), 0);
    SessionSummary s;
    r.into(s.user_ids, s.first_at, s.last_at);
    s.usage = read_figures(r);
    return s;
}

SystemSummary Client::usage_system_summary(OptTime from, OptTime to) {
    auto res = impl_->run(kSystem, {param(from), param(to)});
    RowReader r(res.get(), 0);
    SystemSummary s;
    r.into(s.period.from, s.period.to, s.unique_users);
    s.usage = read_figures(r);
    r.into(s.days, s.avg_requests_per_day, s.avg_cost_per_day);
    return s;
}

std::vector<TimeseriesPoint> Client::usage_timeseries(TimeBucket bucket, OptTime from, OptTime to,
                                                      const SeriesFilter& filter) {
    auto res = impl_->run(kTimeseries, {param(bucket_name(bucket)), param(from), param(to), param(filter.user_id),
                                        param(filter.model), param(filter.endpoint)});
    return read_rows<TimeseriesPoint>(res.get(), [](RowReader& r) {
        TimeseriesPoint p;
        r.into(p.bucket_start);
        p.usage = read_totals(r);
        r.into(p.avg_latency_ms);
        return p;
    });
}

std::vector<BreakdownRow> Client::usage_by_model(OptTime from, OptTime to) {
    return read_rows<BreakdownRow>(impl_->run(kByModel, {param(from), param(to)}).get(), read_breakdown);
}

std::vector<BreakdownRow> Client::usage_by_endpoint(OptTime from, OptTime to) {
    return read_rows<BreakdownRow>(impl_->run(kByEndpoint, {param(from), param(to)}).get(), read_breakdown);
}

std::vector<BreakdownRow> Client::usage_by_provider(OptTime from, OptTime to) {
    return read_rows<BreakdownRow>(impl_->run(kByProvider, {param(from), param(to)}).get(), read_breakdown);
}

std::vector<PeriodTotals> Client::usage_totals() {
    return read_rows<PeriodTotals>(impl_->run(kTotals, Params{}).get(), [](RowReader& r) {
        PeriodTotals t;
        r.into(t.period, t.bounds.from, t.bounds.to, t.unique_users);
        t.usage = read_totals(r);
        return t;
    });
}

}  // namespace tokenledger
