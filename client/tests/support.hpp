// Shared helpers for the client tests. They run against the database named
// by the PG* environment variables (make test's private cluster).
#pragma once
#include <libpq-fe.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
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

// Midnight UTC of a past day (2002-2019) that holds no events and that no
// other test has claimed in this database: tests that read platform-wide
// report totals put their events there. A random pick alone collided now
// and then across the normal and sanitizer passes, which share a database.
inline std::chrono::system_clock::time_point unique_day(tokenledger::Client& c) {
    c.query("DO $$ BEGIN CREATE TABLE IF NOT EXISTS public.tl_client_test_days (day integer PRIMARY KEY); "
            "EXCEPTION WHEN duplicate_table OR unique_violation THEN NULL; END $$");
    auto seed = static_cast<unsigned long long>(::getpid()) * 7919ULL +
                static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (int attempt = 0; attempt < 1000; ++attempt, seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) {
        long long day = 11688 + static_cast<long long>((seed >> 16) % 6500);  // days since 1970: 2002-01-01 on
        auto claimed = c.query(
            "INSERT INTO public.tl_client_test_days SELECT $1::int WHERE NOT EXISTS (SELECT 1 FROM " +
                c.quote_ident(c.schema()) + ".usage_log WHERE occurred_at >= 'epoch'::timestamptz + $1::int * interval '1 day' "
                "AND occurred_at < 'epoch'::timestamptz + ($1::int + 1) * interval '1 day') "
                "ON CONFLICT DO NOTHING RETURNING day",
            {std::to_string(day)});
        if (claimed.rows.size() == 1) return std::chrono::system_clock::time_point(std::chrono::hours(24 * day));
    }
    throw std::runtime_error("no free test day left in 2002-2019");
}

// 2000-01-01 UTC: tests price their models from here on.
inline const std::chrono::system_clock::time_point kJan2000{std::chrono::hours(24 * 10957)};

// A login role that is a member of one of the extension's roles, dropped
// again at the end (declare it before the Client that logs in with it).
struct TempRole {
    tokenledger::Client admin;
    std::string name;
    explicit TempRole(const std::string& member_of)
        : name("tl_ct_" + member_of + "_" + std::to_string(::getpid())) {
        admin.query("DROP ROLE IF EXISTS " + admin.quote_ident(name));
        admin.query("CREATE ROLE " + admin.quote_ident(name) + " LOGIN IN ROLE " + admin.quote_ident(member_of));
    }
    ~TempRole() {
        try {
            admin.query("DROP ROLE " + admin.quote_ident(name));
        } catch (...) {
        }
    }
    std::string conninfo() const { return "user=" + name; }
};

// A database of its own with the extension installed, dropped at the end:
// for tests whose effects reach the whole ledger (partitions, retention).
struct ScratchDb {
    tokenledger::Client admin;
    std::string name;
    explicit ScratchDb(const std::string& tag) : name("tl_ct_" + tag + "_" + std::to_string(::getpid())) {
        admin.query("DROP DATABASE IF EXISTS " + admin.quote_ident(name));
        admin.query("CREATE DATABASE " + admin.quote_ident(name));
        // Client insists on the extension, so it is installed with plain libpq.
        std::unique_ptr<PGconn, decltype(&PQfinish)> raw(PQconnectdb(conninfo().c_str()), &PQfinish);
        std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(raw.get(), "CREATE EXTENSION tokenledger"), &PQclear);
        REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
    }
    ~ScratchDb() {
        try {
            admin.query("DROP DATABASE " + admin.quote_ident(name) + " WITH (FORCE)");
        } catch (...) {
        }
    }
    std::string conninfo() const { return "dbname=" + name; }
};

// Runs f and checks that it throws an Error with this SQLSTATE.
template <class F>
void expect_sqlstate(F&& f, const std::string& sqlstate) {
    try {
        f();
        FAIL("no error, expected SQLSTATE " + sqlstate);
    } catch (const tokenledger::Error& e) {
        CHECK(e.sqlstate() == sqlstate);
    }
}

// A plain event of `tokens` input tokens.
inline tokenledger::UsageEvent event_of(const std::string& user, const std::string& model, std::int64_t tokens = 10) {
    tokenledger::UsageEvent e;
    e.user_id = user;
    e.model = model;
    e.input_tokens = tokens;
    return e;
}

// A function of the extension, schema-qualified.
inline std::string fn(tokenledger::Client& c, const std::string& name) {
    return c.quote_ident(c.schema()) + "." + name;
}

// A price for a provider's model from valid_from on, input and output in
// USD per million tokens (other buckets: the catalog's fallbacks).
inline tokenledger::PriceSpec price(const std::string& provider, const std::string& model,
                                    std::chrono::system_clock::time_point valid_from, const char* input,
                                    const char* output) {
    tokenledger::PriceSpec s;
    s.provider = provider;
    s.model = model;
    s.valid_from = valid_from;
    s.input_per_mtok = tokenledger::Usd::parse(input);
    s.output_per_mtok = tokenledger::Usd::parse(output);
    return s;
}

// Sets up prefix + "plan" with these limits and puts prefix + "user" on
// it, so tests never share limits; returns the user.
inline std::string user_on_plan(tokenledger::Client& c, const std::string& prefix, tokenledger::QuotaPlan limits) {
    limits.plan = prefix + "plan";
    c.quota_plan_set(limits);
    c.quota_assign(prefix + "user", limits.plan);
    return prefix + "user";
}

// The user's quota holds not yet settled, released or swept.
inline long long count_holds(tokenledger::Client& c, const std::string& user) {
    auto t = c.query("SELECT count(*) FROM " + fn(c, "quota_reservations") + " WHERE user_id = $1", {user});
    return std::stoll(*t.rows[0][0]);
}

}  // namespace tltest

// Failure messages show amounts and token buckets, not "{?}".
namespace Catch {
template <>
struct StringMaker<tokenledger::Usd> {
    static std::string convert(const tokenledger::Usd& v) { return v.str() + " USD"; }
};
template <>
struct StringMaker<tokenledger::TokenCounts> {
    static std::string convert(const tokenledger::TokenCounts& t) {
        return "{in " + std::to_string(t.input_tokens) + ", out " + std::to_string(t.output_tokens) + ", cache read " +
               std::to_string(t.cache_read_tokens) + ", cache write " + std::to_string(t.cache_write_tokens) + " + " +
               std::to_string(t.cache_write_1h_tokens) + ", reasoning " + std::to_string(t.reasoning_tokens) + "}";
    }
};
template <>
struct StringMaker<tokenledger::CostBreakdown> {
    static std::string convert(const tokenledger::CostBreakdown& c) {
        return "{in " + c.input.str() + ", out " + c.output.str() + ", cache read " + c.cache_read.str() +
               ", cache write " + c.cache_write.str() + ", reasoning " + c.reasoning.str() + ", total " +
               c.total.str() + "}";
    }
};
}  // namespace Catch
