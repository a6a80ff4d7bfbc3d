// quota ...: plans, assignments, blocks and a user's limits (admin).
#include "cli.hpp"

using tokenledger::Client;
using tokenledger::Params;

namespace tlcli {
namespace {

// A plan as the admin sees it: costs in USD, no bookkeeping columns.
std::string plan_columns() {
    return "p.plan, p.requests_per_minute, p.requests_per_hour, p.requests_per_day, p.tokens_per_minute, "
           "p.tokens_per_day, p.tokens_per_month, round(p.cost_per_day_nano_usd / 1e9, 9) AS cost_per_day_usd, "
           "round(p.cost_per_month_nano_usd / 1e9, 9) AS cost_per_month_usd, p.alert_thresholds, p.timezone";
}

// The limit options of quota plan, and their quota_plan_set parameters.
struct LimitOption {
    const char* option;
    const char* param;
    const char* type;  // how the value is checked and cast
};
const LimitOption kLimits[] = {
    {"requests-per-minute", "requests_per_minute", "bigint"},
    {"requests-per-hour", "requests_per_hour", "bigint"},
    {"requests-per-day", "requests_per_day", "bigint"},
    {"tokens-per-minute", "tokens_per_minute", "bigint"},
    {"tokens-per-day", "tokens_per_day", "bigint"},
    {"tokens-per-month", "tokens_per_month", "bigint"},
    {"cost-per-day", "cost_per_day", "numeric"},
    {"cost-per-month", "cost_per_month", "numeric"},
    {"alert-thresholds", "alert_thresholds", "integer[]"},
    {"timezone", "timezone", "text"},
};

int run_plan(Client& c, const Invocation& in) {
    if (in.pos.empty()) {
        bool any = false;
        for (auto& l : kLimits) any = any || in.has(l.option);
        if (any) throw UsageError("quota plan needs the plan NAME to set limits");
        return print_query(c, in, "SELECT " + plan_columns() + " FROM " + qualified(c, "quota_plans") + " p ORDER BY p.plan");
    }
    // Named notation, only for the options given: the others take
    // quota_plan_set's defaults (unlimited; thresholds 50,80,100).
    Params p{in.pos[0]};
    std::string args = "plan => $1";
    for (auto& l : kLimits) {
        auto v = in.get(l.option);
        if (!v) continue;
        std::string value = *v;
        std::string type = l.type;
        if (type == "bigint") value = std::to_string(to_int(l.option, value));
        if (type == "numeric") value = to_decimal(l.option, value);
        if (type == "integer[]") value = "{" + value + "}";  // 50,80,100
        p.push_back(value);
        args += std::string(", ") + l.param + " => $" + std::to_string(p.size()) + "::" + type;
    }
    return print_query(c, in,
                       "SELECT " + plan_columns() + " FROM " + qualified(c, "quota_plan_set") + "(" + args + ") p", p);
}

int run_assign(Client& c, const Invocation& in) {
    return print_query(c, in,
                       "SELECT a.user_id, a.plan, a.overrides, a.blocked FROM " + qualified(c, "quota_assign") +
                           "($1, $2, coalesce($3::jsonb, '{}')) a",
                       {in.pos[0], in.pos[1], in.get("overrides")});
}

int run_block(Client& c, const Invocation& in) {
    auto reason = in.get("reason");
    if (!reason) throw UsageError("quota block needs --reason");
    c.quota_block(in.pos[0], *reason);
    return print_rows(in, {"user_id", "blocked", "block_reason"}, {25, 16, 25}, {{in.pos[0], "t", *reason}});
}

int run_unblock(Client& c, const Invocation& in) {
    bool was = c.quota_unblock(in.pos[0]);
    return print_rows(in, {"user_id", "was_blocked"}, {25, 16}, {{in.pos[0], was ? "t" : "f"}});
}

int run_status(Client& c, const Invocation& in) {
    return print_query(c, in, "SELECT * FROM " + qualified(c, "quota_status") + "($1)", {in.pos[0]});
}

}  // namespace

std::vector<Command> quota_commands() {
    std::vector<std::string> limit_opts;
    for (auto& l : kLimits) limit_opts.push_back(l.option);
    return {
        {"quota plan",
         "usage: tokenledger quota plan [NAME [LIMITS]]\n"
         "\n"
         "Without NAME: lists the plans. With NAME: creates or replaces that plan\n"
         "(quota_plan_set; idempotent) and prints it. Every limit not given is\n"
         "unlimited, so give them all each time.\n"
         "\n"
         "  --requests-per-minute N --requests-per-hour N --requests-per-day N\n"
         "  --tokens-per-minute N --tokens-per-day N --tokens-per-month N\n"
         "  --cost-per-day USD --cost-per-month USD\n"
         "  --alert-thresholds 50,80,100   percents of a limit that raise an alert\n"
         "  --timezone ZONE                 calendar days and months of the plan\n"
         "\n"
         "example: tokenledger quota plan pro --requests-per-minute 60 --tokens-per-day 2000000 --cost-per-month 100\n",
         limit_opts, {}, 0, 1, run_plan},
        {"quota assign",
         "usage: tokenledger quota assign USER_ID PLAN [--overrides JSON]\n"
         "\n"
         "Puts a user on a plan (quota_assign), with optional per-user limits that\n"
         "replace the plan's (cost in USD; null removes a limit).\n"
         "\n"
         "example: tokenledger quota assign user-42 pro --overrides '{\"tokens_per_day\": 5000000}'\n",
         {"overrides"}, {}, 2, 2, run_assign},
        {"quota block",
         "usage: tokenledger quota block USER_ID --reason TEXT\n"
         "\n"
         "Refuses every request of the user until unblocked (quota_block). The reason\n"
         "is shown to the app by quota_check.\n"
         "\n"
         "example: tokenledger quota block user-13 --reason 'chargeback under review'\n",
         {"reason"}, {}, 1, 1, run_block},
        {"quota unblock",
         "usage: tokenledger quota unblock USER_ID\n"
         "\n"
         "Lifts a block (quota_unblock); was_blocked says whether there was one.\n"
         "\n"
         "example: tokenledger quota unblock user-13\n",
         {}, {}, 1, 1, run_unblock},
        {"quota status",
         "usage: tokenledger quota status USER_ID\n"
         "\n"
         "Every limit of the user's plan: used, reserved, limit, remaining and when\n"
         "its window resets (quota_status). Amounts of cost limits are USD.\n"
         "\n"
         "example: tokenledger quota status user-42\n",
         {}, {}, 1, 1, run_status},
    };
}

}  // namespace tlcli
