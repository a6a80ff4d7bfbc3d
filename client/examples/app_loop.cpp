// A small LLM app loop with the three parts of libtokenledger:
//   1. QuotaGuard asks before each (simulated) model call: paying users get a
//      fast check that fails open; free users get a hard-cap reservation that
//      fails closed, and a refusal is rendered as the HTTP 429 the app returns;
//   2. the usage is recorded: by the Recorder in the background (paying
//      users), or by Client::insert with the reservation id, which settles the
//      hold in the same transaction (free users);
//   3. reports answer the admin's questions at the end.
// Usage: tokenledger_example_app [conninfo] [requests]
// (Creates an "example-free" plan: needs tokenledger_admin rights.)
#include <chrono>
#include <iostream>
#include <random>
#include <string>

#include "tokenledger/tokenledger.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
    std::string conninfo = argc > 1 ? argv[1] : "";
    int requests = argc > 2 ? std::stoi(argv[2]) : 20;
    try {
        // Synchronous client: settles reservations, maps provider usage
        // objects with the extension's normaliser, runs the reports.
        tokenledger::Client db(conninfo);
        tokenledger::QuotaPlan free_plan;
        free_plan.plan = "example-free";
        free_plan.requests_per_day = 5;
        free_plan.tokens_per_day = 20000;
        db.quota_plan_set(free_plan);
        db.quota_assign("example-free-user", "example-free");

        tokenledger::RecorderOptions ro;
        ro.conninfo = conninfo;
        ro.spool_path = "tokenledger-example.spool";
        ro.on_error = [](const std::string& m) { std::cerr << m << "\n"; };
        tokenledger::Recorder recorder(ro);

        tokenledger::QuotaGuardOptions paying_opt;   // availability first
        paying_opt.conninfo = conninfo;
        paying_opt.timeout = 200ms;
        paying_opt.fail_policy = tokenledger::FailPolicy::Open;
        tokenledger::QuotaGuard paying(paying_opt);
        tokenledger::QuotaGuardOptions free_opt = paying_opt;  // the hard cap first
        free_opt.fail_policy = tokenledger::FailPolicy::Closed;
        tokenledger::QuotaGuard free_tier(free_opt);

        std::mt19937 rng(42);
        std::uniform_int_distribution<int> tokens(50, 2000);
        int refused = 0;
        for (int i = 0; i < requests; ++i) {
            bool is_free = i % 3 == 2;
            std::string user = is_free ? "example-free-user" : "example-user-" + std::to_string(i % 3);
            const std::int64_t est_tokens = 2500;

            // 1. Ask first.
            tokenledger::QuotaDecision d = is_free ? free_tier.reserve(user, est_tokens, 0, 120s)
                                                   : paying.check(user, est_tokens);
            if (!d.allowed) {
                ++refused;
                std::cout << "HTTP " << d.http_status() << " Retry-After: " << d.retry_after_header() << "\n"
                          << d.http_body() << "\n";
                continue;
            }

            // ... call the model here; this is what OpenAI would return:
            std::string usage = "{\"prompt_tokens\": " + std::to_string(tokens(rng)) +
                                ", \"completion_tokens\": " + std::to_string(tokens(rng) / 4) +
                                ", \"prompt_tokens_details\": {\"cached_tokens\": 32}}";
            auto ev = tokenledger::from_openai(db, user, "gpt-4o-mini", usage);
            ev.endpoint = "example";
            ev.latency_ms = 100 + i;

            // 2. Record it.
            if (d.reservation_id)
                db.insert(ev, *d.reservation_id);  // settles the hold: usage replaces the estimate
            else
                recorder.record(std::move(ev));    // never blocks on the database
        }
        bool ok = recorder.flush(10s);
        auto st = recorder.stats();
        std::cout << "recorded " << st.queued << " in the background, sent " << st.sent << ", spooled "
                  << st.spooled << ", refused " << refused << (ok ? "" : " (not all in the database yet)") << "\n";

        // 3. Answer the admin's questions (this month, real time).
        std::cout << "\nheaviest users this month (user | requests | tokens | USD):\n";
        for (auto& u : db.usage_top_users({}, {}, 100, tokenledger::UserRanking::Tokens))
            if (u.user_id.rfind("example-", 0) == 0)
                std::cout << u.user_id << " | " << u.usage.requests << " | " << u.usage.total_tokens << " | "
                          << u.usage.total_cost.str() << "\n";
        std::cout << "\nexample-free-user's quota (limit | used | limit | remaining):\n";
        for (auto& l : db.quota_status("example-free-user").limits)
            std::cout << l.limit_name << " | " << l.used << " | " << l.limit << " | " << l.remaining << "\n";
        return ok ? 0 : 1;
    } catch (const tokenledger::Error& e) {
        std::cerr << "error: " << e.what() << " [" << e.sqlstate() << "]\n";
        return 1;
    }
}
