// Client's typed pricing methods against the real extension: price_set
// and aliases priced through usage_cost to the nano-USD, the importers,
// repricing, Usd arithmetic and the error mapping.
#include <catch2/catch.hpp>

#include "support.hpp"
#include "tokenledger/client.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;
using namespace tltest;

namespace {

Usd usd(const char* s) { return Usd::parse(s); }

// A provider and model of their own, priced from 2000-01-01.
struct Priced {
    Client c;
    std::string p = unique_prefix("cp");
    std::string provider = p + "prov";
    std::string model = p + "model";

    PriceSpec spec() const {
        auto s = tltest::price(provider, model, kJan2000, "3", "15");
        s.cache_read_per_mtok = usd("0.3");
        s.cache_write_per_mtok = usd("3.75");
        s.cache_write_1h_per_mtok = usd("6");
        s.reasoning_per_mtok = usd("15");
        return s;
    }
    UsageEvent event(TimePoint at) const {
        UsageEvent e;
        e.user_id = p + "u";
        e.model = model;
        e.provider = provider;
        e.input_tokens = 1000;
        e.output_tokens = 100;
        e.cache_read_tokens = 2000;
        e.cache_write_tokens = 10;
        e.cache_write_1h_tokens = 20;
        e.reasoning_tokens = 7;
        e.occurred_at = at;
        return e;
    }
};

}  // namespace

TEST_CASE("Usd is exact: parse, print, add - never floating point", "[client][pricing]") {
    CHECK(usd("12.5").nano() == 12500000000);
    CHECK(usd("0.000000001").nano() == 1);
    CHECK(usd("-3").nano() == -3000000000);
    CHECK(usd(".5").nano() == 500000000);
    CHECK(usd("0.00012300000000000000").nano() == 123000);  // numeric's extra zeros
    CHECK(usd("0.1") + usd("0.2") == usd("0.3"));
    CHECK(usd("0.3") - usd("0.1") == usd("0.2"));
    CHECK(usd("1") < usd("1.000000001"));
    CHECK(Usd::from_nano(12500000000).str() == "12.5");
    CHECK(Usd::from_nano(-1).str() == "-0.000000001");
    CHECK(Usd().str() == "0");
    CHECK(usd("9223372036.854775807").nano() == INT64_MAX);
    expect_sqlstate([] { usd("1.0000000001"); }, "22003");
    expect_sqlstate([] { usd("9223372037"); }, "22003");
    expect_sqlstate([] { usd("abc"); }, "22P02");
    expect_sqlstate([] { usd(""); }, "22P02");
    expect_sqlstate([] { usd("1.2.3"); }, "22P02");
    CHECK_THROWS_AS(usd("1e3"), InvalidInput);
}

TEST_CASE("price_set prices events exactly through usage_cost - idempotent", "[client][pricing]") {
    Priced pr;
    auto id = pr.c.price_set(pr.spec());
    CHECK(id > 0);
    CHECK(pr.c.price_set(pr.spec()) == id);  // the same price again: the same row

    // input 1000 * 3 USD / 1e6, output 100 * 15, cache read 2000 * 0.3,
    // cache writes 10 * 3.75 + 20 * 6, reasoning 7 * 15.
    auto cost = pr.c.usage_cost(pr.event(kJan2000 + 24h));
    REQUIRE(cost);
    CHECK(cost->price_id == id);
    CHECK(cost->cost == CostBreakdown{Usd::from_nano(3000000), Usd::from_nano(1500000), Usd::from_nano(600000),
                                      Usd::from_nano(157500), Usd::from_nano(105000), Usd::from_nano(5362500)});
    CHECK(cost->request == Usd());
    CHECK(cost->cost.total.str() == "0.0053625");

    // Before valid_from the model has no price.
    CHECK_FALSE(pr.c.usage_cost(pr.event(kJan2000 - 24h)));
    UsageEvent unknown = pr.event(kJan2000 + 24h);
    unknown.model = pr.p + "no-such-model";
    CHECK_FALSE(pr.c.usage_cost(unknown));

    // A new price from 2010 on closes the first one there.
    auto later = pr.spec();
    later.valid_from = kJan2000 + 24h * 3653;
    later.input_per_mtok = usd("1.5");
    later.request = usd("0.0001");
    later.source = "test";
    auto id2 = pr.c.price_set(later);
    CHECK(id2 != id);
    auto new_cost = pr.c.usage_cost(pr.event(later.valid_from + 1h));
    REQUIRE(new_cost);
    CHECK(new_cost->price_id == id2);
    CHECK(new_cost->cost.input == Usd::from_nano(1500000));
    CHECK(new_cost->request == Usd::from_nano(100000));
    CHECK(new_cost->cost.total == Usd::from_nano(5362500 - 1500000 + 100000));
    CHECK(pr.c.usage_cost(pr.event(later.valid_from - 1h))->price_id == id);

    // A service tier is priced on its own; a context tier above a threshold.
    auto batch = pr.spec();
    batch.service_tier = "batch";
    batch.input_per_mtok = usd("1.5");
    batch.tier_threshold_tokens = 2000;
    batch.tier_input_per_mtok = usd("3");
    batch.tier_output_per_mtok = usd("30");
    pr.c.price_set(batch);
    auto ev = pr.event(kJan2000 + 24h);
    ev.service_tier = "batch";
    ev.cache_read_tokens = 0;
    ev.cache_write_tokens = 0;
    ev.cache_write_1h_tokens = 0;
    CHECK(pr.c.usage_cost(ev)->cost.input == Usd::from_nano(1500000));  // 1000 input: below the tier
    ev.input_tokens = 2001;
    auto tiered = pr.c.usage_cost(ev);
    CHECK(tiered->cost.input == Usd::from_nano(6003000));
    CHECK(tiered->cost.output == Usd::from_nano(3000000));
}

TEST_CASE("price_set rejects bad prices with InvalidInput and their SQLSTATE", "[client][pricing]") {
    Priced pr;
    auto bad = pr.spec();
    bad.input_per_mtok = usd("-1");
    expect_sqlstate([&] { pr.c.price_set(bad); }, "22023");
    bad = pr.spec();
    bad.tier_input_per_mtok = usd("1");  // no threshold
    expect_sqlstate([&] { pr.c.price_set(bad); }, "22023");
    bad = pr.spec();
    bad.service_tier = "turbo";
    expect_sqlstate([&] { pr.c.price_set(bad); }, "22023");
    bad = pr.spec();
    bad.provider = " ";
    expect_sqlstate([&] { pr.c.price_set(bad); }, "22004");
    bad = pr.spec();
    bad.input_per_mtok = usd("1000000");
    CHECK_THROWS_AS(pr.c.price_set(bad), InvalidInput);
    UsageEvent e = pr.event(kJan2000);
    e.input_tokens = -1;
    CHECK_THROWS_AS(pr.c.usage_cost(e), InvalidInput);
}

TEST_CASE("price_alias_set makes an alias cost what its target costs", "[client][pricing]") {
    Priced pr;
    pr.c.price_set(pr.spec());
    auto alias = pr.p + "latest";
    auto id = pr.c.price_alias_set(pr.provider, alias, pr.model, kJan2000, std::string("test"));
    CHECK(id > 0);
    CHECK(pr.c.price_alias_set(pr.provider, alias, pr.model, kJan2000) == id);
    auto ev = pr.event(kJan2000 + 48h);
    auto target = pr.c.usage_cost(ev);
    ev.model = alias;
    auto via_alias = pr.c.usage_cost(ev);
    REQUIRE(via_alias);
    CHECK(via_alias->cost.total == target->cost.total);
    CHECK(via_alias->price_id == target->price_id);
    expect_sqlstate([&] { pr.c.price_alias_set(pr.provider, alias, alias, kJan2000); }, "22023");
    expect_sqlstate([&] { pr.c.price_alias_set(pr.provider, "", pr.model, kJan2000); }, "22004");
}

TEST_CASE("price_import_litellm and price_import_genai_prices: inserted, then unchanged", "[client][pricing]") {
    Client c;
    auto p = unique_prefix("cp-import");
    std::string provider = p + "prov", model = p + "model";
    std::string litellm = R"({"sample_spec": {"mode": "chat"}, ")" + model + R"(": {"litellm_provider": ")" + provider +
                          R"(", "mode": "chat", "input_cost_per_token": 0.0000025,
                          "output_cost_per_token": 0.00001}, ")" +
                          p + R"(image": {"mode": "image_generation"}})";
    auto first = c.price_import_litellm(litellm, kJan2000);
    REQUIRE(first.size() == 3);
    const PriceImportRow* row = nullptr;
    for (auto& r : first)
        if (r.entry == model) row = &r;
    REQUIRE(row);
    CHECK(row->action == "inserted");
    CHECK(row->provider == provider);
    CHECK(row->model == model);
    CHECK(row->service_tier == std::optional<std::string>("standard"));
    CHECK_FALSE(row->reason);
    for (auto& r : first) {
        if (&r == row) continue;
        CHECK(r.action == "skipped");
        CHECK(r.reason);
    }
    auto second = c.price_import_litellm(litellm, kJan2000);
    for (auto& r : second)
        if (r.entry == model) CHECK(r.action == "unchanged");
    UsageEvent e;
    e.model = model;
    e.provider = provider;
    e.input_tokens = 1000000;
    e.occurred_at = kJan2000 + 1h;
    CHECK(c.usage_cost(e)->cost.total == usd("2.5"));

    std::string genai_model = p + "genai";
    std::string genai = R"([{"id": ")" + provider + R"(", "models": [{"id": ")" + genai_model +
                        R"(", "prices": {"input_mtok": 0.4, "output_mtok": 1.6}}]}])";
    auto g = c.price_import_genai_prices(genai);
    REQUIRE(g.size() == 1);
    CHECK(g[0].entry == provider + "/" + genai_model);
    CHECK(g[0].action == "inserted");
    CHECK(c.price_import_genai_prices(genai)[0].action == "unchanged");
    e.model = genai_model;
    e.occurred_at = kJan2000 + 1h;  // genai-prices without dates apply from 1970
    CHECK(c.usage_cost(e)->cost.total == usd("0.4"));

    expect_sqlstate([&] { c.price_import_litellm("[]", kJan2000); }, "22023");
    expect_sqlstate([&] { c.price_import_genai_prices(R"({"id": "openai"})"); }, "22023");
    CHECK_THROWS_AS(c.price_import_genai_prices("not json"), InvalidInput);  // 22P02
    CHECK(c.price_provider_name("gemini") == "google");
    CHECK(c.price_provider_name("x-ai") == "xai");
    CHECK(c.price_provider_name("OpenAI") == "openai");
}

TEST_CASE("usage_reprice recomputes stored costs and reports the exact delta", "[client][pricing]") {
    Priced pr;
    pr.c.price_set(pr.spec());
    auto day = tltest::unique_day(pr.c);
    pr.c.insert(pr.event(day + 1h));
    pr.c.insert(pr.event(day + 2h));
    auto before = pr.c.usage_user_summary(pr.p + "u", day, day + 24h);
    CHECK(before.usage.cost.total == Usd::from_nano(2 * 5362500));

    auto cheaper = pr.spec();
    cheaper.output_per_mtok = usd("10");  // the same valid_from: the row is updated in place
    pr.c.price_set(cheaper);
    auto r = pr.c.usage_reprice(day, day + 24h);
    CHECK(r.events_changed == 2);
    CHECK(r.cost_delta == Usd::from_nano(-2 * 500000));  // 100 output tokens, 5 USD/Mtok less, twice
    CHECK(r.cost_delta.str() == "-0.001");
    auto after = pr.c.usage_user_summary(pr.p + "u", day, day + 24h);
    CHECK(after.usage.cost.output == Usd::from_nano(2 * 1000000));
    CHECK(after.usage.cost.total == before.usage.cost.total + r.cost_delta);
    CHECK(pr.c.usage_reprice(day, day + 24h).events_changed == 0);
    expect_sqlstate([&] { pr.c.usage_reprice(day, day); }, "22023");
}

TEST_CASE("a writer may price an event but not change prices", "[client][pricing]") {
    tltest::TempRole role("tokenledger_writer");
    Priced pr;
    pr.c.price_set(pr.spec());
    {
        Client w(role.conninfo());
        CHECK(w.usage_cost(pr.event(kJan2000 + 1h))->cost.total == Usd::from_nano(5362500));
        expect_sqlstate([&] { w.price_set(pr.spec()); }, "42501");
        CHECK_THROWS_AS(w.usage_reprice(kJan2000, kJan2000 + 1h), ServerError);
        CHECK_THROWS_AS(w.price_import_genai_prices("[]"), ServerError);
    }
}
