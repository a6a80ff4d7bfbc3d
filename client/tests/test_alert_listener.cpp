// AlertListener: receives alerts sent with pg_notify on the alerts channel,
// and keeps receiving them after its connection is killed.
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "support.hpp"
#include "tokenledger/alert_listener.hpp"
#include "tokenledger/quota_guard.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;

namespace {
struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Alert> alerts;
    void push(const Alert& a) {
        {
            std::lock_guard<std::mutex> g(mu);
            alerts.push_back(a);
        }
        cv.notify_all();
    }
    bool wait_for(std::size_t n, std::chrono::milliseconds d) {
        std::unique_lock<std::mutex> lk(mu);
        return cv.wait_for(lk, d, [&] { return alerts.size() >= n; });
    }
};
}  // namespace

TEST_CASE("parse_alert reads the members of a JSON payload", "[alerts]") {
    auto a = parse_alert("tokenledger_alerts", R"({"user_id": "u,1", "threshold": 80, "limit": {"n": 1}, "x": null})", 7);
    CHECK(a.parsed);
    CHECK(a.fields["user_id"] == "u,1");
    CHECK(a.fields["threshold"] == "80");
    CHECK(a.fields["limit"] == R"({"n":1})");
    CHECK(a.fields["x"] == "null");
    CHECK(a.sender_pid == 7);
    CHECK(a.user_id == "u,1");
    CHECK(a.limit_name == R"({"n":1})");
    CHECK_FALSE(a.threshold_pct);
    auto b = parse_alert("c", "not json");
    CHECK_FALSE(b.parsed);
    CHECK(b.fields.empty());
    CHECK(b.payload == "not json");
}

TEST_CASE("the listener receives an alert and reconnects after its connection is dropped", "[alerts]") {
    Inbox inbox;
    AlertListenerOptions o;
    o.channel = "tokenledger_alerts";
    o.conninfo = "application_name=tl_ct_alert_listener_" + std::to_string(::getpid());
    o.reconnect_initial = 50ms;
    AlertListener l(o, [&](const Alert& a) { inbox.push(a); });
    REQUIRE(l.wait_listening(10s));

    Client c;
    c.query("SELECT pg_notify('tokenledger_alerts', $1)", {R"({"user_id": "alice", "threshold_pct": 80})"});
    REQUIRE(inbox.wait_for(1, 10s));
    {
        std::lock_guard<std::mutex> g(inbox.mu);
        CHECK(inbox.alerts[0].channel == "tokenledger_alerts");
        CHECK(inbox.alerts[0].fields["user_id"] == "alice");
        CHECK(inbox.alerts[0].fields["threshold_pct"] == "80");
    }
    // Other channels are not delivered.
    c.query("SELECT pg_notify('some_other_channel', 'x')");

    // Kill the listener's backend; it must come back and LISTEN again.
    auto killed = c.query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                          {"tl_ct_alert_listener_" + std::to_string(::getpid())});
    CHECK(*killed.rows[0][0] == "1");
    auto until = std::chrono::steady_clock::now() + 10s;
    while (l.reconnects() < 1 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
    REQUIRE(l.reconnects() >= 1);
    REQUIRE(l.wait_listening(10s));
    c.query("SELECT pg_notify('tokenledger_alerts', $1)", {R"({"user_id": "bob"})"});
    REQUIRE(inbox.wait_for(2, 10s));
    std::lock_guard<std::mutex> g(inbox.mu);
    CHECK(inbox.alerts.size() == 2);
    CHECK(inbox.alerts[1].fields["user_id"] == "bob");
}

TEST_CASE("a threshold crossed before quota_reserve reaches the listener as a parsed alert", "[alerts][quota]") {
    Inbox inbox;
    AlertListenerOptions o;
    AlertListener l(o, [&](const Alert& a) { inbox.push(a); });
    REQUIRE(l.wait_listening(10s));

    Client c;
    auto p = tltest::unique_prefix("alert");
    std::string user = p + "user";
    c.query("SELECT " + tltest::fn(c, "quota_plan_set") + "($1, requests_per_day => 4, alert_thresholds => '{50}')",
            {p + "plan"});
    c.query("SELECT " + tltest::fn(c, "quota_assign") + "($1, $2)", {user, p + "plan"});
    for (int i = 0; i < 2; ++i) {
        UsageEvent e;
        e.user_id = user;
        e.model = "alert-test-model";
        c.insert(e);
    }
    // The next admission notices the crossing and notifies on commit.
    QuotaGuardOptions go;
    go.timeout = 5s;
    QuotaGuard g(go);
    auto d = g.reserve(user, 1);
    REQUIRE(d.source == QuotaSource::Database);
    CHECK(d.allowed);

    REQUIRE(inbox.wait_for(1, 10s));
    std::lock_guard<std::mutex> lk(inbox.mu);
    const Alert* mine = nullptr;
    for (auto& a : inbox.alerts)
        if (a.user_id == user) mine = &a;
    REQUIRE(mine);
    CHECK(mine->parsed);
    CHECK(mine->channel == "tokenledger_alerts");
    CHECK(mine->plan == p + "plan");
    CHECK(mine->limit_name == "requests_per_day");
    CHECK(mine->threshold_pct == 50);
    CHECK(mine->used == "2");
    CHECK(mine->limit_value == "4");
    CHECK(mine->unit == "requests");
    REQUIRE(mine->alert_id);
    auto logged = c.query("SELECT user_id FROM " + c.quote_ident(c.schema()) + ".quota_alert_log WHERE alert_id = $1",
                          {std::to_string(*mine->alert_id)});
    REQUIRE(logged.rows.size() == 1);
    CHECK(*logged.rows[0][0] == user);
}
