// Internal: the state of a Client, shared by the files that implement its
// typed methods (client.cpp for recording, client_reports.cpp,
// client_quota.cpp, client_pricing.cpp, client_admin.cpp).
#pragma once
#include <set>

#include "pq.hpp"
#include "tokenledger/client.hpp"

namespace tokenledger {
namespace detail {

/// One SQL call of the extension's API, prepared once per connection under
/// `name` the first time it runs (and again after a reconnect). In the SQL,
/// {schema} stands for the extension's schema (with_schema). Parameter types
/// come from `types`, or else from the casts in the SQL. Constant-initialized
/// (a literal, or a function building the SQL on first use), so a Client
/// used by another static initializer never meets an unconstructed one.
class Statement {
public:
    constexpr Statement(const char* name, const char* sql, int nparams, const Oid* types = nullptr)
        : name(name), nparams(nparams), types(types), text_(sql) {}
    constexpr Statement(const char* name, std::string (*build)(), int nparams)
        : name(name), nparams(nparams), build_(build) {}
    std::string sql() const { return build_ ? build_() : text_; }

    const char* name;  ///< unique: "tl_" + what it calls
    int nparams;
    const Oid* types = nullptr;

private:
    const char* text_ = nullptr;
    std::string (*build_)() = nullptr;
};

// Text parameters, NULL for an unset optional.
inline std::optional<std::string> param(const std::string& v) { return v; }
inline std::optional<std::string> param(std::int64_t v) { return std::to_string(v); }
inline std::optional<std::string> param(TimePoint v) { return format_time(v); }
inline std::optional<std::string> param(Usd v) { return v.str(); }
template <class T>
std::optional<std::string> param(const std::optional<T>& v) {
    return v ? param(*v) : std::nullopt;
}

}  // namespace detail

struct Client::Impl {
    std::string conninfo;
    detail::ConnPtr conn;
    std::string schema;
    std::set<std::string> prepared;

    void connect();
    PGconn* live();
    /// Throws the typed error for a failed result (or a lost connection).
    [[noreturn]] void fail(const PGresult* r);
    Table query(const std::string& sql, const Params& params);
    std::string q(const std::string& ident);

    void prepare(const detail::Statement& st);
    /// Runs a statement (preparing it first if needed); throws unless it
    /// returned rows or completed.
    detail::ResultPtr run(const detail::Statement& st, const char* const* values);
    detail::ResultPtr run(const detail::Statement& st, const Params& params);

    std::vector<std::optional<std::int64_t>> insert_batch(const std::vector<UsageEvent>& events);
};

}  // namespace tokenledger
