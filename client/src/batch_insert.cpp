// Client::insert_batch_arrays: many events in one usage_log_insert_batch call.
#include <cstdio>

#include "client_impl.hpp"

namespace tokenledger {
namespace {

// A PostgreSQL array literal built column by column: strings are always
// quoted (so empty strings and "NULL" stay strings), NULL is unquoted.
class ArrayLiteral {
public:
    explicit ArrayLiteral(std::size_t n) { s_.reserve(n * 12 + 2); s_ += '{'; }
    void null() { sep(); s_ += "NULL"; }
    void number(std::int64_t v) {
        sep();
        char buf[24];
        int len = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
        s_.append(buf, static_cast<std::size_t>(len));
    }
    void str(const std::string& v) {
        sep();
        s_ += '"';
        for (char c : v) {
            if (c == '"' || c == '\\') s_ += '\\';
            s_ += c;
        }
        s_ += '"';
    }
    void opt(const std::optional<std::string>& v) { v ? str(*v) : null(); }
    std::string done() { return std::move(s_) + '}'; }

private:
    void sep() {
        if (s_.size() > 1) s_ += ',';
    }
    std::string s_;
};

// Parses the text form of a bigint[] ("{1,2,NULL}").
std::vector<std::optional<std::int64_t>> parse_ids(const std::string& s) {
    std::vector<std::optional<std::int64_t>> ids;
    std::size_t i = 1;
    while (i < s.size() && s[i] != '}') {
        std::size_t j = s.find_first_of(",}", i);
        if (j == std::string::npos) j = s.size();
        std::string item = s.substr(i, j - i);
        if (item == "NULL")
            ids.emplace_back(std::nullopt);
        else
            ids.emplace_back(std::stoll(item));
        i = j + (j < s.size() && s[j] == ',' ? 1 : 0);
    }
    return ids;
}

constexpr detail::Statement kInsertBatch{
    "tl_usage_log_insert_batch",
    "SELECT {schema}.usage_log_insert_batch($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], "
    "$7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], "
    "$15::timestamptz[], $16::int4[], $17::bool[], $18::text[], $19::jsonb[], $20::text[], $21::int8[])",
    21};

}  // namespace

std::vector<std::optional<std::int64_t>> Client::insert_batch_arrays(const std::vector<UsageEvent>& events) {
    if (events.empty()) return {};
    const std::size_t n = events.size();
    enum { USER, MODEL, IN, OUT, CR, CW, CW1H, RSN, PROV, ENDP, RTYPE, SESS, MSG, RID, AT, LAT, OK, ERR, META, TIER, RES, N };
    std::vector<ArrayLiteral> a(N, ArrayLiteral(n));
    bool settles = false;
    for (const auto& e : events) {
        a[USER].str(e.user_id);
        a[MODEL].str(e.model);
        a[IN].number(e.input_tokens);
        a[OUT].number(e.output_tokens);
        a[CR].number(e.cache_read_tokens);
        a[CW].number(e.cache_write_tokens);
        a[CW1H].number(e.cache_write_1h_tokens);
        a[RSN].number(e.reasoning_tokens);
        a[PROV].opt(e.provider);
        a[ENDP].opt(e.endpoint);
        a[RTYPE].str(e.request_type);
        a[SESS].opt(e.session_id);
        a[MSG].opt(e.message_id);
        a[RID].opt(e.request_id);
        if (e.occurred_at)
            a[AT].str(detail::format_time(*e.occurred_at));
        else
            a[AT].null();  // the server's now()
        if (e.latency_ms)
            a[LAT].number(*e.latency_ms);
        else
            a[LAT].null();
        a[OK].str(e.success ? "t" : "f");
        a[ERR].opt(e.error_type);
        a[META].opt(e.metadata);
        a[TIER].str(e.service_tier);
        if (e.reservation_id)
            a[RES].number(*e.reservation_id);
        else
            a[RES].null();
        settles = settles || e.reservation_id.has_value();
    }
    Params p;
    p.reserve(N);
    for (auto& col : a) p.emplace_back(col.done());
    // Without holds to settle the array is omitted (NULL): nothing to unpack.
    if (!settles) p[RES] = std::nullopt;
    auto r = impl_->run(kInsertBatch, p);
    if (PQntuples(r.get()) != 1 || PQgetisnull(r.get(), 0, 0))
        throw ServerError("usage_log_insert_batch returned no ids");
    auto ids = parse_ids(PQgetvalue(r.get(), 0, 0));
    if (ids.size() != n) throw ServerError("usage_log_insert_batch returned a wrong number of ids");
    return ids;
}

}  // namespace tokenledger
