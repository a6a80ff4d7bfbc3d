// tokenledger CLI: what every command shares (options, times, exit codes).
#pragma once
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "format.hpp"
#include "tokenledger/client.hpp"

namespace tlcli {

/// Exit codes.
enum Exit { kOk = 0, kServer = 1, kUsage = 2, kUnreachable = 3 };

/// A mistake on the command line (exit code 2).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// One parsed command line: --name value options, bare flags, positionals.
struct Invocation {
    std::map<std::string, std::string> opts;
    std::vector<std::string> pos;
    Format fmt = Format::Table;

    bool has(const std::string& k) const { return opts.count(k) > 0; }
    std::optional<std::string> get(const std::string& k) const {
        auto it = opts.find(k);
        return it == opts.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    std::string get_or(const std::string& k, const std::string& dflt) const { return get(k).value_or(dflt); }
};

/// A (sub)command: its words ("report users"), help text, options taking a
/// value, flags, how many positional arguments, and what it runs.
struct Command {
    std::string path;
    std::string help;
    std::vector<std::string> options;
    std::vector<std::string> flags;
    std::size_t min_pos = 0, max_pos = 0;
    int (*run)(tokenledger::Client&, const Invocation&) = nullptr;
};

/// "30d" / "12h" / "2w" -> that long before now (UTC timestamp text); any
/// other text (a date, a timestamp, now, today) is passed to the server.
std::string resolve_when(const std::string& s);
/// The optional --from / --to of a report as timestamptz parameters: both
/// NULL (the report's default period) unless given; --to defaults to now
/// when only --from is given.
void report_range(const Invocation& in, tokenledger::Params& p);
/// An integer option, or a UsageError naming it.
std::int64_t to_int(const std::string& name, const std::string& v);
/// Checks that an option is a decimal number (USD); returns it.
std::string to_decimal(const std::string& name, const std::string& v);
/// The extension's function or table, schema-qualified.
std::string qualified(tokenledger::Client& c, const std::string& name);
/// Runs a query and prints its result in the chosen format.
int print_query(tokenledger::Client& c, const Invocation& in, const std::string& sql,
                const tokenledger::Params& p = {});
/// Prints what a typed method returned as a result would print: the
/// PostgreSQL type OIDs say how each format aligns and types the values
/// (16 bool as t/f, 20 bigint, 25 text).
int print_rows(const Invocation& in, std::vector<std::string> columns, std::vector<unsigned int> types,
               std::vector<std::vector<std::optional<std::string>>> rows);
/// An integer option that must fit an SQL integer.
std::int32_t to_int32(const std::string& name, const std::string& v);

// The commands, one file per concern.
std::vector<Command> event_commands();   // export, record, normalize
std::vector<Command> report_commands();  // report ...
std::vector<Command> quota_commands();   // quota ...
std::vector<Command> price_commands();   // prices ...
std::vector<Command> admin_commands();   // rollup, schedule

}  // namespace tlcli
