// tokenledger C++ client: typed errors.
#pragma once
#include <stdexcept>
#include <string>

#include "tokenledger/quota_decision.hpp"

namespace tokenledger {

/// Base of every error the library throws. Carries the server's SQLSTATE
/// (five characters, empty when the error did not come from the server) and
/// the server's hint, if any.
class Error : public std::runtime_error {
public:
    Error(const std::string& message, std::string sqlstate = {}, std::string hint = {})
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)), hint_(std::move(hint)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }
    const std::string& hint() const noexcept { return hint_; }

private:
    std::string sqlstate_;
    std::string hint_;
};

/// The server rejected an argument (SQLSTATE class 22 data exception or
/// class 23 integrity violation). Retrying the same call cannot succeed.
class InvalidInput : public Error {
public:
    using Error::Error;
};

/// No usable connection: connecting failed, the connection dropped, or the
/// server is shutting down (SQLSTATE class 08, 57P01-57P03). Retrying after
/// a reconnect may succeed.
class NotConnected : public Error {
public:
    using Error::Error;
};

/// Any other error reported by the server (permissions, missing extension,
/// serialization failures, resource limits, ...).
class ServerError : public Error {
public:
    using Error::Error;
};

/// No answer within the caller's deadline: a QuotaGuard call that ran past
/// its timeout (client side; the connection is dropped), or a statement
/// cancelled by the server's statement_timeout. SQLSTATE 57014.
class Timeout : public Error {
public:
    using Error::Error;
};

/// A request refused by quota: thrown by QuotaDecision::throw_if_denied()
/// (quota_check and quota_reserve answer with a row, they do not raise).
/// Carries the whole decision: the binding limit, used, limit, remaining,
/// resets_at and retry_after, ready to render as an HTTP 429. SQLSTATE
/// 53400 (configuration_limit_exceeded): a limit, retryable later.
class QuotaDenied : public Error {
public:
    explicit QuotaDenied(QuotaDecision decision);
    const QuotaDecision& decision() const noexcept { return decision_; }

private:
    QuotaDecision decision_;
};

/// Maps a SQLSTATE to the matching subclass and throws it (57014 is Timeout).
[[noreturn]] void throw_for_sqlstate(const std::string& message, const std::string& sqlstate,
                                     const std::string& hint = {});

/// True for SQLSTATEs after which the same call may succeed later
/// (connection loss, shutdown, serialization failure, deadlock, resource limits).
bool is_transient_sqlstate(const std::string& sqlstate) noexcept;

}  // namespace tokenledger
