// tokenledger C++ client: one connection, typed methods for the extension's
// SQL functions.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenledger/admin.hpp"
#include "tokenledger/error.hpp"
#include "tokenledger/pricing.hpp"
#include "tokenledger/quota_admin.hpp"
#include "tokenledger/quota_decision.hpp"
#include "tokenledger/reports.hpp"
#include "tokenledger/usage_event.hpp"
#include "tokenledger/usd.hpp"

namespace tokenledger {

/// A query result as text: column names and rows of nullable values.
struct Table {
    std::vector<std::string> columns;
    std::vector<unsigned int> types;  ///< PostgreSQL type OID of each column (0 if unknown)
    std::vector<std::vector<std::optional<std::string>>> rows;
};

using Params = std::vector<std::optional<std::string>>;
using OptTime = std::optional<TimePoint>;

/// Owns one libpq connection to a database where the tokenledger extension
/// is installed.
///
/// Thread safety: a Client is NOT thread safe. Use one Client per thread, or
/// a small pool that hands a Client to one thread at a time. (Recorder owns
/// its own Client on its background thread.)
///
/// Statements are prepared once per connection, on first use. Every libpq
/// handle is owned by RAII wrappers; the destructor never throws.
///
/// Every user-facing SQL function of the extension has a typed method of
/// the same name. Errors are the Error subclasses, with the server's
/// SQLSTATE (InvalidInput for rejected arguments, ServerError for missing
/// privileges, ...). Time ranges are optional: unset bounds take the SQL
/// function's defaults. Money is Usd (exact), never floating point.
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

    // ---- recording (client.cpp, batch_insert.cpp) ------------------------

    /// usage_log_insert: records one call. Returns the event id (the
    /// original one for a repeated request_id), or nullopt when
    /// tokenledger.enabled is off. An ev.reservation_id settles that
    /// quota_reserve hold in the same transaction, so the recorded usage
    /// replaces the estimate. A hold already settled, released or expired
    /// is ignored; another user's hold is InvalidInput.
    std::optional<std::int64_t> insert(const UsageEvent& ev);

    /// insert() with ev.reservation_id set to reservation_id.
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

    // ---- reports (client_reports.cpp, reports.hpp) -----------------------
    // Real time: rollups plus the raw tail, so an event recorded a moment
    // ago is counted. Periods are [from, to); without bounds, this month in
    // tokenledger.timezone.

    /// usage_user_summary (reader: their own user id; admin: anyone).
    UserSummary usage_user_summary(const std::string& user_id, OptTime from = {}, OptTime to = {});
    /// usage_top_users (admin): a page of the period's heaviest users.
    std::vector<TopUser> usage_top_users(OptTime from = {}, OptTime to = {}, std::int32_t limit = 10,
                                         UserRanking order_by = UserRanking::Cost, std::int32_t offset = 0);
    /// usage_user_history: one user's events, newest first; pass the last
    /// event_id of a page as before_id for the next (limit 1..10000).
    std::vector<LedgerEvent> usage_user_history(const std::string& user_id, std::int32_t limit = 50,
                                                std::optional<std::int64_t> before_id = {});
    /// usage_session_summary: one chat session's running totals.
    SessionSummary usage_session_summary(const std::string& session_id);
    /// usage_system_summary (admin): platform totals and per-day averages.
    SystemSummary usage_system_summary(OptTime from = {}, OptTime to = {});
    /// usage_timeseries (admin): a zero-filled series; without bounds the
    /// last 30 days (48 hours, 12 weeks, 12 months), rounded out to whole buckets.
    std::vector<TimeseriesPoint> usage_timeseries(TimeBucket bucket = TimeBucket::Day, OptTime from = {},
                                                  OptTime to = {}, const SeriesFilter& filter = {});
    /// usage_by_model / usage_by_endpoint / usage_by_provider (admin):
    /// costliest first.
    std::vector<BreakdownRow> usage_by_model(OptTime from = {}, OptTime to = {});
    std::vector<BreakdownRow> usage_by_endpoint(OptTime from = {}, OptTime to = {});
    std::vector<BreakdownRow> usage_by_provider(OptTime from = {}, OptTime to = {});
    /// usage_totals (admin): all_time, this_month and today, in that order.
    std::vector<PeriodTotals> usage_totals();

    // ---- quotas (client_quota.cpp, quota_admin.hpp) ----------------------
    // Amounts of usd limits are nano-USD, as in QuotaDecision.

    /// quota_check: may the user make a request of est_tokens costing
    /// est_cost_nano_usd now? Holds nothing. Same SQL and decision as
    /// QuotaGuard::check, without its deadline and fail policy.
    QuotaDecision quota_check(const std::string& user_id, std::int64_t est_tokens = 0,
                              std::int64_t est_cost_nano_usd = 0);
    /// quota_reserve: admits and holds the estimate until insert() with
    /// the reservation_id settles it, quota_release, or the ttl.
    QuotaDecision quota_reserve(const std::string& user_id, std::int64_t est_tokens = 0,
                                std::int64_t est_cost_nano_usd = 0,
                                std::chrono::seconds ttl = std::chrono::seconds(300));
    /// quota_release: false when the hold was already settled, released or swept.
    bool quota_release(std::int64_t reservation_id);
    /// quota_status: the user's plan and every limit with used, reserved and remaining.
    QuotaStatus quota_status(const std::string& user_id);
    /// quota_plan_set (admin, audited): creates or replaces the plan; returns it as stored.
    QuotaPlan quota_plan_set(const QuotaPlan& plan);
    /// quota_assign (admin, audited): overrides_json is a JSON object of
    /// per-user limits by limit name (cost in USD; null removes a limit).
    QuotaUser quota_assign(const std::string& user_id, const std::string& plan,
                           const std::string& overrides_json = "{}");
    /// quota_block (admin, audited): every request is denied with the reason.
    void quota_block(const std::string& user_id, const std::string& reason);
    /// quota_unblock (admin, audited): true if the user was blocked.
    bool quota_unblock(const std::string& user_id);
    /// quota_alerts (admin): alerts noticed in [from, to), oldest first.
    std::vector<QuotaAlert> quota_alerts(OptTime from = {}, OptTime to = {});
    /// quota_limit_kinds: the limits a plan may set.
    std::vector<QuotaLimitKind> quota_limit_kinds();
    /// quota_default_plan: the plan of users never assigned one.
    std::string quota_default_plan();
    /// quota_sweep_reservations (admin): deletes expired holds; returns how many.
    std::int64_t quota_sweep_reservations();
    /// quota_prune_counters (admin): deletes counter buckets no window reads; returns how many.
    std::int64_t quota_prune_counters();
    /// quota_rebuild_counters (admin): recomputes the counters from the
    /// ledger (after writing usage_log by other means); returns the buckets written.
    std::int64_t quota_rebuild_counters();
    /// quota_counters_flush (admin): writes the counters of the events this
    /// transaction recorded now instead of at commit; returns how many
    /// events. Only useful inside a transaction (query("BEGIN")).
    std::int32_t quota_counters_flush();

    // ---- pricing (client_pricing.cpp, pricing.hpp) -----------------------

    /// price_set (admin): upserts a price from spec.valid_from on, closing
    /// the admin row in force then; returns the price id. Idempotent.
    std::int32_t price_set(const PriceSpec& spec);
    /// price_alias_set (admin): from valid_from on, alias means target_model;
    /// returns the alias row id. Idempotent.
    std::int32_t price_alias_set(const std::string& provider, const std::string& alias,
                                 const std::string& target_model, TimePoint valid_from,
                                 const std::optional<std::string>& source = {});
    /// price_import_litellm (admin): LiteLLM's model_prices_and_context_window.json
    /// (JSON text), prices in force from effective_from. Idempotent.
    std::vector<PriceImportRow> price_import_litellm(const std::string& catalog_json, TimePoint effective_from);
    /// price_import_genai_prices (admin): pydantic genai-prices data.json. Idempotent.
    std::vector<PriceImportRow> price_import_genai_prices(const std::string& catalog_json);
    /// price_provider_name (admin): a catalog's provider name as the ledger spells it.
    std::string price_provider_name(const std::string& source_name);
    /// usage_cost: what an event with these buckets, model, provider and
    /// service tier costs at ev.occurred_at (unset: now); nullopt when the
    /// model has no price. Nothing is recorded.
    std::optional<UsageCost> usage_cost(const UsageEvent& ev);
    /// usage_reprice (admin): recomputes the stored costs of [from, to)
    /// with the current catalog (rollups and quota counters follow).
    RepriceResult usage_reprice(TimePoint from, TimePoint to);

    // ---- maintenance (client_admin.cpp, admin.hpp) -----------------------
    // usage_rollup and usage_maintenance commit as they go: call them
    // outside a transaction.

    /// CALL usage_rollup (admin): folds committed events into the rollups;
    /// batch_size unset: tokenledger.rollup_batch_size.
    void usage_rollup(std::optional<std::int32_t> batch_size = {});
    /// CALL usage_maintenance (admin): rollup, partitions for now and
    /// `ahead` periods, retention, request-id and counter pruning, sweep.
    void usage_maintenance(std::int32_t ahead = 2);
    /// usage_schedule (admin): creates or updates the pg_cron jobs; needs
    /// pg_cron in this database (else ServerError 0A000 whose hint says how).
    std::vector<CronJob> usage_schedule(const std::string& rollup_schedule = "* * * * *",
                                        const std::string& maintenance_schedule = "7 * * * *");
    /// usage_unschedule (admin): removes them; returns the names removed.
    std::vector<std::string> usage_unschedule();
    /// usage_forget_user (admin): erasure; reassigns the user's rows to
    /// anonymous_id (unset: a fresh random subject), totals unchanged.
    std::vector<ForgetResult> usage_forget_user(const std::string& user_id,
                                                const std::optional<std::string>& anonymous_id = {});
    /// usage_partitions (admin): the ledger's partitions, the default one last.
    std::vector<LedgerPartition> usage_partitions();
    /// usage_create_partition (admin): the partition holding ts (moving the
    /// default partition's rows in); nullopt when one already does.
    std::optional<std::string> usage_create_partition(TimePoint ts);
    /// usage_create_partitions (admin): for now and `ahead` periods, and for
    /// every period the default partition holds rows of; returns the names created.
    std::vector<std::string> usage_create_partitions(std::int32_t ahead = 2);
    /// usage_drop_old_partitions (admin): drops rolled-up partitions past
    /// tokenledger.raw_retention; returns the names dropped.
    std::vector<std::string> usage_drop_old_partitions();
    /// usage_prune_request_ids (admin): forgets idempotency keys older than
    /// tokenledger.raw_retention; returns how many.
    std::int64_t usage_prune_request_ids();

    // ---- anything else --------------------------------------------------

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
