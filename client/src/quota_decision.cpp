#include "tokenledger/quota_decision.hpp"

#include <cstdio>
#include <ctime>

#include "tokenledger/error.hpp"
#include "tokenledger/usd.hpp"

namespace tokenledger {
namespace {

std::string json_string(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            o += buf;
        } else {
            o += static_cast<char>(c);
        }
    }
    return o + "\"";
}

// An amount in the limit's unit as an exact decimal: nano-USD as USD.
std::string amount(std::int64_t v, const std::string& unit) {
    return unit == "usd" ? Usd::from_nano(v).str() : std::to_string(v);
}

std::string json_amount(const std::optional<std::int64_t>& v, const std::string& unit) {
    return v ? amount(*v, unit) : "null";
}

// Whole seconds, rounded up: a client told to come back then is not early.
std::string rfc3339(std::chrono::system_clock::time_point tp) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count();
    std::time_t t = static_cast<std::time_t>(us / 1000000 + (us % 1000000 > 0 ? 1 : 0));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

int QuotaDecision::http_status() const noexcept {
    if (allowed) return 200;
    if (source == QuotaSource::FailClosed) return unavailable_status;
    return blocked ? 403 : 429;
}

std::string QuotaDecision::retry_after_header() const {
    if (allowed || !retry_after) return {};
    return std::to_string(*retry_after < 1 ? 1 : *retry_after);
}

std::string QuotaDecision::message() const {
    if (allowed) {
        if (source == QuotaSource::FailOpen) return "quota not checked (allowed by the fail-open policy): " + error;
        return "quota allows the request";
    }
    if (source == QuotaSource::FailClosed)
        return "quota could not be checked (denied by the fail-closed policy): " + error;
    if (blocked) return "access blocked" + (block_reason.empty() ? std::string() : ": " + block_reason);
    std::string m = "quota exceeded: " + limit_name;
    if (used && limit) m += " (" + amount(*used, unit) + " of " + amount(*limit, unit) + " " + unit + " used)";
    if (retry_after) m += ", retry after " + std::to_string(*retry_after) + " s";
    return m;
}

std::string QuotaDecision::http_body() const {
    if (allowed) return {};
    const char* type = source == QuotaSource::FailClosed ? "quota_unavailable"
                       : blocked                         ? "user_blocked"
                                                         : "quota_exceeded";
    auto str = [](const std::string& s) { return s.empty() ? std::string("null") : json_string(s); };
    std::string b = "{\"error\": {\"type\": \"";
    b += type;
    b += "\", \"message\": " + json_string(message());
    b += ", \"limit\": " + str(limit_name);
    b += ", \"unit\": " + str(unit);
    b += ", \"used\": " + json_amount(used, unit);
    b += ", \"reserved\": " + json_amount(reserved, unit);
    b += ", \"limit_value\": " + json_amount(limit, unit);
    b += ", \"remaining\": " + json_amount(remaining, unit);
    b += ", \"resets_at\": " + (resets_at ? json_string(rfc3339(*resets_at)) : std::string("null"));
    std::string ra = retry_after_header();
    b += ", \"retry_after\": " + (ra.empty() ? std::string("null") : ra);
    b += ", \"plan\": " + str(plan);
    b += "}}";
    return b;
}

void QuotaDecision::throw_if_denied() const {
    if (!allowed) throw QuotaDenied(*this);
}

QuotaDenied::QuotaDenied(QuotaDecision decision)
    : Error(decision.message(), "53400"), decision_(std::move(decision)) {}

}  // namespace tokenledger
