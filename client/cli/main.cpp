// tokenledger: the admin CLI. Each command is a small function over one SQL
// call of the extension; the commands live in cmd_*.cpp, one file per concern.
//
// Exit codes: 0 success, 1 server error, 2 usage error or invalid input,
// 3 database unreachable.
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

using namespace tlcli;
using tokenledger::Client;

namespace {

const char* kMainHelp =
    "usage: tokenledger [--dsn DSN] [--format table|csv|json] COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  report users|user|system|models|endpoints|providers|timeseries|session|totals\n"
    "              usage reports (tokenledger report --help)\n"
    "  quota plan|assign|block|unblock|status\n"
    "              plans, assignments, blocks and a user's limits (tokenledger quota --help)\n"
    "  prices set|import|unpriced\n"
    "              the price catalog (tokenledger prices --help)\n"
    "  rollup      fold new events into the rollups (or run all maintenance)\n"
    "  schedule    schedule rollup and maintenance with pg_cron (or unschedule)\n"
    "  export      print ledger events in a time range\n"
    "  record      record one LLM call (usage_log_insert)\n"
    "  normalize   map a provider usage object onto the token buckets (usage_normalize)\n"
    "\n"
    "Global options (before the command):\n"
    "  --dsn DSN       libpq connection string or URI (default: the PG* environment variables)\n"
    "  --format F      table (default, aligned), csv (RFC 4180) or json (an array of objects)\n"
    "  -h, --help      this help; COMMAND --help shows the command's options\n"
    "\n"
    "Times (--from, --to, --at): a date (2026-01-31), a timestamp, now, today, or\n"
    "Nh, Nd, Nw meaning that long ago (30d). Ranges are [from, to).\n"
    "\n"
    "Exit codes: 0 ok, 1 server error, 2 usage error or invalid input, 3 database unreachable.\n";

std::vector<Command> all_commands() {
    std::vector<Command> all;
    for (auto group : {event_commands(), report_commands(), quota_commands(), price_commands(), admin_commands()})
        all.insert(all.end(), group.begin(), group.end());
    return all;
}

// The help of a command group ("report"): every subcommand's first line.
std::string group_help(const std::string& group, const std::vector<Command>& all) {
    std::string h = "usage: tokenledger " + group + " SUBCOMMAND [OPTIONS]\n\nSubcommands:\n";
    for (auto& c : all)
        if (c.path.rfind(group + " ", 0) == 0) h += "  " + c.help.substr(0, c.help.find('\n')).substr(19) + "\n";
    return h + "\nSee tokenledger " + group + " SUBCOMMAND --help.\n";
}

Invocation parse(const Command& cmd, const std::vector<std::string>& args, std::size_t from, Format fmt) {
    Invocation in;
    in.fmt = fmt;
    auto known = [](const std::vector<std::string>& list, const std::string& n) {
        for (auto& k : list)
            if (k == n) return true;
        return false;
    };
    for (std::size_t i = from; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() > 2 && a.rfind("--", 0) == 0) {
            std::string name = a.substr(2), value;
            auto eq = name.find('=');
            bool inline_value = eq != std::string::npos;
            if (inline_value) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            if (known(cmd.flags, name)) {
                if (inline_value) throw UsageError("option --" + name + " takes no value");
                in.opts[name] = "1";
                continue;
            }
            if (!known(cmd.options, name)) throw UsageError("unknown option --" + name + " for " + cmd.path);
            if (!inline_value) {
                if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value");
                value = args[++i];
            }
            in.opts[name] = value;
        } else {
            in.pos.push_back(a);
        }
    }
    if (in.pos.size() < cmd.min_pos || in.pos.size() > cmd.max_pos) {
        if (in.pos.size() > cmd.max_pos) throw UsageError("unexpected argument \"" + in.pos[cmd.max_pos] + "\"");
        throw UsageError(cmd.path + " needs more arguments: " + cmd.help.substr(7, cmd.help.find('\n') - 7));
    }
    return in;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string dsn;
    Format fmt = Format::Table;
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
                if (!parse_format(value, fmt)) throw UsageError("--format must be table, csv or json");
            } else throw UsageError("unknown option " + a);
        }
        if (i >= args.size()) throw UsageError("missing command");
        auto all = all_commands();
        bool help = false;
        for (std::size_t j = i; j < args.size(); ++j) help = help || args[j] == "--help" || args[j] == "-h";
        // The longest command path that matches the words given.
        const Command* cmd = nullptr;
        std::size_t words = 0;
        for (auto& c : all) {
            std::size_t n = 0, k = i;
            std::string::size_type start = 0;
            bool ok = true;
            while (ok && start <= c.path.size()) {
                auto sp = c.path.find(' ', start);
                std::string w = c.path.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
                ok = k < args.size() && args[k] == w;
                if (ok) ++n, ++k;
                if (sp == std::string::npos) break;
                start = sp + 1;
            }
            if (ok && n > words) cmd = &c, words = n;
        }
        if (!cmd) {
            const std::string& group = args[i];
            bool is_group = false;
            for (auto& c : all) is_group = is_group || c.path.rfind(group + " ", 0) == 0;
            if (!is_group) throw UsageError("unknown command \"" + group + "\"");
            if (help) {
                std::cout << group_help(group, all);
                return kOk;
            }
            throw UsageError(i + 1 < args.size() ? "unknown " + group + " subcommand \"" + args[i + 1] + "\""
                                                 : group + " needs a subcommand");
        }
        if (help) {
            std::cout << cmd->help;
            return kOk;
        }
        Invocation in = parse(*cmd, args, i + words, fmt);
        Client c(dsn);
        c.query("SET TimeZone = 'UTC'");
        return cmd->run(c, in);
    } catch (const UsageError& e) {
        std::cerr << "tokenledger: " << e.what() << "\n(see tokenledger --help)\n";
        return kUsage;
    } catch (const tokenledger::InvalidInput& e) {
        std::cerr << "tokenledger: " << e.what() << " [" << e.sqlstate() << "]\n";
        if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
        return kUsage;
    } catch (const tokenledger::NotConnected& e) {
        std::cerr << "tokenledger: " << e.what() << "\n";
        return kUnreachable;
    } catch (const tokenledger::Error& e) {
        std::cerr << "tokenledger: " << e.what() << (e.sqlstate().empty() ? "" : " [" + e.sqlstate() + "]") << "\n";
        if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
        return kServer;
    }
}
