// Client::insert_batch_arrays: many events in one usage_log_insert_batch call.
#include <cstdio>
#include <ctime>

#include "tokenledger/client.hpp"

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

std::string format_utc(std::chrono::system_clock::time_point tp) {
    using namespace std::chrono;
    auto us = duration_cast<microseconds>(tp.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    long frac = static_cast<long>(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        --secs;
    }
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return buf;
}

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

}  // namespace

std::vector<std::optional<std::int64_t>> Client::insert_batch_arrays(const std::vector<UsageEvent>& events) {
    if (events.empty()) return {};
    const std::size_t n = events.size();
    enum { USER, MODEL, IN, OUT, CR, CW, CW1H, RSN, PROV, ENDP, RTYPE, SESS, MSG, RID, AT, LAT, OK, ERR, META, TIER, N };
    std::vector<ArrayLiteral> a(N, ArrayLiteral(n));
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
            a[AT].str(format_utc(*e.occurred_at));
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
    }
    Params p;
    p.reserve(N);
    for (auto& col : a) p.emplace_back(col.done());
    const std::string sql = "SELECT " + quote_ident(schema()) +
                            ".usage_log_insert_batch($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], "
                            "$6::int8[], $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], "
                            "$13::text[], $14::text[], $15::timestamptz[], $16::int4[], $17::bool[], $18::text[], "
                            "$19::jsonb[], $20::text[])";
    Table t = query(sql, p);
    if (t.rows.size() != 1 || !t.rows[0][0]) throw ServerError("usage_log_insert_batch returned no ids");
    auto ids = parse_ids(*t.rows[0][0]);
    if (ids.size() != n) throw ServerError("usage_log_insert_batch returned a wrong number of ids");
    return ids;
}

}  // namespace tokenledger
