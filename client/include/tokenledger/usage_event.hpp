// tokenledger C++ client: one LLM call, mirroring usage_log_insert's parameters.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tokenledger {

using TimePoint = std::chrono::system_clock::time_point;

/// One LLM call. Field names and defaults are those of the SQL function
/// usage_log_insert; unset optionals are sent as SQL NULL (occurred_at unset
/// means the server's now()).
struct UsageEvent {
    std::string user_id;
    std::string model;
    std::int64_t input_tokens = 0;           ///< uncached input
    std::int64_t output_tokens = 0;          ///< visible output, reasoning excluded
    std::int64_t cache_read_tokens = 0;
    std::int64_t cache_write_tokens = 0;     ///< 5-minute cache creation
    std::int64_t cache_write_1h_tokens = 0;
    std::int64_t reasoning_tokens = 0;
    std::optional<std::string> provider;
    std::optional<std::string> endpoint;
    std::string request_type = "chat";
    std::optional<std::string> session_id;
    std::optional<std::string> message_id;
    std::optional<std::string> request_id;   ///< idempotency key
    std::optional<std::chrono::system_clock::time_point> occurred_at;
    std::optional<std::int32_t> latency_ms;
    bool success = true;
    std::optional<std::string> error_type;
    std::optional<std::string> metadata;     ///< a JSON object as text
    std::string service_tier = "standard";   ///< standard, batch, flex or priority
    /// A quota_reserve hold (QuotaDecision::reservation_id) this call
    /// settles: the recorded usage replaces the estimate in the same
    /// transaction. Sent by every insert method and by the Recorder.
    std::optional<std::int64_t> reservation_id;
};

/// The six disjoint token buckets (what a report sums, what usage_cost prices).
struct TokenCounts {
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t cache_read_tokens = 0;
    std::int64_t cache_write_tokens = 0;
    std::int64_t cache_write_1h_tokens = 0;
    std::int64_t reasoning_tokens = 0;

    /// total_tokens as the ledger computes it: the sum of the six buckets.
    std::int64_t total() const noexcept {
        return input_tokens + output_tokens + cache_read_tokens + cache_write_tokens +
               cache_write_1h_tokens + reasoning_tokens;
    }
};

inline bool operator==(const TokenCounts& a, const TokenCounts& b) noexcept {
    return a.input_tokens == b.input_tokens && a.output_tokens == b.output_tokens &&
           a.cache_read_tokens == b.cache_read_tokens && a.cache_write_tokens == b.cache_write_tokens &&
           a.cache_write_1h_tokens == b.cache_write_1h_tokens && a.reasoning_tokens == b.reasoning_tokens;
}
inline bool operator!=(const TokenCounts& a, const TokenCounts& b) noexcept { return !(a == b); }

/// The six buckets as returned by usage_normalize, and the format it detected.
struct TokenBuckets : TokenCounts {
    std::string detected_format;
};

/// Copies the buckets into an event (other fields untouched).
inline void apply(const TokenCounts& b, UsageEvent& ev) {
    ev.input_tokens = b.input_tokens;
    ev.output_tokens = b.output_tokens;
    ev.cache_read_tokens = b.cache_read_tokens;
    ev.cache_write_tokens = b.cache_write_tokens;
    ev.cache_write_1h_tokens = b.cache_write_1h_tokens;
    ev.reasoning_tokens = b.reasoning_tokens;
}

/// A fresh random request id (32 hex digits, 128 random bits).
std::string generate_request_id();

}  // namespace tokenledger
