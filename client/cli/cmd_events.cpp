// export, record, normalize: the ledger's events.
#include <chrono>
#include <iostream>

#include "cli.hpp"

using tokenledger::Client;

namespace tlcli {
namespace {

int run_export(Client& c, const Invocation& in) {
    std::string from = resolve_when(in.get_or("from", "30d"));
    std::string to = resolve_when(in.get_or("to", "now"));
    std::string sql =
        "SELECT occurred_at, user_id, provider, model, endpoint, request_type, service_tier, success, "
        "error_type, latency_ms, input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, "
        "output_tokens, reasoning_tokens, total_tokens, total_cost_usd, request_id, session_id FROM " +
        qualified(c, "usage_events") +
        " WHERE occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz "
        "AND ($3::text IS NULL OR user_id = $3) ORDER BY occurred_at, event_id";
    return print_query(c, in, sql, {from, to, in.get("user")});
}

int run_record(Client& c, const Invocation& in) {
    if (!in.has("user") || !in.has("model")) throw UsageError("record needs --user and --model");
    tokenledger::UsageEvent ev;
    ev.user_id = *in.get("user");
    ev.model = *in.get("model");
    ev.provider = in.get("provider");
    ev.endpoint = in.get("endpoint");
    ev.request_type = in.get_or("request-type", ev.request_type);
    ev.session_id = in.get("session");
    ev.message_id = in.get("message");
    ev.request_id = in.get("request-id");
    ev.metadata = in.get("metadata");
    ev.service_tier = in.get_or("tier", ev.service_tier);
    if (in.has("failed")) {
        ev.success = false;
        ev.error_type = in.get("failed");
    }
    if (in.has("latency-ms")) ev.latency_ms = static_cast<std::int32_t>(to_int("latency-ms", *in.get("latency-ms")));
    if (in.has("at")) {
        // Let the server parse the time (dates, timestamps, zones).
        auto t = c.query("SELECT (extract(epoch FROM $1::timestamptz) * 1000000)::bigint", {resolve_when(*in.get("at"))});
        ev.occurred_at = std::chrono::system_clock::time_point(std::chrono::microseconds(std::stoll(*t.rows[0][0])));
    }
    if (in.has("reservation")) ev.reservation_id = to_int("reservation", *in.get("reservation"));
    std::optional<std::int64_t> id;
    if (in.has("usage")) {
        if (!ev.provider) throw UsageError("--usage needs --provider");
        id = c.insert_usage(ev, *in.get("usage"));
    } else {
        const std::pair<const char*, std::int64_t*> counts[] = {
            {"input", &ev.input_tokens},           {"output", &ev.output_tokens},
            {"cache-read", &ev.cache_read_tokens}, {"cache-write", &ev.cache_write_tokens},
            {"cache-write-1h", &ev.cache_write_1h_tokens}, {"reasoning", &ev.reasoning_tokens}};
        for (auto& [k, v] : counts)
            if (in.has(k)) *v = to_int(k, *in.get(k));
        id = c.insert(ev);
    }
    return print_rows(in, {"event_id"}, {20}, {{id ? std::optional<std::string>(std::to_string(*id)) : std::nullopt}});
}

int run_normalize(Client& c, const Invocation& in) {
    auto b = c.normalize(in.pos[0], in.get("provider"), in.get("usage-format"));
    return print_rows(in,
                      {"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                       "cache_write_1h_tokens", "reasoning_tokens", "total_tokens", "detected_format"},
                      {20, 20, 20, 20, 20, 20, 20, 25},
                      {{std::to_string(b.input_tokens), std::to_string(b.output_tokens),
                        std::to_string(b.cache_read_tokens), std::to_string(b.cache_write_tokens),
                        std::to_string(b.cache_write_1h_tokens), std::to_string(b.reasoning_tokens),
                        std::to_string(b.total()), b.detected_format}});
}

}  // namespace

std::vector<Command> event_commands() {
    return {
        {"export",
         "usage: tokenledger export [--from WHEN] [--to WHEN] [--user USER_ID]\n"
         "\n"
         "Prints the ledger's events with occurred_at in [from, to), oldest first,\n"
         "with names, token buckets and cost in USD (empty/null cost = unpriced).\n"
         "\n"
         "  --from WHEN   start (default 30d): a date (2025-01-31), a timestamp, now,\n"
         "                or a relative form Nd, Nh, Nw meaning that long ago\n"
         "  --to WHEN     end, exclusive (default now)\n"
         "  --user ID     only this user's events\n"
         "\n"
         "example: tokenledger --format csv export --from 7d --user alice > alice.csv\n",
         {"from", "to", "user"}, {}, 0, 0, run_export},
        {"record",
         "usage: tokenledger record --user ID --model MODEL [OPTIONS]\n"
         "\n"
         "Records one LLM call (usage_log_insert) and prints its event id.\n"
         "\n"
         "  --user ID --model MODEL   required\n"
         "  --provider P --endpoint E --request-type T --session S --message M\n"
         "  --request-id R            idempotency key: a repeat records nothing\n"
         "  --input N --output N --cache-read N --cache-write N --cache-write-1h N --reasoning N\n"
         "  --usage JSON              the provider's raw usage object instead of the counts\n"
         "  --latency-ms N --failed ERROR_TYPE --metadata JSON --tier standard|batch|flex|priority\n"
         "  --at WHEN                 when it happened (default now)\n"
         "  --reservation ID          settle this quota_reserve hold\n"
         "\n"
         "example: tokenledger record --user alice --model gpt-4o --input 1200 --output 300\n",
         {"user", "model", "provider", "endpoint", "request-type", "session", "message", "request-id", "input",
          "output", "cache-read", "cache-write", "cache-write-1h", "reasoning", "usage", "latency-ms", "failed",
          "metadata", "tier", "at", "reservation"},
         {}, 0, 0, run_record},
        {"normalize",
         "usage: tokenledger normalize [--provider P] [--usage-format F] USAGE_JSON\n"
         "\n"
         "Prints the six token buckets a provider usage object maps onto. The format\n"
         "(openai_chat, openai_responses, anthropic, gemini, vercel_ai) is detected\n"
         "unless given.\n"
         "\n"
         "example: tokenledger normalize '{\"prompt_tokens\": 100, \"completion_tokens\": 30}'\n",
         {"provider", "usage-format"}, {}, 1, 1, run_normalize},
    };
}

}  // namespace tlcli
