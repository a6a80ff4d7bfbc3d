// Shared helpers for the client tests. They run against the database named
// by the PG* environment variables (make test's private cluster).
#pragma once
#include <unistd.h>

#include <catch2/catch.hpp>
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

// Stops and restarts make test's private server (see test/run_tests.sh,
// which exports TL_PGCTL, TL_PGDATA, TL_PGLOG and, as root, TL_PGRUNAS).
struct Server {
    static int ctl(const std::string& action) {
        std::string pgctl = env("TL_PGCTL"), data = env("TL_PGDATA");
        if (pgctl.empty() || data.empty()) FAIL("TL_PGCTL and TL_PGDATA must name the test cluster (make test sets them)");
        std::string runas = env("TL_PGRUNAS");
        std::string log = env("TL_PGLOG").empty() ? "/dev/null" : env("TL_PGLOG");
        std::string cmd = (runas.empty() ? "" : "runuser -u " + runas + " -- ") + pgctl + " -D '" + data +
                          "' -l '" + log + "' -w -t 60 " + (action == "stop" ? "-m fast stop" : "start") +
                          " >/dev/null 2>&1";
        return std::system(cmd.c_str());
    }
    bool stopped = false;
    void stop() {
        REQUIRE(ctl("stop") == 0);
        stopped = true;
    }
    void start() {
        REQUIRE(ctl("start") == 0);
        stopped = false;
    }
    ~Server() {
        if (stopped) ctl("start");
    }
};

// A function of the extension, schema-qualified.
inline std::string fn(tokenledger::Client& c, const std::string& name) {
    return c.quote_ident(c.schema()) + "." + name;
}

}  // namespace tltest
