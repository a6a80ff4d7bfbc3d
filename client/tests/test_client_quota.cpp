// Client's typed quota methods against the real extension: plans,
// assignments, blocks, status, decisions (the same as QuotaGuard's),
// reservations settled by every insert path, alerts, counter upkeep and
// the error mapping.
#include <catch2/catch.hpp>
#include <thread>

#include "support.hpp"
#include "tokenledger/client.hpp"
#include "tokenledger/quota_guard.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;
using namespace tltest;

namespace {

// A plan of its own (3 requests and 1000 tokens a day) and a user on it.
struct Fixture {
    Client c;
    std::string p = unique_prefix("cq");
    std::string plan = p + "plan";
    std::string user;

    explicit Fixture(std::int64_t requests_per_day = 3) {
        QuotaPlan limits;
        limits.requests_per_day = requests_per_day;
        limits.tokens_per_day = 1000;
        user = user_on_plan(c, p, limits);
    }
    UsageEvent event(std::int64_t tokens = 10) { return tltest::event_of(user, "cq-test-model", tokens); }
    long long holds() { return tltest::count_holds(c, user); }
    const QuotaLimitStatus* limit(const QuotaStatus& s, const std::string& name) {
        for (auto& l : s.limits)
            if (l.limit_name == name) return &l;
        return nullptr;
    }
};

}  // namespace

TEST_CASE("quota_plan_set stores every limit and returns the plan as stored", "[client][quota]") {
    Client c;
    QuotaPlan qp;
    qp.plan = unique_prefix("cq-plan").substr(0, 60);
    qp.requests_per_minute = 5;
    qp.requests_per_hour = 50;
    qp.requests_per_day = 3;
    qp.tokens_per_day = 1000;
    qp.cost_per_day = Usd::parse("0.5");
    qp.cost_per_month = Usd::parse("10.000000001");
    qp.alert_thresholds = {80, 50, 80};
    qp.timezone = "Europe/Berlin";
    auto before = std::chrono::system_clock::now() - 1s;
    auto out = c.quota_plan_set(qp);
    CHECK(out.plan == qp.plan);
    CHECK(out.requests_per_minute == 5);
    CHECK(out.requests_per_hour == 50);
    CHECK(out.requests_per_day == 3);
    CHECK_FALSE(out.tokens_per_minute);
    CHECK(out.tokens_per_day == 1000);
    CHECK_FALSE(out.tokens_per_month);
    CHECK(out.cost_per_day == Usd::from_nano(500000000));
    CHECK(out.cost_per_month == Usd::from_nano(10000000001));
    CHECK(out.alert_thresholds == std::vector<std::int32_t>{50, 80});  // sorted, distinct
    CHECK(out.timezone == std::optional<std::string>("Europe/Berlin"));
    REQUIRE(out.updated_at);
    CHECK(*out.updated_at >= before);

    // Replacing the plan: what is not given becomes unlimited.
    QuotaPlan smaller;
    smaller.plan = qp.plan;
    smaller.requests_per_day = 1;
    auto again = c.quota_plan_set(smaller);
    CHECK(again.requests_per_day == 1);
    CHECK_FALSE(again.cost_per_day);
    CHECK(again.alert_thresholds == std::vector<std::int32_t>{50, 80, 100});
    CHECK_FALSE(again.timezone);

    QuotaPlan bad = smaller;
    bad.plan = "bad name!";
    expect_sqlstate([&] { c.quota_plan_set(bad); }, "22023");
    bad = smaller;
    bad.requests_per_hour = -1;
    expect_sqlstate([&] { c.quota_plan_set(bad); }, "22023");
    bad = smaller;
    bad.cost_per_day = Usd::from_nano(-1);
    CHECK_THROWS_AS(c.quota_plan_set(bad), InvalidInput);
    bad = smaller;
    bad.timezone = "Mars/Olympus";
    expect_sqlstate([&] { c.quota_plan_set(bad); }, "22023");
    bad = smaller;
    bad.alert_thresholds = {0};
    CHECK_THROWS_AS(c.quota_plan_set(bad), InvalidInput);
}

TEST_CASE("quota_assign stores overrides in base units - errors name the problem", "[client][quota]") {
    Fixture fx;
    auto u = fx.c.quota_assign(fx.user, fx.plan, R"({"tokens_per_day": 7, "cost_per_day": 2.5})");
    CHECK(u.user_id == fx.user);
    CHECK(u.plan == fx.plan);
    CHECK(u.overrides == R"({"tokens_per_day": 7, "cost_per_day_nano_usd": 2500000000})");
    CHECK_FALSE(u.blocked);
    CHECK_FALSE(u.block_reason);
    CHECK_FALSE(u.blocked_at);
    CHECK(u.assigned_at <= std::chrono::system_clock::now());

    auto s = fx.c.quota_status(fx.user);
    auto* tokens = fx.limit(s, "tokens_per_day");
    REQUIRE(tokens);
    CHECK(tokens->limit == 7);
    auto* cost = fx.limit(s, "cost_per_day");
    REQUIRE(cost);
    CHECK(cost->unit == "usd");
    CHECK(cost->limit == 2500000000);  // nano-USD

    expect_sqlstate([&] { fx.c.quota_assign(fx.user, fx.p + "no-such-plan"); }, "42704");
    CHECK_THROWS_AS(fx.c.quota_assign(fx.user, fx.p + "no-such-plan"), ServerError);
    expect_sqlstate([&] { fx.c.quota_assign(fx.user, fx.plan, R"({"tokens_per_week": 1})"); }, "22023");
    expect_sqlstate([&] { fx.c.quota_assign(fx.user, fx.plan, "[]"); }, "22023");
    expect_sqlstate([&] { fx.c.quota_assign("", fx.plan); }, "22004");
}

TEST_CASE("quota_status: used, reserved, limit and remaining per limit - no limits, no rows", "[client][quota]") {
    Fixture fx;
    fx.c.insert(fx.event(10));
    fx.c.insert(fx.event(15));
    auto s = fx.c.quota_status(fx.user);
    CHECK(s.plan == fx.plan);
    CHECK_FALSE(s.blocked);
    CHECK_FALSE(s.block_reason);
    REQUIRE(s.limits.size() == 2);
    auto* req = fx.limit(s, "requests_per_day");
    REQUIRE(req);
    CHECK(req->unit == "requests");
    CHECK(req->window_kind == "day");
    CHECK(req->used == 2);
    CHECK(req->reserved == 0);
    CHECK(req->limit == 3);
    CHECK(req->remaining == 1);
    REQUIRE(req->resets_at);
    CHECK(*req->resets_at - req->window_start == 24h);
    auto* tok = fx.limit(s, "tokens_per_day");
    REQUIRE(tok);
    CHECK(tok->used == 25);
    CHECK(tok->remaining == 975);

    auto unlimited = fx.p + "unlimited-user";
    fx.c.quota_assign(unlimited, "unlimited");
    auto u = fx.c.quota_status(unlimited);
    CHECK(u.plan == "unlimited");
    CHECK(u.limits.empty());

    expect_sqlstate([&] { fx.c.quota_status(""); }, "22004");
}

TEST_CASE("quota_check decides like QuotaGuard - and denies once the ledger reaches the limit", "[client][quota]") {
    Fixture fx;
    QuotaGuardOptions o;
    o.timeout = 5000ms;
    QuotaGuard guard(o);
    fx.c.insert(fx.event());
    fx.c.insert(fx.event());
    auto d = fx.c.quota_check(fx.user, 100, 0);
    auto g = guard.check(fx.user, 100, 0);
    CHECK(d.allowed);
    CHECK(d.source == QuotaSource::Database);
    CHECK(d.limit_name == g.limit_name);
    CHECK(d.limit_name == "requests_per_day");  // the one closest to binding
    CHECK(d.used == 2);
    CHECK(d.limit == 3);
    CHECK(d.remaining == g.remaining);
    CHECK(d.plan == fx.plan);
    CHECK_FALSE(d.reservation_id);

    fx.c.insert(fx.event());
    d = fx.c.quota_check(fx.user);
    CHECK_FALSE(d.allowed);
    CHECK(d.limit_name == "requests_per_day");
    CHECK(d.used == 3);
    CHECK(d.remaining == 0);
    REQUIRE(d.retry_after);
    CHECK(d.http_status() == 429);
    g = guard.check(fx.user);
    CHECK(d.limit_name == g.limit_name);
    CHECK(d.used == g.used);
    CHECK(d.resets_at == g.resets_at);
    CHECK_THROWS_AS(d.throw_if_denied(), QuotaDenied);

    // Too many tokens for what is left of the day.
    Fixture big(100);
    auto t = big.c.quota_check(big.user, 1001);
    CHECK_FALSE(t.allowed);
    CHECK(t.limit_name == "tokens_per_day");

    expect_sqlstate([&] { fx.c.quota_check(fx.user, -1); }, "22023");
    expect_sqlstate([&] { fx.c.quota_check(""); }, "22004");
    expect_sqlstate([&] { fx.c.quota_check(fx.user, 0, -1); }, "22023");
}

TEST_CASE("quota_reserve holds the estimate until quota_release", "[client][quota]") {
    Fixture fx;
    auto before = std::chrono::system_clock::now();
    auto d = fx.c.quota_reserve(fx.user, 300, 0, 60s);
    CHECK(d.allowed);
    REQUIRE(d.reservation_id);
    REQUIRE(d.expires_at);
    CHECK(*d.expires_at >= before + 59s);
    CHECK(*d.expires_at <= std::chrono::system_clock::now() + 61s);
    auto s = fx.c.quota_status(fx.user);
    CHECK(fx.limit(s, "requests_per_day")->reserved == 1);
    CHECK(fx.limit(s, "tokens_per_day")->reserved == 300);
    CHECK(fx.limit(s, "tokens_per_day")->remaining == 700);
    CHECK(fx.c.quota_release(*d.reservation_id));
    CHECK_FALSE(fx.c.quota_release(*d.reservation_id));
    CHECK(fx.holds() == 0);

    // Holds count against the cap: the fourth reservation of a 3-a-day plan is denied.
    for (int i = 0; i < 3; ++i) CHECK(fx.c.quota_reserve(fx.user).allowed);
    auto denied = fx.c.quota_reserve(fx.user);
    CHECK_FALSE(denied.allowed);
    CHECK_FALSE(denied.reservation_id);
    CHECK(denied.reserved == 3);
    expect_sqlstate([&] { fx.c.quota_reserve(fx.user, -5); }, "22023");
}

TEST_CASE("a reservation is settled by every insert path - another user's hold is InvalidInput", "[client][quota]") {
    Fixture fx(100);
    auto settle = [&](const std::function<void(UsageEvent&)>& record) {
        auto d = fx.c.quota_reserve(fx.user, 50);
        REQUIRE(d.reservation_id);
        auto ev = fx.event(7);
        ev.reservation_id = d.reservation_id;
        record(ev);
        CHECK(fx.holds() == 0);
        CHECK_FALSE(fx.c.quota_release(*d.reservation_id));  // already settled
    };
    settle([&](UsageEvent& ev) { CHECK(fx.c.insert(ev)); });
    settle([&](UsageEvent& ev) {
        auto id = *ev.reservation_id;
        ev.reservation_id.reset();
        CHECK(fx.c.insert(ev, id));  // the overload
    });
    settle([&](UsageEvent& ev) {
        ev.provider = "openai";
        CHECK(fx.c.insert_usage(ev, R"({"prompt_tokens": 7})", std::string("openai_chat")));
    });
    settle([&](UsageEvent& ev) { CHECK(fx.c.insert_batch({fx.event(1), ev}).size() == 2); });
    settle([&](UsageEvent& ev) { CHECK(fx.c.insert_batch_arrays({ev, fx.event(1)}).size() == 2); });
    auto s = fx.c.quota_status(fx.user);
    CHECK(fx.limit(s, "requests_per_day")->used == 7);
    CHECK(fx.limit(s, "tokens_per_day")->used == 5 * 7 + 2);
    CHECK(fx.limit(s, "requests_per_day")->reserved == 0);

    Fixture other;
    auto theirs = other.c.quota_reserve(other.user);
    REQUIRE(theirs.reservation_id);
    auto ev = fx.event();
    ev.reservation_id = theirs.reservation_id;
    expect_sqlstate([&] { fx.c.insert(ev); }, "22023");
    CHECK_THROWS_AS(fx.c.insert_batch_arrays({ev}), InvalidInput);
    CHECK(other.holds() == 1);  // nothing was settled
}

TEST_CASE("quota_block denies everything with the reason - quota_unblock lifts it", "[client][quota]") {
    Fixture fx;
    fx.c.quota_block(fx.user, "chargeback, \"under review\"");
    auto d = fx.c.quota_check(fx.user);
    CHECK_FALSE(d.allowed);
    CHECK(d.blocked);
    CHECK(d.block_reason == "chargeback, \"under review\"");
    CHECK(d.http_status() == 403);
    auto s = fx.c.quota_status(fx.user);
    CHECK(s.blocked);
    CHECK(s.block_reason == std::optional<std::string>("chargeback, \"under review\""));
    CHECK(fx.c.quota_unblock(fx.user));
    CHECK_FALSE(fx.c.quota_unblock(fx.user));
    CHECK(fx.c.quota_check(fx.user).allowed);
    expect_sqlstate([&] { fx.c.quota_block(fx.user, " "); }, "22004");
    // A user never seen before is pinned to the default plan and blocked.
    auto stranger = fx.p + "stranger";
    fx.c.quota_block(stranger, "spam");
    CHECK(fx.c.quota_status(stranger).plan == fx.c.quota_default_plan());
    CHECK(fx.c.quota_unblock(stranger));
}

TEST_CASE("quota_alerts lists the thresholds a reservation noticed", "[client][quota]") {
    Client c;
    auto p = unique_prefix("cq-alerts");
    QuotaPlan qp;
    qp.requests_per_day = 4;
    qp.cost_per_day = Usd::parse("1");
    qp.alert_thresholds = {50};
    auto user = user_on_plan(c, p, qp);
    auto since = std::chrono::system_clock::now() - 2s;
    auto e = tltest::event_of(user, "cq-test-model");
    c.insert(e);
    c.insert(e);
    CHECK(c.quota_reserve(user).allowed);  // notices 2 of 4 requests: 50 %

    std::vector<QuotaAlert> mine;
    for (auto& a : c.quota_alerts(since))
        if (a.user_id == user) mine.push_back(a);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].alert_id > 0);
    CHECK(mine[0].plan == p + "plan");
    CHECK(mine[0].limit_name == "requests_per_day");
    CHECK(mine[0].threshold_pct == 50);
    CHECK(mine[0].used == 2);
    CHECK(mine[0].limit == 4);
    CHECK(mine[0].unit == "requests");
    CHECK(mine[0].created_at >= since);
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(mine[0].window_start.time_since_epoch()).count();
    CHECK(secs % 86400 == 0);  // the UTC day

    // The defaults cover all time; a period before the alert has none of it.
    bool in_all = false;
    for (auto& a : c.quota_alerts()) in_all = in_all || a.alert_id == mine[0].alert_id;
    CHECK(in_all);
    for (auto& a : c.quota_alerts({}, since)) CHECK(a.alert_id != mine[0].alert_id);
}

TEST_CASE("quota_limit_kinds and quota_default_plan", "[client][quota]") {
    Client c;
    auto kinds = c.quota_limit_kinds();
    REQUIRE(kinds.size() == 8);
    CHECK(kinds[0].limit_name == "requests_per_minute");
    CHECK(kinds[0].sliding);
    CHECK(kinds[0].window_kind == "minute");
    CHECK(kinds[7].limit_name == "cost_per_month");
    CHECK(kinds[7].plan_column == "cost_per_month_nano_usd");
    CHECK(kinds[7].unit == "usd");
    CHECK_FALSE(kinds[7].sliding);

    CHECK(c.quota_default_plan() == "beta");
    c.query("SET tokenledger.default_plan = 'unlimited'");
    CHECK(c.quota_default_plan() == "unlimited");
}

TEST_CASE("quota_sweep_reservations deletes expired holds only", "[client][quota]") {
    Fixture fx(100);
    fx.c.quota_sweep_reservations();
    auto kept = fx.c.quota_reserve(fx.user, 1, 0, 300s);
    fx.c.quota_reserve(fx.user, 1, 0, 1s);
    fx.c.quota_reserve(fx.user, 1, 0, 1s);
    std::this_thread::sleep_for(1500ms);
    CHECK(fx.c.quota_sweep_reservations() >= 2);
    CHECK(fx.holds() == 1);
    CHECK(fx.c.quota_release(*kept.reservation_id));
    CHECK(fx.c.quota_sweep_reservations() == 0);
}

TEST_CASE("quota_prune_counters drops only buckets no window reads", "[client][quota]") {
    Fixture fx;
    fx.c.quota_prune_counters();
    auto now = std::chrono::system_clock::now();
    auto recent = fx.event(1);
    recent.occurred_at = now - 3h;  // its minute bucket is past the 2-hour horizon
    auto old = fx.event(2);
    old.occurred_at = now - 24h * 40;  // all three buckets are past theirs
    fx.c.insert(recent);
    fx.c.insert(old);
    CHECK(fx.c.quota_prune_counters() == 4);
    CHECK(fx.c.quota_prune_counters() == 0);
    auto t = fx.c.query("SELECT grain FROM " + fn(fx.c, "quota_usage_counters") + " WHERE user_id = $1 ORDER BY 1",
                        {fx.user});
    REQUIRE(t.rows.size() == 2);  // the recent event's hour and day
    CHECK(*t.rows[0][0] == "d");
    CHECK(*t.rows[1][0] == "h");
}

TEST_CASE("quota_rebuild_counters repairs counters from the ledger", "[client][quota]") {
    Fixture fx;
    fx.c.insert(fx.event(10));
    fx.c.query("UPDATE " + fn(fx.c, "quota_usage_counters") + " SET requests = 99, tokens = 99 WHERE user_id = $1",
               {fx.user});
    CHECK(fx.limit(fx.c.quota_status(fx.user), "requests_per_day")->used == 99);
    auto written = fx.c.quota_rebuild_counters();
    auto all = fx.c.query("SELECT count(*) FROM " + fn(fx.c, "quota_usage_counters"));
    CHECK(written == std::stoll(*all.rows[0][0]));
    auto s = fx.c.quota_status(fx.user);
    CHECK(fx.limit(s, "requests_per_day")->used == 1);
    CHECK(fx.limit(s, "tokens_per_day")->used == 10);
}

TEST_CASE("quota_counters_flush writes a transaction's counters before commit", "[client][quota]") {
    Fixture fx;
    fx.c.query("BEGIN");
    fx.c.insert(fx.event(4));
    fx.c.insert(fx.event(5));
    CHECK(fx.c.quota_counters_flush() == 2);
    auto t = fx.c.query(
        "SELECT tokens FROM " + fn(fx.c, "quota_usage_counters") + " WHERE user_id = $1 AND grain = 'd'", {fx.user});
    REQUIRE(t.rows.size() == 1);
    CHECK(*t.rows[0][0] == "9");
    CHECK(fx.c.quota_counters_flush() == 0);
    fx.c.query("COMMIT");
    CHECK(fx.limit(fx.c.quota_status(fx.user), "tokens_per_day")->used == 9);
}

TEST_CASE("a writer checks and reserves but may not manage plans", "[client][quota]") {
    tltest::TempRole role("tokenledger_writer");
    Fixture fx;
    {
        Client w(role.conninfo());
        CHECK(w.quota_check(fx.user).allowed);
        auto d = w.quota_reserve(fx.user);
        REQUIRE(d.reservation_id);
        CHECK(w.quota_status(fx.user).plan == fx.plan);
        CHECK(w.quota_release(*d.reservation_id));
        QuotaPlan qp;
        qp.plan = fx.plan;
        expect_sqlstate([&] { w.quota_plan_set(qp); }, "42501");
        CHECK_THROWS_AS(w.quota_block(fx.user, "x"), ServerError);
        CHECK_THROWS_AS(w.quota_alerts(), ServerError);
        CHECK_THROWS_AS(w.quota_sweep_reservations(), ServerError);
    }
}
