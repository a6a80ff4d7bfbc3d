// tokenledger C++ client: one connection, typed methods for the extension's
// SQL functions.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenledger/error.hpp"
#include "tokenledger/usage_event.hpp"

namespace tokenledger {

/// A query result as text: column names and rows of nullable values.
struct Table {
    std::vector<std::string> columns;
    std::vector<unsigned int> types;  ///< PostgreSQL type OID of each column (0 if unknown)
    std::vector<std::vector<std::optional<std::string>>> rows;
};

using Params = std::vector<std::optional<std::string>>;

/// Owns one libpq connection to a database where the tokenledger extension
/// is installed.
///
/// Thread safety: a Client is NOT thread safe. Use one Client per thread, or
/// a small pool that hands a Client to one thread at a time. (Recorder owns
/// its own Client on its background thread.)
///
/// Statements are prepared once per connection, on first use. Every libpq
/// handle is owned by RAII wrappers; the destructor never throws.
class Client {
public:
    /// Connects with a libpq conninfo string or URI; an empty string uses
    /// the standard PG* environment variables. Throws NotConnected, or
    /// ServerError when the extension is not installed in that database.
    explicit Client(const std::string& conninfo = {});
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// True while the connection is usable.
    bool connected() const noexcept;
    /// Drops the connection (if any) and opens a new one; prepared
    /// statements are prepared again on first use.
    void reconnect();
    /// The schema the extension is installed in.
    const std::string& schema() const noexcept;

    /// usage_log_insert: records one call. Returns the event id (the
    /// original one for a repeated request_id), or nullopt when
    /// tokenledger.enabled is off.
    std::optional<std::int64_t> insert(const UsageEvent& ev);

    /// usage_log_insert with reservation_id: records one call and settles
    /// the quota_reserve hold (QuotaGuard::reserve) in the same transaction,
    /// so the recorded usage replaces the estimate. A hold already settled,
    /// released or expired is ignored; another user's hold is InvalidInput.
    std::optional<std::int64_t> insert(const UsageEvent& ev, std::int64_t reservation_id);

    /// Records many calls in one transaction using libpq pipeline mode (one
    /// network round trip). All or nothing: on error nothing is recorded and
    /// the error of the first failing event is thrown.
    std::vector<std::optional<std::int64_t>> insert_batch(const std::vector<UsageEvent>& events);

    /// usage_log_insert_batch: records many calls in one statement, the
    /// events passed as arrays (set-based on the server, several times
    /// faster than insert_batch for large batches). All or nothing: an
    /// invalid event throws InvalidInput naming its 1-based position
    /// ("element 3 of the batch: ..."). Needs extension version 0.2.0.
    std::vector<std::optional<std::int64_t>> insert_batch_arrays(const std::vector<UsageEvent>& events);

    /// usage_log_insert_usage: records one call from the provider's raw
    /// usage object (JSON text). The buckets of `ev` are ignored; user_id,
    /// model and provider are taken from `ev` (provider is required).
    std::optional<std::int64_t> insert_usage(const UsageEvent& ev, const std::string& usage_json,
                                             const std::optional<std::string>& usage_format = {});

    /// usage_normalize: maps a provider usage object (JSON text) onto the
    /// six buckets; the format is detected unless given.
    TokenBuckets normalize(const std::string& usage_json,
                           const std::optional<std::string>& provider = {},
                           const std::optional<std::string>& usage_format = {});

    /// Runs any SQL with text parameters ($1, $2, ...) and returns the rows
    /// as text. For admin tools; apps should prefer the typed methods.
    Table query(const std::string& sql, const Params& params = {});

    /// Quotes an identifier for SQL (for schema-qualified names).
    std::string quote_ident(const std::string& ident) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// An event whose buckets come from the extension's normaliser, so the
/// provider mapping has one source of truth (usage_normalize).
UsageEvent event_from_usage(Client& client, const std::string& provider, const std::string& user_id,
                            const std::string& model, const std::string& usage_json,
                            const std::optional<std::string>& usage_format = {});
/// `usage` object of an OpenAI Chat Completions or Responses response.
UsageEvent from_openai(Client& client, const std::string& user_id, const std::string& model,
                       const std::string& usage_json);
/// `usage` object of an Anthropic Messages response.
UsageEvent from_anthropic(Client& client, const std::string& user_id, const std::string& model,
                          const std::string& usage_json);
/// `usageMetadata` object of a Gemini response.
UsageEvent from_gemini(Client& client, const std::string& user_id, const std::string& model,
                       const std::string& usage_json);

}  // namespace tokenledger
