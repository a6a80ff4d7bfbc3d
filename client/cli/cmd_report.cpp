// report ...: the extension's report functions, one SQL call each.
#include "cli.hpp"

using tokenledger::Client;
using tokenledger::Params;

namespace tlcli {
namespace {

const char* kRange =
    "  --from WHEN   start of the period: a date, a timestamp, now, today, or Nd/Nh/Nw ago\n"
    "  --to WHEN     end of the period, exclusive (default now when --from is given)\n"
    "                Without either: the report's default period (the current month in\n"
    "                tokenledger.timezone).\n";

// SELECT * FROM fn(from, to) for the reports that take only a period.
int period_report(Client& c, const Invocation& in, const char* fn) {
    Params p;
    report_range(in, p);
    return print_query(c, in, "SELECT * FROM " + qualified(c, fn) + "($1::timestamptz, $2::timestamptz)", p);
}

int run_users(Client& c, const Invocation& in) {
    Params p;
    report_range(in, p);
    p.push_back(std::to_string(to_int("limit", in.get_or("limit", "10"))));
    p.push_back(in.get_or("order-by", "cost"));
    p.push_back(std::to_string(to_int("offset", in.get_or("offset", "0"))));
    return print_query(c, in,
                       "SELECT * FROM " + qualified(c, "usage_top_users") +
                           "($1::timestamptz, $2::timestamptz, $3::integer, $4, $5::integer)",
                       p);
}

int run_user(Client& c, const Invocation& in) {
    Params p{in.pos[0]};
    report_range(in, p);
    return print_query(c, in,
                       "SELECT * FROM " + qualified(c, "usage_user_summary") + "($1, $2::timestamptz, $3::timestamptz)",
                       p);
}

int run_system(Client& c, const Invocation& in) { return period_report(c, in, "usage_system_summary"); }
int run_models(Client& c, const Invocation& in) { return period_report(c, in, "usage_by_model"); }
int run_endpoints(Client& c, const Invocation& in) { return period_report(c, in, "usage_by_endpoint"); }
int run_providers(Client& c, const Invocation& in) { return period_report(c, in, "usage_by_provider"); }

int run_timeseries(Client& c, const Invocation& in) {
    Params p{in.get_or("bucket", "day")};
    report_range(in, p);
    p.push_back(in.get("user"));
    p.push_back(in.get("model"));
    p.push_back(in.get("endpoint"));
    return print_query(c, in,
                       "SELECT * FROM " + qualified(c, "usage_timeseries") +
                           "($1, $2::timestamptz, $3::timestamptz, $4, $5, $6)",
                       p);
}

int run_session(Client& c, const Invocation& in) {
    return print_query(c, in, "SELECT * FROM " + qualified(c, "usage_session_summary") + "($1)", {in.pos[0]});
}

int run_totals(Client& c, const Invocation& in) {
    return print_query(c, in, "SELECT * FROM " + qualified(c, "usage_totals") + "()");
}

}  // namespace

std::vector<Command> report_commands() {
    const std::vector<std::string> range{"from", "to"};
    auto breakdown = [&](const char* what, const char* fn, int (*run)(Client&, const Invocation&)) {
        return Command{std::string("report ") + what,
                       std::string("usage: tokenledger report ") + what + " [--from WHEN] [--to WHEN]\n\n" +
                           "Requests, tokens, cost (USD), cost share, success rate and latency\n"
                           "percentiles per " + std::string(what).substr(0, std::string(what).size() - 1) +
                           ", most expensive first (" + fn + ").\n\n" + kRange +
                           "\nexample: tokenledger report " + what + " --from 7d\n",
                       range, {}, 0, 0, run};
    };
    return {
        {"report users",
         std::string("usage: tokenledger report users [--from WHEN] [--to WHEN] [--order-by cost|tokens|requests]\n"
                     "                                [--limit N] [--offset N]\n"
                     "\n"
                     "The heaviest users of the period, ranked (usage_top_users).\n"
                     "\n") +
             kRange +
             "  --order-by K  cost (default), tokens or requests\n"
             "  --limit N     rows per page (default 10); --offset N skips the first N\n"
             "\n"
             "example: tokenledger report users --from 30d --order-by tokens --limit 20\n",
         {"from", "to", "order-by", "limit", "offset"}, {}, 0, 0, run_users},
        {"report user",
         std::string("usage: tokenledger report user USER_ID [--from WHEN] [--to WHEN]\n"
                     "\n"
                     "One user's requests, failures, tokens per bucket, cost per bucket and\n"
                     "latency percentiles over the period (usage_user_summary).\n"
                     "\n") +
             kRange + "\nexample: tokenledger report user alice@example.com --from 2026-01-01 --to 2026-02-01\n",
         range, {}, 1, 1, run_user},
        {"report system",
         std::string("usage: tokenledger report system [--from WHEN] [--to WHEN]\n"
                     "\n"
                     "Platform totals: unique users, requests, success rate, tokens, cost,\n"
                     "latency percentiles and per-day averages (usage_system_summary).\n"
                     "\n") +
             kRange + "\nexample: tokenledger --format json report system --from 7d\n",
         range, {}, 0, 0, run_system},
        breakdown("models", "usage_by_model", run_models),
        breakdown("endpoints", "usage_by_endpoint", run_endpoints),
        breakdown("providers", "usage_by_provider", run_providers),
        {"report timeseries",
         std::string("usage: tokenledger report timeseries [--bucket hour|day|week|month] [--from WHEN] [--to WHEN]\n"
                     "                                     [--user ID] [--model M] [--endpoint E]\n"
                     "\n"
                     "Requests, failures, tokens, cost and latency per time bucket, zero-filled\n"
                     "(usage_timeseries). Without --from/--to: the last 30 days.\n"
                     "\n") +
             kRange +
             "  --bucket B    hour, day (default), week or month\n"
             "  --user ID --model M --endpoint E   only those events\n"
             "\n"
             "example: tokenledger --format csv report timeseries --bucket hour --from 1d --model gpt-4o\n",
         {"from", "to", "bucket", "user", "model", "endpoint"}, {}, 0, 0, run_timeseries},
        {"report session",
         "usage: tokenledger report session SESSION_ID\n"
         "\n"
         "What one chat session cost: users, first and last call, requests, tokens and\n"
         "cost per bucket (usage_session_summary, straight from the ledger).\n"
         "\n"
         "example: tokenledger report session chat-42\n",
         {}, {}, 1, 1, run_session},
        {"report totals",
         "usage: tokenledger report totals\n"
         "\n"
         "Platform totals for all time, this month and today (usage_totals).\n"
         "\n"
         "example: tokenledger report totals\n",
         {}, {}, 0, 0, run_totals},
    };
}

}  // namespace tlcli
