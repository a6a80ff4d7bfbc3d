// tokenledger: the admin CLI.
//
// Exit codes: 0 success, 1 server error, 2 usage error or invalid input,
// 3 database unreachable.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "format.hpp"
#include "tokenledger/client.hpp"

using namespace tokenledger;

namespace {

enum Exit { kOk = 0, kServer = 1, kUsage = 2, kUnreachable = 3 };

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

const char* kMainHelp =
    "usage: tokenledger [--dsn DSN] [--format table|csv|json] COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  export      print ledger events in a time range\n"
    "  record      record one LLM call (usage_log_insert)\n"
    "  normalize   map a provider usage object onto the token buckets (usage_normalize)\n"
    "\n"
    "Global options:\n"
    "  --dsn DSN       libpq connection string or URI (default: the PG* environment variables)\n"
    "  --format F      table (default), csv (RFC 4180) or json\n"
    "  -h, --help      this help; COMMAND --help shows the command's options\n"
    "\n"
    "Exit codes: 0 ok, 1 server error, 2 usage error or invalid input, 3 database unreachable.\n";

const char* kExportHelp =
    "usage: tokenledger export [--from WHEN] [--to WHEN] [--user USER_ID]\n"
    "\n"
    "Prints the ledger's events with occurred_at in [from, to), oldest first,\n"
    "with names, token buckets and cost in USD (NULL cost = unpriced).\n"
    "\n"
    "  --from WHEN   start (default 30d): a date (2025-01-31), a timestamp, now,\n"
    "                or a relative form Nd, Nh, Nw meaning that long ago\n"
    "  --to WHEN     end, exclusive (default now)\n"
    "  --user ID     only this user's events\n";

const char* kRecordHelp =
    "usage: tokenledger record --user ID --model MODEL [OPTIONS]\n"
    "\n"
    "Records one LLM call and prints its event id.\n"
    "\n"
    "  --user ID --model MODEL   required\n"
    "  --provider P --endpoint E --request-type T --session S --message M\n"
    "  --request-id R            idempotency key: a repeat records nothing\n"
    "  --input N --output N --cache-read N --cache-write N --cache-write-1h N --reasoning N\n"
    "  --usage JSON              the provider's raw usage object instead of the counts\n"
    "  --latency-ms N --failed ERROR_TYPE --metadata JSON --tier standard|batch|flex|priority\n"
    "  --at WHEN                 when it happened (default now)\n";

const char* kNormalizeHelp =
    "usage: tokenledger normalize [--provider P] [--usage-format F] USAGE_JSON\n"
    "\n"
    "Prints the six token buckets a provider usage object maps onto. The format\n"
    "(openai_chat, openai_responses, anthropic, gemini, vercel_ai) is detected\n"
    "unless given.\n";

// Parses "--name value" pairs (and bare flags listed in `flags`) into a map;
// other words go to `positional`.
std::map<std::string, std::string> parse_opts(const std::vector<std::string>& args, std::size_t from,
                                              const std::vector<std::string>& known,
                                              std::vector<std::string>& positional) {
    std::map<std::string, std::string> m;
    for (std::size_t i = from; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            m["help"] = "1";
            continue;
        }
        if (a.rfind("--", 0) == 0) {
            std::string name = a.substr(2), value;
            auto eq = name.find('=');
            if (eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
            } else {
                if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value");
                value = args[++i];
            }
            bool ok = false;
            for (auto& k : known) ok = ok || k == name;
            if (!ok) throw UsageError("unknown option --" + name);
            m[name] = value;
        } else {
            positional.push_back(a);
        }
    }
    return m;
}

// "30d" / "12h" / "2w" -> that long before now, in UTC; anything else is
// passed to the server as a timestamptz literal.
std::string resolve_when(const std::string& s) {
    static const std::regex rel("^([0-9]{1,6})([hdw])$");
    std::smatch m;
    if (!std::regex_match(s, m, rel)) return s;
    long n = std::stol(m[1]);
    long secs = n * (m[2] == "h" ? 3600 : m[2] == "d" ? 86400 : 7 * 86400);
    std::time_t t = std::time(nullptr) - secs;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S+00", &tm);
    return buf;
}

std::int64_t to_int(const std::string& name, const std::string& v) {
    try {
        std::size_t used = 0;
        long long x = std::stoll(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
        return x;
    } catch (const std::exception&) {
        throw UsageError("--" + name + " must be an integer, got \"" + v + "\"");
    }
}

int cmd_export(Client& c, const std::vector<std::string>& args, std::size_t at, tlcli::Format fmt) {
    std::vector<std::string> pos;
    auto o = parse_opts(args, at, {"from", "to", "user"}, pos);
    if (o.count("help")) {
        std::cout << kExportHelp;
        return kOk;
    }
    if (!pos.empty()) throw UsageError("unexpected argument \"" + pos[0] + "\"");
    std::string from = resolve_when(o.count("from") ? o["from"] : "30d");
    std::string to = o.count("to") ? resolve_when(o["to"]) : "now";
    std::string sql =
        "SELECT occurred_at, user_id, provider, model, endpoint, request_type, service_tier, success, "
        "error_type, latency_ms, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, "
        "output_tokens, reasoning_tokens, total_tokens, total_cost_usd, request_id, session_id FROM " +
        c.quote_ident(c.schema()) +
        ".usage_events WHERE occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz "
        "AND ($3::text IS NULL OR user_id = $3) ORDER BY occurred_at, event_id";
    Params p{from, to, o.count("user") ? std::optional<std::string>(o["user"]) : std::nullopt};
    tlcli::render(std::cout, c.query(sql, p), fmt);
    return kOk;
}

int cmd_record(Client& c, const std::vector<std::string>& args, std::size_t at, tlcli::Format fmt) {
    std::vector<std::string> pos;
    auto o = parse_opts(args, at,
                        {"user", "model", "provider", "endpoint", "request-type", "session", "message",
                         "request-id", "input", "output", "cache-read", "cache-write", "cache-write-1h",
                         "reasoning", "usage", "latency-ms", "failed", "metadata", "tier", "at"},
                        pos);
    if (o.count("help")) {
        std::cout << kRecordHelp;
        return kOk;
    }
    if (!pos.empty()) throw UsageError("unexpected argument \"" + pos[0] + "\"");
    if (!o.count("user") || !o.count("model")) throw UsageError("record needs --user and --model");
    UsageEvent ev;
    ev.user_id = o["user"];
    ev.model = o["model"];
    auto opt = [&](const char* k) { return o.count(k) ? std::optional<std::string>(o[k]) : std::nullopt; };
    ev.provider = opt("provider");
    ev.endpoint = opt("endpoint");
    if (o.count("request-type")) ev.request_type = o["request-type"];
    ev.session_id = opt("session");
    ev.message_id = opt("message");
    ev.request_id = opt("request-id");
    ev.metadata = opt("metadata");
    if (o.count("tier")) ev.service_tier = o["tier"];
    if (o.count("failed")) {
        ev.success = false;
        ev.error_type = o["failed"];
    }
    if (o.count("latency-ms")) ev.latency_ms = static_cast<std::int32_t>(to_int("latency-ms", o["latency-ms"]));
    std::optional<std::int64_t> id;
    std::string at_sql;
    if (o.count("at")) {
        // Let the server parse the time (dates, timestamps, zones).
        auto t = c.query("SELECT extract(epoch FROM $1::timestamptz)::numeric * 1000000", {resolve_when(o["at"])});
        ev.occurred_at = std::chrono::system_clock::time_point(
            std::chrono::microseconds(std::stoll(t.rows[0][0]->substr(0, t.rows[0][0]->find('.')))));
    }
    if (o.count("usage")) {
        if (!ev.provider) throw UsageError("--usage needs --provider");
        id = c.insert_usage(ev, o["usage"]);
    } else {
        const std::pair<const char*, std::int64_t*> counts[] = {
            {"input", &ev.input_tokens},           {"output", &ev.output_tokens},
            {"cache-read", &ev.cache_read_tokens}, {"cache-write", &ev.cache_write_tokens},
            {"cache-write-1h", &ev.cache_write_1h_tokens}, {"reasoning", &ev.reasoning_tokens}};
        for (auto& [k, v] : counts)
            if (o.count(k)) *v = to_int(k, o[k]);
        id = c.insert(ev);
    }
    Table t;
    t.columns = {"event_id"};
    t.types = {20};
    t.rows.push_back({id ? std::optional<std::string>(std::to_string(*id)) : std::nullopt});
    tlcli::render(std::cout, t, fmt);
    return kOk;
}

int cmd_normalize(Client& c, const std::vector<std::string>& args, std::size_t at, tlcli::Format fmt) {
    std::vector<std::string> pos;
    auto o = parse_opts(args, at, {"provider", "usage-format"}, pos);
    if (o.count("help")) {
        std::cout << kNormalizeHelp;
        return kOk;
    }
    if (pos.size() != 1) throw UsageError("normalize takes exactly one USAGE_JSON argument");
    auto b = c.normalize(pos[0], o.count("provider") ? std::optional<std::string>(o["provider"]) : std::nullopt,
                         o.count("usage-format") ? std::optional<std::string>(o["usage-format"]) : std::nullopt);
    Table t;
    t.columns = {"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                 "cache_write_1h_tokens", "reasoning_tokens", "total_tokens", "detected_format"};
    t.types = {20, 20, 20, 20, 20, 20, 20, 25};
    t.rows.push_back({std::to_string(b.input_tokens), std::to_string(b.output_tokens),
                      std::to_string(b.cache_read_tokens), std::to_string(b.cache_write_tokens),
                      std::to_string(b.cache_write_1h_tokens), std::to_string(b.reasoning_tokens),
                      std::to_string(b.total()), b.detected_format});
    tlcli::render(std::cout, t, fmt);
    return kOk;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string dsn;
    tlcli::Format fmt = tlcli::Format::Table;
    std::size_t i = 0;
    try {
        for (; i < args.size() && args[i].rfind("-", 0) == 0; ++i) {
            const std::string& a = args[i];
            if (a == "-h" || a == "--help") {
                std::cout << kMainHelp;
                return kOk;
            }
            std::string name = a, value;
            auto eq = a.find('=');
            if (eq != std::string::npos) {
                name = a.substr(0, eq);
                value = a.substr(eq + 1);
            } else if (a == "--dsn" || a == "--format") {
                if (i + 1 >= args.size()) throw UsageError("option " + a + " needs a value");
                value = args[++i];
            }
            if (name == "--dsn") dsn = value;
            else if (name == "--format") {
                if (!tlcli::parse_format(value, fmt)) throw UsageError("--format must be table, csv or json");
            } else throw UsageError("unknown option " + a);
        }
        if (i >= args.size()) throw UsageError("missing command");
        std::string cmd = args[i++];
        int (*run)(Client&, const std::vector<std::string>&, std::size_t, tlcli::Format) = nullptr;
        const char* help = nullptr;
        if (cmd == "export") run = cmd_export, help = kExportHelp;
        else if (cmd == "record") run = cmd_record, help = kRecordHelp;
        else if (cmd == "normalize") run = cmd_normalize, help = kNormalizeHelp;
        else throw UsageError("unknown command \"" + cmd + "\"");
        for (std::size_t j = i; j < args.size(); ++j)
            if (args[j] == "--help" || args[j] == "-h") {
                std::cout << help;
                return kOk;
            }
        Client c(dsn);
        c.query("SET TimeZone = 'UTC'");
        return run(c, args, i, fmt);
    } catch (const UsageError& e) {
        std::cerr << "tokenledger: " << e.what() << "\n(see tokenledger --help)\n";
        return kUsage;
    } catch (const InvalidInput& e) {
        std::cerr << "tokenledger: " << e.what() << " [" << e.sqlstate() << "]\n";
        if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
        return kUsage;
    } catch (const NotConnected& e) {
        std::cerr << "tokenledger: " << e.what() << "\n";
        return kUnreachable;
    } catch (const Error& e) {
        std::cerr << "tokenledger: " << e.what() << (e.sqlstate().empty() ? "" : " [" + e.sqlstate() + "]")
                  << "\n";
        if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
        return kServer;
    }
}
