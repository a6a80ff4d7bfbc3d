#include "cli.hpp"

#include <ctime>
#include <iostream>
#include <regex>

namespace tlcli {

std::string resolve_when(const std::string& s) {
    static const std::regex rel("^([0-9]{1,6})([hdw])$");
    std::smatch m;
    if (!std::regex_match(s, m, rel)) return s;
    long n = std::stol(m[1]);
    long secs = n * (m[2] == "h" ? 3600 : m[2] == "d" ? 86400 : 7 * 86400);
    std::time_t t = std::time(nullptr) - secs;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S+00", &tm);
    return buf;
}

void report_range(const Invocation& in, tokenledger::Params& p) {
    auto from = in.get("from"), to = in.get("to");
    p.push_back(from ? std::optional<std::string>(resolve_when(*from)) : std::nullopt);
    p.push_back(to ? std::optional<std::string>(resolve_when(*to))
                   : from ? std::optional<std::string>("now") : std::nullopt);
}

std::int64_t to_int(const std::string& name, const std::string& v) {
    try {
        std::size_t used = 0;
        long long x = std::stoll(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
        return x;
    } catch (const std::exception&) {
        throw UsageError("--" + name + " must be an integer, got \"" + v + "\"");
    }
}

std::string to_decimal(const std::string& name, const std::string& v) {
    static const std::regex dec("^-?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)$");
    if (!std::regex_match(v, dec)) throw UsageError("--" + name + " must be a decimal number, got \"" + v + "\"");
    return v;
}

std::string qualified(tokenledger::Client& c, const std::string& name) {
    return c.quote_ident(c.schema()) + "." + name;
}

int print_query(tokenledger::Client& c, const Invocation& in, const std::string& sql, const tokenledger::Params& p) {
    render(std::cout, c.query(sql, p), in.fmt);
    return kOk;
}

int print_rows(const Invocation& in, std::vector<std::string> columns, std::vector<unsigned int> types,
               std::vector<std::vector<std::optional<std::string>>> rows) {
    tokenledger::Table t;
    t.columns = std::move(columns);
    t.types = std::move(types);
    t.rows = std::move(rows);
    render(std::cout, t, in.fmt);
    return kOk;
}

std::int32_t to_int32(const std::string& name, const std::string& v) {
    std::int64_t x = to_int(name, v);
    if (x < INT32_MIN || x > INT32_MAX) throw UsageError("--" + name + " is out of range: " + v);
    return static_cast<std::int32_t>(x);
}

}  // namespace tlcli
