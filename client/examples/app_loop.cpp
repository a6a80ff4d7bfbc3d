// A small LLM app loop: each "request" calls a (simulated) model and hands
// the usage to the Recorder, which writes it to the ledger in the background.
// Usage: tokenledger_example_app [conninfo] [requests]
#include <iostream>
#include <random>
#include <string>

#include "tokenledger/tokenledger.hpp"

int main(int argc, char** argv) {
    std::string conninfo = argc > 1 ? argv[1] : "";
    int requests = argc > 2 ? std::stoi(argv[2]) : 20;
    try {
        // Admin side: one synchronous client (also used to map provider usage
        // objects with the extension's normaliser).
        tokenledger::Client admin(conninfo);

        tokenledger::RecorderOptions opt;
        opt.conninfo = conninfo;
        opt.spool_path = "tokenledger-example.spool";
        opt.on_error = [](const std::string& m) { std::cerr << m << "\n"; };
        tokenledger::Recorder recorder(opt);

        std::mt19937 rng(42);
        std::uniform_int_distribution<int> tokens(50, 2000);
        for (int i = 0; i < requests; ++i) {
            std::string user = "example-user-" + std::to_string(i % 3);
            // ... call the model here; this is what OpenAI would return:
            std::string usage = "{\"prompt_tokens\": " + std::to_string(tokens(rng)) +
                                ", \"completion_tokens\": " + std::to_string(tokens(rng) / 4) +
                                ", \"prompt_tokens_details\": {\"cached_tokens\": 32}}";
            auto ev = tokenledger::from_openai(admin, user, "gpt-4o-mini", usage);
            ev.endpoint = "example";
            ev.latency_ms = 100 + i;
            recorder.record(std::move(ev));  // never blocks on the database
        }
        bool ok = recorder.flush(std::chrono::seconds(10));
        auto s = recorder.stats();
        std::cout << "recorded " << s.queued << ", sent " << s.sent << ", spooled " << s.spooled
                  << (ok ? "" : " (not all in the database yet)") << "\n";
        return ok ? 0 : 1;
    } catch (const tokenledger::Error& e) {
        std::cerr << "error: " << e.what() << " [" << e.sqlstate() << "]\n";
        return 1;
    }
}
