#include "pq.hpp"

#include <cstdio>
#include <ctime>

namespace tokenledger {
namespace detail {

std::string error_field(const PGresult* r, int code) {
    const char* v = r ? PQresultErrorField(r, code) : nullptr;
    return v ? v : "";
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string format_time(TimePoint tp) {
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

std::string with_schema(std::string sql, const std::string& schema) {
    static const std::string marker = "{schema}";
    for (std::size_t at = sql.find(marker); at != std::string::npos; at = sql.find(marker, at + schema.size()))
        sql.replace(at, marker.size(), schema);
    return sql;
}

std::string epoch_us(const std::string& column) {
    return "CASE WHEN pg_catalog.isfinite(" + column + ") THEN (extract(epoch FROM " + column +
           ") * 1000000)::bigint END";
}

const char* RowReader::next() {
    int c = col_++;
    return PQgetisnull(r_, row_, c) ? nullptr : PQgetvalue(r_, row_, c);
}

std::optional<std::string> RowReader::opt_text() {
    int c = col_;
    const char* v = next();
    if (!v) return std::nullopt;
    return std::string(v, static_cast<std::size_t>(PQgetlength(r_, row_, c)));
}

std::string RowReader::text() { return opt_text().value_or(std::string()); }

std::optional<std::int64_t> RowReader::opt_i64() {
    const char* v = next();
    if (!v) return std::nullopt;
    return std::stoll(v);
}

std::int64_t RowReader::i64() { return opt_i64().value_or(0); }

void RowReader::read(std::optional<std::int32_t>& v) {
    auto x = opt_i64();
    v = x ? std::optional<std::int32_t>(static_cast<std::int32_t>(*x)) : std::nullopt;
}

std::optional<double> RowReader::opt_double() {
    const char* v = next();
    if (!v) return std::nullopt;
    return std::stod(v);
}

bool RowReader::boolean() {
    const char* v = next();
    return v && v[0] == 't';
}

std::optional<Usd> RowReader::opt_usd() {
    const char* v = next();
    if (!v) return std::nullopt;
    return Usd::parse(v);
}

Usd RowReader::usd() { return opt_usd().value_or(Usd()); }

std::optional<TimePoint> RowReader::opt_time() {
    auto us = opt_i64();
    if (!us) return std::nullopt;
    return TimePoint(std::chrono::microseconds(*us));
}

TimePoint RowReader::time() { return opt_time().value_or(TimePoint()); }

std::vector<std::string> RowReader::text_array() {
    std::vector<std::string> out;
    auto s = opt_text();
    if (!s) return out;
    // {a,"b \"c\"",NULL}: quoted elements use backslash escapes; an
    // unquoted NULL is SQL NULL.
    std::size_t i = 1;
    while (i < s->size() && (*s)[i] != '}') {
        std::string item;
        bool quoted = (*s)[i] == '"';
        if (quoted) {
            for (++i; i < s->size() && (*s)[i] != '"'; ++i) {
                if ((*s)[i] == '\\') ++i;
                if (i < s->size()) item += (*s)[i];
            }
            ++i;  // the closing quote
        } else {
            while (i < s->size() && (*s)[i] != ',' && (*s)[i] != '}') item += (*s)[i++];
        }
        if (quoted || item != "NULL") out.push_back(std::move(item));
        if (i < s->size() && (*s)[i] == ',') ++i;
    }
    return out;
}

}  // namespace detail
}  // namespace tokenledger
