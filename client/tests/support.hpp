// Shared helpers for the client tests. They run against the database named
// by the PG* environment variables (make test's private cluster).
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "tokenledger/client.hpp"

namespace tltest {

// A prefix no other test run uses, so tests never see each other's rows.
inline std::string unique_prefix(const std::string& name) {
    return "ct-" + name + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-";
}

inline long long count_rows(tokenledger::Client& c, const std::string& prefix) {
    auto t = c.query("SELECT count(*) FROM " + c.quote_ident(c.schema()) +
                         ".usage_log WHERE starts_with(user_id, $1)",
                     {prefix});
    return std::stoll(*t.rows[0][0]);
}

inline long long count_distinct_requests(tokenledger::Client& c, const std::string& prefix) {
    auto t = c.query("SELECT count(DISTINCT request_id) FROM " + c.quote_ident(c.schema()) +
                         ".usage_log WHERE starts_with(user_id, $1)",
                     {prefix});
    return std::stoll(*t.rows[0][0]);
}

inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

inline std::string temp_path(const std::string& name) {
    std::string dir = env("TMPDIR").empty() ? "/tmp" : env("TMPDIR");
    return dir + "/tl-" + name + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

// A conninfo that cannot reach any server (fails fast).
inline std::string unreachable_conninfo() {
    return "host=/nonexistent-tokenledger-socket-dir port=1 connect_timeout=1";
}

}  // namespace tltest
