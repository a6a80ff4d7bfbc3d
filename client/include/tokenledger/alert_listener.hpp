// tokenledger C++ client: LISTEN for quota alerts.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace tokenledger {

/// One notification on the alerts channel.
struct Alert {
    std::string channel;
    std::string payload;                        ///< the JSON text as sent
    /// Top-level members of the JSON object: strings as-is, numbers,
    /// booleans and nested values as JSON text, null as "null". Empty when
    /// the payload is not a JSON object.
    std::map<std::string, std::string> fields;
    bool parsed = false;                        ///< payload was a JSON object
    int sender_pid = 0;
    // The members of a quota alert (quota_reserve noticed a threshold
    // crossed), when present: empty / nullopt otherwise.
    std::optional<std::int64_t> alert_id;
    std::string user_id;
    std::string plan;
    std::string limit_name;                     ///< the payload's "limit"
    std::optional<int> threshold_pct;
    std::string used;                           ///< JSON number text, in unit (quota_alerts() has exact values)
    std::string limit_value;                    ///< JSON number text, in unit
    std::string unit;                           ///< requests, tokens or usd
};

struct AlertListenerOptions {
    std::string conninfo;                       ///< empty: PG* environment
    std::string channel = "tokenledger_alerts";
    std::chrono::milliseconds reconnect_initial{100};  ///< backoff after a lost connection ...
    std::chrono::milliseconds reconnect_max{5000};     ///< ... doubling up to this
    std::function<void(const std::string&)> on_error;  ///< connection problems (must not throw)
};

/// LISTENs on the alerts channel on its own connection and thread, and calls
/// the callback with each parsed alert. After a dropped connection it
/// reconnects with backoff and LISTENs again (notifications sent while it was
/// disconnected are lost: that is how PostgreSQL's NOTIFY works; the alerts
/// table is the durable record). The callback runs on the listener's thread;
/// exceptions from it are caught and reported.
class AlertListener {
public:
    AlertListener(AlertListenerOptions options, std::function<void(const Alert&)> callback);
    ~AlertListener();  ///< stops the thread; never throws
    AlertListener(const AlertListener&) = delete;
    AlertListener& operator=(const AlertListener&) = delete;

    /// True while connected and listening.
    bool listening() const noexcept;
    /// Waits until listening (or the timeout passes).
    bool wait_listening(std::chrono::milliseconds timeout) const;
    /// How many times the connection was re-established.
    std::uint64_t reconnects() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Parses an alert payload (exposed for tests and for apps reading the
/// alerts table).
Alert parse_alert(const std::string& channel, const std::string& payload, int sender_pid = 0);

}  // namespace tokenledger
