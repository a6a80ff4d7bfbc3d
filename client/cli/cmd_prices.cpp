// prices ...: the price catalog (admin).
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.hpp"

using tokenledger::Client;
using tokenledger::Params;

namespace tlcli {
namespace {

// The options of prices set that map to price_set parameters (USD per
// million tokens unless noted).
struct PriceOption {
    const char* option;
    const char* param;
    const char* type;
};
const PriceOption kPriceOptions[] = {
    {"cache-read", "cache_read_usd_per_mtok", "numeric"},
    {"cache-write", "cache_write_usd_per_mtok", "numeric"},
    {"cache-write-1h", "cache_write_1h_usd_per_mtok", "numeric"},
    {"reasoning", "reasoning_usd_per_mtok", "numeric"},
    {"tier", "service_tier", "text"},
    {"tier-threshold", "tier_threshold_tokens", "bigint"},
    {"tier-input", "tier_input_usd_per_mtok", "numeric"},
    {"tier-output", "tier_output_usd_per_mtok", "numeric"},
    {"tier-cache-read", "tier_cache_read_usd_per_mtok", "numeric"},
    {"tier-cache-write", "tier_cache_write_usd_per_mtok", "numeric"},
    {"tier-cache-write-1h", "tier_cache_write_1h_usd_per_mtok", "numeric"},
    {"tier-reasoning", "tier_reasoning_usd_per_mtok", "numeric"},
    {"request", "request_usd", "numeric"},
    {"source", "source", "text"},
};

int run_set(Client& c, const Invocation& in) {
    for (const char* req : {"from", "input", "output"})
        if (!in.has(req)) throw UsageError(std::string("prices set needs --") + req);
    Params p{in.pos[0], in.pos[1], resolve_when(*in.get("from")), to_decimal("input", *in.get("input")),
             to_decimal("output", *in.get("output"))};
    std::string args = "$1, $2, $3::timestamptz, $4::numeric, $5::numeric";
    for (auto& o : kPriceOptions) {
        auto v = in.get(o.option);
        if (!v) continue;
        std::string type = o.type;
        p.push_back(type == "numeric" ? to_decimal(o.option, *v)
                    : type == "bigint" ? std::to_string(to_int(o.option, *v))
                                       : *v);
        args += std::string(", ") + o.param + " => $" + std::to_string(p.size()) + "::" + type;
    }
    return print_query(c, in, "SELECT " + qualified(c, "price_set") + "(" + args + ") AS price_id", p);
}

std::string read_file(const std::string& path) {
    std::stringstream ss;
    if (path == "-") {
        ss << std::cin.rdbuf();
    } else {
        std::ifstream f(path, std::ios::binary);
        if (!f) throw UsageError("cannot read \"" + path + "\"");
        ss << f.rdbuf();
    }
    return ss.str();
}

int run_import(Client& c, const Invocation& in) {
    const std::string& kind = in.pos[0];
    std::string call;
    Params p{read_file(in.pos[1])};
    if (kind == "litellm") {
        if (!in.has("effective-from")) throw UsageError("prices import litellm needs --effective-from (LiteLLM has no dates)");
        p.push_back(resolve_when(*in.get("effective-from")));
        call = qualified(c, "price_import_litellm") + "($1::jsonb, $2::timestamptz)";
    } else if (kind == "genai") {
        if (in.has("effective-from")) throw UsageError("genai-prices carries its own dates: drop --effective-from");
        call = qualified(c, "price_import_genai_prices") + "($1::jsonb)";
    } else {
        throw UsageError("prices import takes litellm or genai, not \"" + kind + "\"");
    }
    if (in.has("details"))
        return print_query(c, in, "SELECT * FROM " + call + " r ORDER BY r.entry, r.service_tier", p);
    return print_query(c, in,
                       "SELECT r.action, r.reason, count(*) AS entries FROM " + call +
                           " r GROUP BY r.action, r.reason ORDER BY r.action, r.reason NULLS FIRST",
                       p);
}

int run_unpriced(Client& c, const Invocation& in) {
    return print_query(c, in,
                       "SELECT * FROM " + qualified(c, "usage_unpriced_models") +
                           " u ORDER BY u.events DESC, u.model, u.provider NULLS FIRST");
}

}  // namespace

std::vector<Command> price_commands() {
    std::vector<std::string> set_opts{"from", "input", "output"};
    for (auto& o : kPriceOptions) set_opts.push_back(o.option);
    return {
        {"prices set",
         "usage: tokenledger prices set PROVIDER MODEL --from WHEN --input USD --output USD [OPTIONS]\n"
         "\n"
         "Sets a model's price from a date on (price_set; idempotent) and prints the\n"
         "price id. Prices are USD per million tokens. The admin row in force at\n"
         "--from is closed there. Run usage_reprice to apply it to past events.\n"
         "\n"
         "  --cache-read USD --cache-write USD --cache-write-1h USD --reasoning USD\n"
         "  --tier standard|batch|flex|priority   service tier (default standard)\n"
         "  --tier-threshold TOKENS --tier-input USD --tier-output USD --tier-cache-read USD\n"
         "  --tier-cache-write USD --tier-cache-write-1h USD --tier-reasoning USD\n"
         "                          the context tier above TOKENS input tokens\n"
         "  --request USD           a price per request\n"
         "  --source TEXT           where the price comes from\n"
         "\n"
         "example: tokenledger prices set acme acme-large --from 2026-01-01 --input 2 --output 8 --cache-read 0.2\n",
         set_opts, {}, 2, 2, run_set},
        {"prices import",
         "usage: tokenledger prices import litellm|genai FILE [--effective-from WHEN] [--details]\n"
         "\n"
         "Imports a public price catalog (FILE, or - for stdin): LiteLLM's\n"
         "model_prices_and_context_window.json (needs --effective-from) or pydantic's\n"
         "genai-prices data.json (price_import_litellm, price_import_genai_prices).\n"
         "Idempotent. Prints how many entries were inserted, changed, unchanged or\n"
         "skipped (and why); --details prints every entry.\n"
         "\n"
         "example: tokenledger prices import litellm model_prices_and_context_window.json --effective-from today\n",
         {"effective-from"}, {"details"}, 2, 2, run_import},
        {"prices unpriced",
         "usage: tokenledger prices unpriced\n"
         "\n"
         "Models whose events have no price (usage_unpriced_models), most events first:\n"
         "add them with prices set, then reprice.\n"
         "\n"
         "example: tokenledger prices unpriced\n",
         {}, {}, 0, 0, run_unpriced},
    };
}

}  // namespace tlcli
