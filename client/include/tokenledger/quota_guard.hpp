// tokenledger C++ client: asking quota_check / quota_reserve before an LLM
// call, with a deadline and a fail-open or fail-closed policy.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tokenledger/error.hpp"
#include "tokenledger/quota_decision.hpp"

namespace tokenledger {

/// What a QuotaGuard answers when the database gives no answer in time
/// (unreachable, too slow, or a server error other than invalid input).
enum class FailPolicy {
    Open,    ///< allow the request (availability first: paying users)
    Closed,  ///< deny it with unavailable_status and Retry-After (anonymous or free users)
};

struct QuotaGuardOptions {
    std::string conninfo;                            ///< empty: PG* environment
    /// The most one call may take, connecting included. 90 % of it is the
    /// connection's statement_timeout, so the server stops the work too.
    std::chrono::milliseconds timeout{250};
    FailPolicy fail_policy = FailPolicy::Closed;
    std::chrono::seconds reservation_ttl{300};       ///< default hold of reserve()
    int unavailable_status = 503;                    ///< HTTP status of a FailClosed refusal
    std::int32_t unavailable_retry_after = 5;        ///< its Retry-After, in seconds
    /// Called (on the caller's thread) with the error whenever the policy
    /// answered instead of the database. Must not throw.
    std::function<void(const Error&)> on_error;
};

/// Admission control before each LLM call:
///
///     QuotaGuard guard({/*conninfo*/ "", 200ms, FailPolicy::Open});
///     auto d = guard.reserve(user, est_tokens, est_cost_nano_usd);
///     if (!d.allowed) return http(d.http_status(), d.http_body(), d.retry_after_header());
///     ... call the model ...
///     client.insert(usage, *d.reservation_id);   // settles the hold
///
/// Every call finishes within `timeout` whatever the server does (down,
/// hung, waiting on a lock): the guard uses libpq's asynchronous API with a
/// deadline. The connection's statement_timeout (90 % of the timeout)
/// normally makes the server give up first; if the deadline passes anyway,
/// the guard sends a cancel request (from a background thread), drops the
/// connection and reconnects on the next call. A reservation whose answer
/// was lost that way may still have committed; it lapses at its ttl.
///
/// Invalid input (empty user id, negative estimates) is the caller's bug and
/// throws InvalidInput under either policy.
///
/// Not thread safe, like Client: one guard per thread, or a small pool.
class QuotaGuard {
public:
    /// Does not connect: the first call does (within its timeout), so a
    /// guard can be built while the database is down.
    explicit QuotaGuard(QuotaGuardOptions options = {});
    ~QuotaGuard();  ///< never throws
    QuotaGuard(QuotaGuard&&) noexcept;
    QuotaGuard& operator=(QuotaGuard&&) noexcept;
    QuotaGuard(const QuotaGuard&) = delete;
    QuotaGuard& operator=(const QuotaGuard&) = delete;

    /// quota_check: may this user make a request estimated at est_tokens
    /// and est_cost_nano_usd? Holds nothing.
    QuotaDecision check(const std::string& user_id, std::int64_t est_tokens = 0,
                        std::int64_t est_cost_nano_usd = 0);

    /// quota_reserve: admits the request and holds its estimate until it is
    /// settled (Client::insert(ev, reservation_id)), released, or the ttl
    /// passes (zero: options.reservation_ttl). reservation_id is set when
    /// allowed by the database (never under FailOpen).
    QuotaDecision reserve(const std::string& user_id, std::int64_t est_tokens = 0,
                          std::int64_t est_cost_nano_usd = 0,
                          std::chrono::seconds ttl = std::chrono::seconds::zero());

    /// quota_release: cancels a hold (the call was not made). False when
    /// the hold was already settled, released or expired. Throws Timeout,
    /// NotConnected or ServerError (no policy: an unreleased hold lapses at
    /// its ttl, so callers may ignore the error).
    bool release(std::int64_t reservation_id);

    /// True while the guard holds an open connection.
    bool connected() const noexcept;
    const QuotaGuardOptions& options() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tokenledger
