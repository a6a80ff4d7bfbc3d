// tokenledger C++ client: the answer of quota_check / quota_reserve, and
// how it renders as an HTTP response.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tokenledger {

/// Where a QuotaDecision came from.
enum class QuotaSource {
    Database,    ///< quota_check / quota_reserve answered
    FailOpen,    ///< the database did not answer in time; the app chose to allow
    FailClosed,  ///< the database did not answer in time; the app chose to deny
};

/// One admission decision. Amounts are in `unit`: requests, tokens, or for
/// usd limits nano-USD (1e-9 USD, exact integers like the ledger).
struct QuotaDecision {
    bool allowed = false;
    QuotaSource source = QuotaSource::Database;
    /// The binding limit when denied (the one that relents last), the limit
    /// closest to binding when allowed, "blocked" for a blocked user, empty
    /// when no limit applies (or the database did not answer).
    std::string limit_name;
    std::string unit;                        ///< requests, tokens or usd
    std::optional<std::int64_t> used;        ///< recorded usage in the limit's window
    std::optional<std::int64_t> reserved;    ///< active holds in the window
    std::optional<std::int64_t> limit;
    std::optional<std::int64_t> remaining;   ///< after this request's hold (reserve)
    std::optional<std::chrono::system_clock::time_point> resets_at;
    std::optional<std::int32_t> retry_after;  ///< seconds to wait, when denied
    bool blocked = false;
    std::string block_reason;
    std::string plan;
    /// quota_reserve only: the hold to settle (usage_log_insert with
    /// reservation_id, i.e. Client::insert(ev, id)) or release.
    std::optional<std::int64_t> reservation_id;
    std::optional<std::chrono::system_clock::time_point> expires_at;
    /// FailOpen / FailClosed: why the database gave no answer, and its SQLSTATE.
    std::string error;
    std::string error_sqlstate;
    /// Status and Retry-After (seconds) of a FailClosed refusal (set by
    /// QuotaGuard from its options).
    int unavailable_status = 503;

    /// 200 when allowed; 429 Too Many Requests when a limit denies; 403
    /// Forbidden for a blocked user; the guard's unavailable_status (503
    /// by default) when denied because the database did not answer.
    int http_status() const noexcept;
    /// The JSON body for a refusal (empty when allowed), one line, keys in
    /// a fixed order:
    /// {"error": {"type": "quota_exceeded", "message": "...", "limit": ...,
    ///  "unit": ..., "used": ..., "reserved": ..., "limit_value": ...,
    ///  "remaining": ..., "resets_at": "2026-01-02T00:00:00Z",
    ///  "retry_after": 17, "plan": ...}}
    /// type is quota_exceeded, user_blocked or quota_unavailable; USD
    /// amounts are exact decimal numbers; unknown values are null.
    std::string http_body() const;
    /// The Retry-After header value in whole seconds ("17"), empty when
    /// there is nothing to wait for (allowed, or blocked).
    std::string retry_after_header() const;
    /// One line for logs and exception messages.
    std::string message() const;
    /// Throws QuotaDenied carrying this decision unless allowed.
    void throw_if_denied() const;
};

}  // namespace tokenledger
