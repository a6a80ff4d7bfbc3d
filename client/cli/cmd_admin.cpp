// rollup, schedule: maintenance (admin).
#include <algorithm>

#include "cli.hpp"

using tokenledger::Client;

namespace tlcli {
namespace {

int run_rollup(Client& c, const Invocation& in) {
    if (in.has("maintenance")) {
        if (in.has("batch-size")) throw UsageError("--batch-size applies to the rollup alone, not --maintenance");
        c.usage_maintenance();
    } else {
        auto bs = in.get("batch-size");
        c.usage_rollup(bs ? std::optional<std::int32_t>(to_int32("batch-size", *bs)) : std::nullopt);
    }
    return print_query(c, in,
                       "SELECT s.watermark, s.last_rollup_at, s.events_folded FROM " +
                           qualified(c, "usage_rollup_state") + " s");
}

int run_schedule(Client& c, const Invocation& in) {
    std::vector<std::vector<std::optional<std::string>>> rows;
    if (in.has("off")) {
        if (in.has("rollup") || in.has("maintenance")) throw UsageError("--off takes no schedules");
        auto names = c.usage_unschedule();
        std::sort(names.begin(), names.end());
        for (auto& n : names) rows.push_back({n});
        return print_rows(in, {"jobname"}, {25}, std::move(rows));
    }
    for (auto& j : c.usage_schedule(in.get_or("rollup", "* * * * *"), in.get_or("maintenance", "7 * * * *")))
        rows.push_back({j.jobname, std::to_string(j.jobid), j.schedule, j.command});
    return print_rows(in, {"jobname", "jobid", "schedule", "command"}, {25, 20, 25, 25}, std::move(rows));
}

}  // namespace

std::vector<Command> admin_commands() {
    return {
        {"rollup",
         "usage: tokenledger rollup [--batch-size N] [--maintenance]\n"
         "\n"
         "Folds every committed event into the hourly and daily rollups (CALL\n"
         "usage_rollup), then prints the watermark. --maintenance runs CALL\n"
         "usage_maintenance() instead: rollup, partitions, retention, expired holds.\n"
         "\n"
         "  --batch-size N   event ids per rollup transaction (default tokenledger.rollup_batch_size)\n"
         "\n"
         "example: tokenledger rollup --batch-size 10000\n",
         {"batch-size"}, {"maintenance"}, 0, 0, run_rollup},
        {"schedule",
         "usage: tokenledger schedule [--rollup CRON] [--maintenance CRON] | --off\n"
         "\n"
         "Schedules the rollup and maintenance jobs with pg_cron (usage_schedule;\n"
         "upserted by name) and prints them; --off removes them (usage_unschedule).\n"
         "Needs pg_cron in this database; the error's hint says how otherwise.\n"
         "\n"
         "  --rollup CRON        default '* * * * *' (every minute)\n"
         "  --maintenance CRON   default '7 * * * *' (hourly)\n"
         "\n"
         "example: tokenledger schedule --rollup '*/5 * * * *' --maintenance '15 3 * * *'\n",
         {"rollup", "maintenance"}, {"off"}, 0, 0, run_schedule},
    };
}

}  // namespace tlcli
