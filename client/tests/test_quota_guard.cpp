// QuotaGuard against the real quota functions: allowed and denied
// decisions, reservations settled by Client::insert or released, the HTTP
// 429 rendering, and timeouts (a held row lock, a hung backend, a stopped
// server) under both fail policies.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "support.hpp"
#include "tokenledger/quota_guard.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;
using tltest::fn;

namespace {

// A plan of its own and a user on it, so tests never share limits.
struct Fixture {
    Client admin;
    std::string prefix = tltest::unique_prefix("guard");
    std::string plan = prefix + "plan";
    std::string user = prefix + "user";

    explicit Fixture(const std::string& limits = "requests_per_day => 2, tokens_per_day => 1000") {
        admin.query("SELECT " + fn(admin, "quota_plan_set") + "($1, " + limits + ")", {plan});
        admin.query("SELECT " + fn(admin, "quota_assign") + "($1, $2)", {user, plan});
    }
    UsageEvent event(std::int64_t tokens = 10) { return tltest::event_of(user, "guard-test-model", tokens); }
    long long holds() { return tltest::count_holds(admin, user); }
};

QuotaGuardOptions options(FailPolicy policy, std::chrono::milliseconds timeout = 300ms,
                          const std::string& conninfo = {}) {
    QuotaGuardOptions o;
    o.conninfo = conninfo;
    o.timeout = timeout;
    o.fail_policy = policy;
    return o;
}

// Seconds from now to the next UTC midnight (the plan's day limits reset then).
long long to_midnight() {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto s = std::chrono::duration_cast<std::chrono::seconds>(now).count();
    return 86400 - s % 86400;
}

// Asks until the database answers (a short timeout may expire while a
// loaded machine connects); false if it never does.
bool answered(QuotaGuard& g, const std::string& user) {
    for (int i = 0; i < 20; ++i)
        if (g.check(user).source == QuotaSource::Database) return true;
    return false;
}

template <class F>
std::chrono::milliseconds timed(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}

}  // namespace

TEST_CASE("check allows - then denies with the binding limit once the ledger reaches it", "[quota]") {
    Fixture fx;
    QuotaGuard g(options(FailPolicy::Closed, 5000ms));
    auto d = g.check(fx.user, 100);
    CHECK(d.allowed);
    CHECK(d.source == QuotaSource::Database);
    CHECK(d.plan == fx.plan);
    CHECK(d.http_status() == 200);
    CHECK(d.http_body().empty());
    CHECK(d.retry_after_header().empty());
    CHECK_NOTHROW(d.throw_if_denied());

    fx.admin.insert(fx.event());
    fx.admin.insert(fx.event());
    d = g.check(fx.user, 100);
    CHECK_FALSE(d.allowed);
    CHECK(d.source == QuotaSource::Database);
    CHECK(d.limit_name == "requests_per_day");
    CHECK(d.unit == "requests");
    CHECK(d.used == 2);
    CHECK(d.reserved == 0);
    CHECK(d.limit == 2);
    CHECK(d.remaining == 0);
    REQUIRE(d.retry_after);
    CHECK(std::abs(*d.retry_after - to_midnight()) <= 5);
    REQUIRE(d.resets_at);
    auto reset_s = std::chrono::duration_cast<std::chrono::seconds>(d.resets_at->time_since_epoch()).count();
    CHECK(reset_s % 86400 == 0);  // midnight UTC
    CHECK(d.http_status() == 429);
    CHECK(d.retry_after_header() == std::to_string(*d.retry_after));
    char midnight[32];
    std::time_t t = reset_s;
    std::strftime(midnight, sizeof midnight, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    CHECK(d.http_body() ==
          "{\"error\": {\"type\": \"quota_exceeded\", \"message\": \"quota exceeded: requests_per_day (2 of 2 "
          "requests used), retry after " + std::to_string(*d.retry_after) +
          " s\", \"limit\": \"requests_per_day\", \"unit\": \"requests\", \"used\": 2, \"reserved\": 0, "
          "\"limit_value\": 2, \"remaining\": 0, \"resets_at\": \"" + midnight + "\", \"retry_after\": " +
          std::to_string(*d.retry_after) + ", \"plan\": \"" + fx.plan + "\"}}");
    try {
        d.throw_if_denied();
        FAIL("throw_if_denied did not throw");
    } catch (const QuotaDenied& e) {
        CHECK(e.sqlstate() == "53400");
        CHECK(e.decision().limit_name == "requests_per_day");
        CHECK(e.decision().retry_after == d.retry_after);
        CHECK(std::string(e.what()).find("requests_per_day") != std::string::npos);
    }
}

TEST_CASE("cost limits are exact nano-USD and render as USD in the 429 body", "[quota]") {
    Fixture fx("cost_per_day => 0.5");
    QuotaGuard g(options(FailPolicy::Open, 5000ms));
    auto ok = g.check(fx.user, 0, 500000000);  // exactly the limit: allowed
    CHECK(ok.allowed);
    CHECK(ok.unit == "usd");
    CHECK(ok.limit == 500000000);
    auto d = g.check(fx.user, 0, 500000001);  // one nano-dollar over
    CHECK_FALSE(d.allowed);
    CHECK(d.limit_name == "cost_per_day");
    CHECK(d.remaining == 500000000);
    auto body = d.http_body();
    CHECK(body.find("\"unit\": \"usd\", \"used\": 0, \"reserved\": 0, \"limit_value\": 0.5, \"remaining\": 0.5,") !=
          std::string::npos);
}

TEST_CASE("a reservation holds its estimate - settled by Client::insert with its id - or released", "[quota]") {
    Fixture fx;
    QuotaGuard g(options(FailPolicy::Closed, 5000ms));
    auto a = g.reserve(fx.user, 100, 0, 60s);
    auto b = g.reserve(fx.user, 100);
    REQUIRE(a.allowed);
    REQUIRE(b.allowed);
    REQUIRE(a.reservation_id);
    REQUIRE(b.reservation_id);
    CHECK(*a.reservation_id != *b.reservation_id);
    REQUIRE(a.expires_at);
    auto ttl = *a.expires_at - std::chrono::system_clock::now();
    CHECK(ttl > 50s);
    CHECK(ttl <= 60s);
    CHECK(b.expires_at > a.expires_at);  // default ttl 300 s
    CHECK(b.limit_name == "requests_per_day");
    CHECK(b.reserved == 2);  // after this hold
    CHECK(b.remaining == 0);
    CHECK(fx.holds() == 2);

    // Both holds count: a third request is denied, and nothing is held for it.
    auto c = g.reserve(fx.user, 100);
    CHECK_FALSE(c.allowed);
    CHECK_FALSE(c.reservation_id);
    CHECK(c.reserved == 2);
    CHECK(c.http_status() == 429);
    CHECK(fx.holds() == 2);

    // The call was made: the recorded usage replaces the estimate.
    auto id = fx.admin.insert(fx.event(40), *a.reservation_id);
    CHECK(id);
    CHECK(fx.holds() == 1);
    // The call was not made: cancel the hold; a second release finds nothing.
    CHECK(g.release(*b.reservation_id));
    CHECK_FALSE(g.release(*b.reservation_id));
    CHECK(fx.holds() == 0);

    auto d = g.check(fx.user, 0);
    CHECK(d.allowed);
    CHECK(d.used == 1);
    CHECK(d.reserved == 0);
    // Settling a hold that is gone still records the usage.
    CHECK(fx.admin.insert(fx.event(5), *b.reservation_id));
    CHECK(g.check(fx.user).used == 2);
}

TEST_CASE("another user's reservation is invalid input and records nothing", "[quota]") {
    Fixture fx;
    QuotaGuard g(options(FailPolicy::Open, 5000ms));
    auto r = g.reserve(fx.user, 10);
    REQUIRE(r.reservation_id);
    auto ev = fx.event();
    ev.user_id = fx.prefix + "someone-else";
    CHECK_THROWS_AS(fx.admin.insert(ev, *r.reservation_id), InvalidInput);
    CHECK(tltest::count_rows(fx.admin, fx.prefix + "someone-else") == 0);
    CHECK(fx.holds() == 1);
}

TEST_CASE("a blocked user is refused with 403 and no Retry-After", "[quota]") {
    Fixture fx;
    fx.admin.query("SELECT " + fn(fx.admin, "quota_block") + "($1, $2)", {fx.user, "card declined, \"again\""});
    QuotaGuard g(options(FailPolicy::Open, 5000ms));
    auto d = g.reserve(fx.user, 1);
    CHECK_FALSE(d.allowed);
    CHECK(d.blocked);
    CHECK(d.limit_name == "blocked");
    CHECK(d.block_reason == "card declined, \"again\"");
    CHECK_FALSE(d.reservation_id);
    CHECK(d.http_status() == 403);
    CHECK(d.retry_after_header().empty());
    CHECK(d.http_body() ==
          "{\"error\": {\"type\": \"user_blocked\", \"message\": \"access blocked: card declined, \\\"again\\\"\", "
          "\"limit\": \"blocked\", \"unit\": null, \"used\": null, \"reserved\": null, \"limit_value\": null, "
          "\"remaining\": null, \"resets_at\": null, \"retry_after\": null, \"plan\": \"" + fx.plan + "\"}}");
    CHECK_THROWS_AS(d.throw_if_denied(), QuotaDenied);
}

TEST_CASE("invalid input throws InvalidInput under either policy", "[quota]") {
    for (auto policy : {FailPolicy::Open, FailPolicy::Closed}) {
        QuotaGuard g(options(policy, 5000ms));
        try {
            g.check("");
            FAIL("an empty user id was accepted");
        } catch (const InvalidInput& e) {
            CHECK(e.sqlstate() == "22004");
            CHECK_FALSE(e.hint().empty());
        }
        CHECK_THROWS_AS(g.reserve("u", -1), InvalidInput);
        CHECK_THROWS_AS(g.check("u", 0, -1), InvalidInput);
    }
    CHECK_THROWS_AS(QuotaGuard(options(FailPolicy::Open, 0ms)), InvalidInput);
}

TEST_CASE("a reservation stuck behind a row lock times out - fail-open allows - fail-closed refuses with 503",
          "[quota][timeout]") {
    Fixture fx;
    Client locker;
    locker.query("BEGIN");
    locker.query("SELECT 1 FROM " + locker.quote_ident(locker.schema()) +
                     ".quota_users WHERE user_id = $1 FOR UPDATE",
                 {fx.user});
    std::vector<std::string> errors;
    std::string app = "tl_ct_guard_lock_" + std::to_string(::getpid());
    for (auto policy : {FailPolicy::Open, FailPolicy::Closed}) {
        auto o = options(policy, 300ms, "application_name=" + app);
        o.on_error = [&](const Error& e) { errors.push_back(e.sqlstate()); };
        QuotaGuard g(o);
        QuotaDecision d;
        auto took = timed([&] { d = g.reserve(fx.user, 10); });
        CHECK(took >= 250ms);
        CHECK(took < 2000ms);  // not the lock's duration
        CHECK(d.error_sqlstate == "57014");
        CHECK_FALSE(d.reservation_id);
        if (policy == FailPolicy::Open) {
            CHECK(d.allowed);
            CHECK(d.source == QuotaSource::FailOpen);
            CHECK(d.http_status() == 200);
        } else {
            CHECK_FALSE(d.allowed);
            CHECK(d.source == QuotaSource::FailClosed);
            CHECK(d.http_status() == 503);
            CHECK(d.retry_after_header() == "5");
            CHECK(d.http_body().rfind("{\"error\": {\"type\": \"quota_unavailable\", \"message\": \"quota could not be "
                                      "checked (denied by the fail-closed policy): ",
                                      0) == 0);
        }
    }
    CHECK(errors == std::vector<std::string>{"57014", "57014"});
    // The server gives up on the waiting statements too (statement_timeout
    // or the guard's cancel request), so releasing the lock now admits
    // nothing: no hold is left behind. Polled from a connection of its own:
    // inside the locker's transaction pg_stat_activity would stay the
    // snapshot of its first read.
    Client observer;
    bool waiting = true;
    for (int i = 0; i < 100 && waiting; ++i) {
        auto t = observer.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
                                {app});
        waiting = *t.rows[0][0] != "0";
        if (waiting) std::this_thread::sleep_for(50ms);
    }
    CHECK_FALSE(waiting);
    locker.query("ROLLBACK");
    std::this_thread::sleep_for(100ms);
    CHECK(fx.holds() == 0);
    QuotaGuard g(options(FailPolicy::Closed, 5000ms));
    auto d = g.reserve(fx.user, 10);
    CHECK(d.allowed);
    CHECK(d.source == QuotaSource::Database);
}

TEST_CASE("a hung backend cannot block the caller beyond the timeout - the guard reconnects after",
          "[quota][timeout]") {
    Fixture fx;
    for (auto policy : {FailPolicy::Open, FailPolicy::Closed}) {
        std::string app = "tl_ct_guard_hung_" + std::to_string(::getpid()) +
                          (policy == FailPolicy::Open ? "_open" : "_closed");
        QuotaGuard g(options(policy, 400ms, "application_name=" + app));
        REQUIRE(answered(g, fx.user));  // connected
        Client c;
        tokenledger::Table pid;
        for (int i = 0; i < 40; ++i) {  // backends of connections dropped while connecting may linger briefly
            pid = c.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", {app});
            if (pid.rows.size() == 1) break;
            std::this_thread::sleep_for(50ms);
        }
        REQUIRE(pid.rows.size() == 1);
        int backend = std::stoi(*pid.rows[0][0]);
        // Freeze the backend: it can neither answer nor notice statement_timeout.
        REQUIRE(::kill(backend, SIGSTOP) == 0);
        std::atomic<bool> resumed{false};
        std::thread watchdog([&] {  // never leave it frozen, even if the guard hangs
            for (int i = 0; i < 200 && !resumed; ++i) std::this_thread::sleep_for(50ms);
            ::kill(backend, SIGCONT);
        });
        QuotaDecision d;
        auto took = timed([&] { d = g.check(fx.user, 1); });
        resumed = true;
        watchdog.join();
        CHECK(took < 2000ms);
        CHECK(d.source == (policy == FailPolicy::Open ? QuotaSource::FailOpen : QuotaSource::FailClosed));
        CHECK(d.allowed == (policy == FailPolicy::Open));
        CHECK(d.error_sqlstate == "57014");
        CHECK_FALSE(g.connected());  // the hung connection was dropped
        CHECK(answered(g, fx.user));  // reconnected
    }
}

TEST_CASE("a stopped server fails fast under each policy - the first call after the restart is answered",
          "[quota][fault]") {
    Fixture fx;
    tltest::Server server;
    QuotaGuard open(options(FailPolicy::Open, 3000ms));
    QuotaGuard closed(options(FailPolicy::Closed, 3000ms));
    REQUIRE(open.check(fx.user).source == QuotaSource::Database);
    REQUIRE(closed.check(fx.user).source == QuotaSource::Database);
    server.stop();
    QuotaDecision o, c, fresh;
    auto took = timed([&] {
        o = open.reserve(fx.user, 1);
        c = closed.reserve(fx.user, 1);
        QuotaGuard never_connected(options(FailPolicy::Closed, 3000ms));  // built while the server is down
        fresh = never_connected.check(fx.user, 1);
    });
    CHECK(took < 3000ms);
    CHECK(o.allowed);
    CHECK(o.source == QuotaSource::FailOpen);
    CHECK_FALSE(o.reservation_id);
    CHECK(o.error_sqlstate.substr(0, 2) == "08");
    CHECK_FALSE(c.allowed);
    CHECK(c.source == QuotaSource::FailClosed);
    CHECK(c.http_status() == 503);
    CHECK(c.retry_after_header() == "5");
    CHECK(fresh.source == QuotaSource::FailClosed);
    server.start();
    auto after = open.reserve(fx.user, 1);
    CHECK(after.source == QuotaSource::Database);
    CHECK(after.allowed);
    CHECK(after.reservation_id);
    CHECK(closed.check(fx.user).source == QuotaSource::Database);
}

TEST_CASE("a statement cancelled by statement_timeout is Timeout - the connection stays usable", "[quota][errors]") {
    Client c;
    c.query("SET statement_timeout = 50");
    try {
        c.query("SELECT pg_sleep(5)");
        FAIL("pg_sleep(5) was not cancelled");
    } catch (const Timeout& e) {
        CHECK(e.sqlstate() == "57014");
    }
    CHECK(c.connected());
    CHECK(*c.query("SELECT 1").rows[0][0] == "1");
}
