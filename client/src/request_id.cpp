#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "tokenledger/usage_event.hpp"

namespace tokenledger {
namespace {

// Bumped in a child after fork(), so the child reseeds instead of repeating
// the parent's sequence of ids (which the server would then deduplicate
// away as "already recorded").
std::atomic<std::uint64_t> fork_generation{0};

void on_fork_child() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

std::mt19937_64 seeded() {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
}

}  // namespace

std::string generate_request_id() {
    static std::once_flag once;
    std::call_once(once, [] { pthread_atfork(nullptr, nullptr, on_fork_child); });
    // One generator per thread, seeded from the OS: no lock on the hot path.
    thread_local std::mt19937_64 rng = seeded();
    thread_local std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
    std::uint64_t now = fork_generation.load(std::memory_order_relaxed);
    if (now != generation) {
        rng = seeded();
        generation = now;
    }
    static const char hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (int half = 0; half < 2; ++half) {
        std::uint64_t v = rng();
        for (int i = 0; i < 16; ++i, v >>= 4) id[half * 16 + i] = hex[v & 0xf];
    }
    return id;
}

}  // namespace tokenledger
