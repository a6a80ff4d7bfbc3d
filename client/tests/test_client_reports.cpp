// Client's typed report methods against the real extension: known events
// on a day of their own, priced by a price of their own, give exact
// figures, costs to the nano-USD, before and after a rollup.
#include <catch2/catch.hpp>

#include "support.hpp"
#include "tokenledger/client.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;
using namespace tltest;

namespace {

Usd nano(std::int64_t n) { return Usd::from_nano(n); }

// Four events on one day: two of u1 (one failed) in one session, two of
// u2, one of them of a model without a price and without endpoint or
// provider. Prices (USD per million tokens): input 2, output 8, cache read
// 0.5, cache write 2.5, 1-hour cache write 4, reasoning 10.
struct Day {
    Client c;
    std::string p = unique_prefix("rep");
    TimePoint day = tltest::unique_day(c);
    std::string u1 = p + "u1", u2 = p + "u2", model = p + "model", free_model = p + "free-model";
    std::string provider = p + "prov", session = p + "session";
    std::int32_t price_id = 0;
    std::int64_t id[4] = {};
    TimePoint at[4] = {day + 70min, day + 100min, day + 125min, day + 150min};

    Day() {
        auto ps = tltest::price(provider, model, kJan2000, "2", "8");
        ps.cache_read_per_mtok = Usd::parse("0.5");
        ps.cache_write_per_mtok = Usd::parse("2.5");
        ps.cache_write_1h_per_mtok = Usd::parse("4");
        ps.reasoning_per_mtok = Usd::parse("10");
        price_id = c.price_set(ps);

        UsageEvent e[4];
        for (int i = 0; i < 4; ++i) {
            e[i].model = model;
            e[i].provider = provider;
            e[i].occurred_at = at[i];
            e[i].request_id = p + "r" + std::to_string(i);
        }
        e[0].user_id = u1;
        e[0].endpoint = "chat";
        e[0].input_tokens = 1000;
        e[0].output_tokens = 200;
        e[0].cache_read_tokens = 400;
        e[0].cache_write_tokens = 100;
        e[0].cache_write_1h_tokens = 50;
        e[0].reasoning_tokens = 30;
        e[0].latency_ms = 100;
        e[0].session_id = session;
        e[0].metadata = R"({"k": 1})";
        e[1].user_id = u1;
        e[1].endpoint = "embed";
        e[1].input_tokens = 500;
        e[1].latency_ms = 300;
        e[1].success = false;
        e[1].error_type = "timeout";
        e[1].session_id = session;
        e[2].user_id = u2;
        e[2].endpoint = "chat";
        e[2].input_tokens = 3000;
        e[2].output_tokens = 1000;
        e[3].user_id = u2;
        e[3].model = free_model;
        e[3].provider.reset();
        e[3].input_tokens = 10;
        e[3].output_tokens = 5;
        e[3].latency_ms = 50;
        for (int i = 0; i < 4; ++i) id[i] = *c.insert(e[i]);
    }

    // The server's own percentile of a set of latencies (the histogram the
    // reports use), to compare the typed values with.
    std::int64_t quantile(const std::string& latencies, double q) {
        auto t = c.query("SELECT " + tltest::fn(c, "usage_hist_quantile") + "((SELECT " +
                             tltest::fn(c, "usage_latency_hist") + "(x) FROM unnest($1::int[]) x), $2)",
                         {latencies, std::to_string(q)});
        return std::stoll(*t.rows[0][0]);
    }
};

// u1's two events: input 1500 * 2 USD / 1e6, output 200 * 8, cache read
// 400 * 0.5, cache writes 100 * 2.5 + 50 * 4, reasoning 30 * 10.
void check_u1(const UsageFigures& f) {
    CHECK(f.requests == 2);
    CHECK(f.successes == 1);
    CHECK(f.failures == 1);
    CHECK(f.success_rate == 0.5);
    CHECK(f.unpriced_requests == 0);
    CHECK(f.tokens == TokenCounts{1500, 200, 400, 100, 50, 30});
    CHECK(f.tokens.total() == 2280);
    CHECK(f.cost ==
          CostBreakdown{nano(3000000), nano(1600000), nano(200000), nano(450000), nano(300000), nano(5550000)});
    CHECK(f.cost.total.str() == "0.00555");
    CHECK(f.latency.avg_ms == 200.0);
}

}  // namespace

TEST_CASE("usage_user_summary: exact figures and costs of one user's period", "[client][reports]") {
    Day d;
    auto s = d.c.usage_user_summary(d.u1, d.day, d.day + 24h);
    CHECK(s.period.from == d.day);
    CHECK(s.period.to == d.day + 24h);
    check_u1(s.usage);
    CHECK(s.usage.latency.p50_ms == d.quantile("{100,300}", 0.5));
    CHECK(s.usage.latency.p95_ms == d.quantile("{100,300}", 0.95));
    CHECK(s.usage.latency.p99_ms == d.quantile("{100,300}", 0.99));

    SECTION("without bounds: this month, where the user has nothing") {
        auto m = d.c.usage_user_summary(d.u1);
        REQUIRE(m.period.from);
        REQUIRE(m.period.to);
        CHECK(*m.period.from <= std::chrono::system_clock::now());
        CHECK(*m.period.to > std::chrono::system_clock::now());
        CHECK(m.usage.requests == 0);
        CHECK_FALSE(m.usage.success_rate);
        CHECK(m.usage.cost.total == Usd());
        CHECK_FALSE(m.usage.latency.avg_ms);
        CHECK_FALSE(m.usage.latency.p50_ms);
    }
    SECTION("an open end: from only") {
        auto o = d.c.usage_user_summary(d.u1, d.day);
        CHECK(o.period.from == d.day);
        CHECK_FALSE(o.period.to);  // infinity
        CHECK(o.usage.requests == 2);
    }
    SECTION("an empty period is InvalidInput") {
        try {
            d.c.usage_user_summary(d.u1, d.day + 24h, d.day);
            FAIL("no error");
        } catch (const InvalidInput& e) {
            CHECK(e.sqlstate() == "22023");
            CHECK_FALSE(e.hint().empty());  // the server's hint comes along
        }
    }
}

TEST_CASE("usage_system_summary, usage_by_model/endpoint/provider over the day", "[client][reports]") {
    Day d;
    auto check_system = [&](const SystemSummary& s) {
        CHECK(s.period.from == d.day);
        CHECK(s.unique_users == 2);
        const UsageFigures& f = s.usage;
        CHECK((f.requests == 4 && f.successes == 3 && f.failures == 1 && f.unpriced_requests == 1));
        CHECK(f.success_rate == 0.75);
        CHECK(f.tokens == TokenCounts{4510, 1205, 400, 100, 50, 30});
        CHECK(f.cost ==
              CostBreakdown{nano(9000000), nano(9600000), nano(200000), nano(450000), nano(300000), nano(19550000)});
        CHECK(s.usage.latency.avg_ms == 150.0);
        CHECK(s.usage.latency.p99_ms == d.quantile("{100,300,50}", 0.99));
        CHECK(s.days == 1);
        CHECK(s.avg_requests_per_day == 4.0);
        CHECK(s.avg_cost_per_day == nano(19550000));
    };
    check_system(d.c.usage_system_summary(d.day, d.day + 24h));

    auto models = d.c.usage_by_model(d.day, d.day + 24h);
    REQUIRE(models.size() == 2);
    CHECK(models[0].name == d.model);  // costliest first
    CHECK(models[0].usage.requests == 3);
    CHECK(models[0].usage.cost.total == nano(19550000));
    CHECK(models[0].cost_share == 1.0);
    CHECK(models[1].name == d.free_model);
    CHECK(models[1].usage.unpriced_requests == 1);
    CHECK(models[1].usage.cost.total == Usd());
    CHECK(models[1].usage.latency.p50_ms == d.quantile("{50}", 0.5));

    auto endpoints = d.c.usage_by_endpoint(d.day, d.day + 24h);
    REQUIRE(endpoints.size() == 3);
    CHECK(endpoints[0].name == std::optional<std::string>("chat"));
    CHECK(endpoints[0].usage.requests == 2);
    CHECK(endpoints[0].usage.cost.total == nano(18550000));
    CHECK(endpoints[0].cost_share == 0.9488);
    CHECK(endpoints[1].name == std::optional<std::string>("embed"));
    CHECK(endpoints[1].usage.failures == 1);
    CHECK(endpoints[1].cost_share == 0.0512);
    CHECK_FALSE(endpoints[2].name);  // events without an endpoint
    CHECK(endpoints[2].usage.requests == 1);

    auto providers = d.c.usage_by_provider(d.day, d.day + 24h);
    REQUIRE(providers.size() == 2);
    CHECK(providers[0].name == d.provider);
    CHECK(providers[0].usage.requests == 3);
    CHECK_FALSE(providers[1].name);

    // The rollups answer the same, to the nano-USD.
    d.c.usage_rollup();
    check_system(d.c.usage_system_summary(d.day, d.day + 24h));
    CHECK(d.c.usage_by_model(d.day, d.day + 24h)[0].usage.cost.total == nano(19550000));
}

TEST_CASE("usage_top_users ranks by cost, tokens or requests and pages", "[client][reports]") {
    Day d;
    auto by_cost = d.c.usage_top_users(d.day, d.day + 24h);
    REQUIRE(by_cost.size() == 2);
    CHECK(by_cost[0].rank == 1);
    CHECK(by_cost[0].user_id == d.u2);
    CHECK(by_cost[0].usage.requests == 2);
    CHECK(by_cost[0].usage.failures == 0);
    CHECK(by_cost[0].usage.unpriced_requests == 1);
    CHECK(by_cost[0].usage.total_tokens == 4015);
    CHECK(by_cost[0].usage.total_cost == nano(14000000));
    CHECK(by_cost[1].user_id == d.u1);
    CHECK(by_cost[1].usage.failures == 1);
    CHECK(by_cost[1].usage.total_cost == nano(5550000));

    auto by_tokens = d.c.usage_top_users(d.day, d.day + 24h, 10, UserRanking::Tokens);
    CHECK(by_tokens[0].user_id == d.u2);
    // A tie in requests ranks by user id; the second page starts at rank 2.
    auto page = d.c.usage_top_users(d.day, d.day + 24h, 1, UserRanking::Requests, 1);
    REQUIRE(page.size() == 1);
    CHECK(page[0].rank == 2);
    CHECK(page[0].user_id == d.u2);

    expect_sqlstate([&] { d.c.usage_top_users(d.day, d.day + 24h, 0); }, "22023");
    CHECK_THROWS_AS(d.c.usage_top_users(d.day, d.day + 24h, 10, UserRanking::Cost, -1), InvalidInput);
}

TEST_CASE("usage_user_history returns the events as recorded, newest first, keyset-paged", "[client][reports]") {
    Day d;
    auto h = d.c.usage_user_history(d.u1);
    REQUIRE(h.size() == 2);
    CHECK(h[0].event_id == d.id[1]);
    const LedgerEvent& e = h[1];
    CHECK(e.event_id == d.id[0]);
    CHECK(e.event.occurred_at == d.at[0]);
    CHECK(e.event.user_id == d.u1);
    CHECK(e.event.provider == d.provider);
    CHECK(e.event.model == d.model);
    CHECK(e.event.endpoint == std::optional<std::string>("chat"));
    CHECK(e.event.request_type == "chat");
    CHECK(e.event.service_tier == "standard");
    CHECK(e.event.session_id == d.session);
    CHECK(e.event.request_id == d.p + "r0");
    CHECK(e.event.success);
    CHECK(e.event.latency_ms == 100);
    CHECK(e.event.input_tokens == 1000);
    CHECK(e.event.cache_write_1h_tokens == 50);
    CHECK(e.event.reasoning_tokens == 30);
    CHECK(e.event.metadata == std::optional<std::string>(R"({"k": 1})"));
    CHECK_FALSE(e.event.reservation_id);
    REQUIRE(e.cost);
    CHECK(e.cost->input == nano(2000000));
    CHECK(e.cost->cache_write == nano(450000));
    CHECK(e.cost->total == nano(4550000));
    CHECK(e.price_id == d.price_id);
    CHECK(h[0].event.error_type == std::optional<std::string>("timeout"));
    CHECK_FALSE(h[0].event.success);

    auto first = d.c.usage_user_history(d.u1, 1);
    REQUIRE(first.size() == 1);
    auto next = d.c.usage_user_history(d.u1, 1, first[0].event_id);
    REQUIRE(next.size() == 1);
    CHECK(next[0].event_id == d.id[0]);
    CHECK(d.c.usage_user_history(d.u1, 1, next[0].event_id).empty());

    auto unpriced = d.c.usage_user_history(d.u2, 1);
    REQUIRE(unpriced.size() == 1);
    CHECK(unpriced[0].event.model == d.free_model);
    CHECK_FALSE(unpriced[0].event.provider);
    CHECK_FALSE(unpriced[0].cost);
    CHECK_FALSE(unpriced[0].price_id);

    CHECK_THROWS_AS(d.c.usage_user_history(d.u1, 0), InvalidInput);
    expect_sqlstate([&] { d.c.usage_user_history(d.u1, 10, d.id[2]); }, "22023");  // u2's event
}

TEST_CASE("usage_session_summary totals one session - an unknown one is empty", "[client][reports]") {
    Day d;
    auto s = d.c.usage_session_summary(d.session);
    CHECK(s.user_ids == std::vector<std::string>{d.u1});
    CHECK(s.first_at == d.at[0]);
    CHECK(s.last_at == d.at[1]);
    check_u1(s.usage);
    CHECK_FALSE(s.usage.latency.p50_ms);  // the session summary has no percentiles

    auto none = d.c.usage_session_summary(d.p + "no-such-session");
    CHECK(none.user_ids.empty());
    CHECK_FALSE(none.first_at);
    CHECK(none.usage.requests == 0);
    CHECK(none.usage.cost.total == Usd());
}

TEST_CASE("usage_timeseries is zero-filled, filtered, and bucketed as asked", "[client][reports]") {
    Day d;
    SeriesFilter only_u1;
    only_u1.user_id = d.u1;
    auto hours = d.c.usage_timeseries(TimeBucket::Hour, d.day, d.day + 3h, only_u1);
    REQUIRE(hours.size() == 3);
    CHECK(hours[0].bucket_start == d.day);
    CHECK(hours[0].usage.requests == 0);
    CHECK_FALSE(hours[0].avg_latency_ms);
    CHECK(hours[1].bucket_start == d.day + 1h);
    CHECK(hours[1].usage.requests == 2);
    CHECK(hours[1].usage.failures == 1);
    CHECK(hours[1].usage.total_tokens == 2280);
    CHECK(hours[1].usage.total_cost == nano(5550000));
    CHECK(hours[1].avg_latency_ms == 200.0);
    CHECK(hours[2].usage.requests == 0);

    auto day = d.c.usage_timeseries(TimeBucket::Day, d.day, d.day + 24h);
    REQUIRE(day.size() == 1);
    CHECK(day[0].usage.requests == 4);
    CHECK(day[0].usage.unpriced_requests == 1);
    CHECK(day[0].usage.total_cost == nano(19550000));
    CHECK(day[0].avg_latency_ms == 150.0);

    SeriesFilter chat;
    chat.model = d.model;
    chat.endpoint = "chat";
    auto c = d.c.usage_timeseries(TimeBucket::Day, d.day, d.day + 24h, chat);
    REQUIRE(c.size() == 1);
    CHECK(c[0].usage.requests == 2);
    CHECK(c[0].usage.total_cost == nano(18550000));

    // Whole months around the day: the first bucket holds the day.
    auto months = d.c.usage_timeseries(TimeBucket::Month, d.day, d.day + 1h, only_u1);
    REQUIRE(months.size() == 1);
    CHECK(months[0].bucket_start <= d.day);
    CHECK(months[0].usage.requests == 2);

    CHECK(d.c.usage_timeseries().size() >= 30);  // the last 30 days by default

    expect_sqlstate([&] { d.c.usage_timeseries(TimeBucket::Day, d.day, d.day); }, "22023");
    CHECK_THROWS_AS(d.c.usage_timeseries(TimeBucket::Hour, d.day, d.day + 24h * 500), ServerError);  // 54000
}

// The totals are platform-wide, so the test counts what three new events
// (recorded now, by two new users) add to each period.
TEST_CASE("usage_totals: all time, this month and today each count new events exactly", "[client][reports]") {
    Client c;
    auto p = unique_prefix("rep-totals");
    c.price_set(price(p + "prov", p + "model", kJan2000, "2", "8"));
    auto before = c.usage_totals();
    auto e = event_of(p + "u1", p + "model", 1000);
    e.provider = p + "prov";
    e.output_tokens = 100;  // 1000 * 2 + 100 * 8 USD / 1e6
    c.insert(e);
    e.user_id = p + "u2";
    e.input_tokens = 500;  // 500 * 2 + 100 * 8
    e.success = false;
    c.insert(e);
    c.insert(event_of(p + "u2", p + "unpriced-model", 10));
    auto after = c.usage_totals();

    REQUIRE(after.size() == 3);
    CHECK(after[0].period == "all_time");
    CHECK(after[1].period == "this_month");
    CHECK(after[2].period == "today");
    CHECK_FALSE(after[0].bounds.from);  // -infinity
    CHECK_FALSE(after[0].bounds.to);
    auto now = std::chrono::system_clock::now();
    REQUIRE(after[2].bounds.from);
    CHECK(*after[2].bounds.from <= now);
    CHECK(*after[2].bounds.to > now);
    CHECK(*after[1].bounds.from <= *after[2].bounds.from);
    for (std::size_t i = 0; i < 3; ++i) {
        if (after[i].bounds.from != before[i].bounds.from) continue;  // midnight passed meanwhile
        CHECK(after[i].usage.requests - before[i].usage.requests == 3);
        CHECK(after[i].usage.failures - before[i].usage.failures == 1);
        CHECK(after[i].unique_users - before[i].unique_users == 2);
        CHECK(after[i].usage.unpriced_requests - before[i].usage.unpriced_requests == 1);
        CHECK(after[i].usage.total_tokens - before[i].usage.total_tokens == 1710);
        CHECK(after[i].usage.total_cost - before[i].usage.total_cost == nano(4600000));
    }
    CHECK(after[0].usage.requests >= after[1].usage.requests);
    CHECK(after[1].usage.requests >= after[2].usage.requests);
}

TEST_CASE("a reader sees their own summary and history - admin reports are refused", "[client][reports]") {
    tltest::TempRole role("tokenledger_reader");
    Client admin;
    auto day = tltest::unique_day(admin);
    auto e = event_of(role.name, "gpt-4o", 42);  // readers see rows whose user_id is their role name
    e.occurred_at = day + 5h;
    auto id = admin.insert(e);
    {
        Client reader(role.conninfo());
        auto s = reader.usage_user_summary(role.name, day, day + 24h);
        CHECK(s.usage.requests == 1);
        CHECK(s.usage.tokens.input_tokens == 42);
        auto h = reader.usage_user_history(role.name);
        REQUIRE_FALSE(h.empty());
        CHECK(h.back().event_id == id);
        expect_sqlstate([&] { reader.usage_top_users(day, day + 24h); }, "42501");
        CHECK_THROWS_AS(reader.usage_top_users(day, day + 24h), ServerError);
        CHECK_THROWS_AS(reader.usage_system_summary(), ServerError);
        CHECK_THROWS_AS(reader.usage_totals(), ServerError);
    }
}
