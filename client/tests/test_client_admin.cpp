// Client's typed maintenance methods against the real extension: rollups,
// maintenance, partitions, retention and request-id pruning (in a database
// of their own: they reach the whole ledger), pg_cron scheduling and
// erasure, with the error mapping.
#include <algorithm>
#include <catch2/catch.hpp>

#include "support.hpp"
#include "tokenledger/client.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;
using namespace tltest;

namespace {

// 00:00 UTC on the first of a month.
TimePoint utc(int y, unsigned m, unsigned d) {
    // days_from_civil (Howard Hinnant's algorithm): no time zone involved.
    int yy = y - (m <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    unsigned yoe = static_cast<unsigned>(yy - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return TimePoint(std::chrono::hours(24LL * (era * 146097 + static_cast<int>(doe) - 719468)));
}

std::int64_t watermark(Client& c) {
    return std::stoll(*c.query("SELECT watermark FROM " + fn(c, "usage_rollup_state")).rows[0][0]);
}

}  // namespace

TEST_CASE("usage_rollup folds committed events - not inside a transaction", "[client][admin]") {
    Client c;
    UsageEvent e;
    e.user_id = unique_prefix("ca-rollup") + "u";
    e.model = "gpt-4o";
    auto id = c.insert(e);
    REQUIRE(id);
    c.usage_rollup();
    CHECK(watermark(c) >= *id);
    auto id2 = c.insert(e);
    c.usage_rollup(1000);  // the same, in batches of 1000 ids
    CHECK(watermark(c) >= *id2);
    expect_sqlstate([&] { c.usage_rollup(0); }, "22023");
    c.query("BEGIN");
    expect_sqlstate([&] { c.usage_rollup(); }, "2D000");  // it commits as it goes
    c.query("ROLLBACK");
    c.usage_rollup();  // usable afterwards
}

TEST_CASE("maintenance and partitions: create, list, drop past retention, prune request ids", "[client][admin]") {
    tltest::ScratchDb db("ca_partitions");
    Client c(db.conninfo());
    CHECK(c.usage_partitions().size() == 1);  // only the default partition
    UsageEvent now_ev;
    now_ev.user_id = "maint";
    now_ev.model = "gpt-4o";
    c.insert(now_ev);

    c.usage_maintenance(1);
    auto parts = c.usage_partitions();
    REQUIRE(parts.size() >= 3);  // this month, the next, and the default
    CHECK(parts.back().is_default);
    CHECK(parts.back().name == "usage_log_default");
    CHECK_FALSE(parts.back().range_from);
    auto now = std::chrono::system_clock::now();
    CHECK(*parts[0].range_from <= now);
    CHECK(*parts[0].range_to > now);
    CHECK(*parts[1].range_from == *parts[0].range_to);
    CHECK(watermark(c) >= 1);  // maintenance rolled up first

    // A partition long ago, empty; and an old event that lands in the default partition.
    CHECK(c.usage_create_partition(utc(2001, 3, 15)) == std::optional<std::string>("usage_log_p20010301"));
    CHECK_FALSE(c.usage_create_partition(utc(2001, 3, 20)));  // already covered
    UsageEvent old = now_ev;
    old.occurred_at = utc(2002, 5, 10);
    old.request_id = "ca-old-request";
    c.insert(old);
    auto created = c.usage_create_partitions(0);
    CHECK(created == std::vector<std::string>{"usage_log_p20020501"});  // the stray moved in
    bool found = false;
    for (auto& p : c.usage_partitions()) {
        if (p.name != "usage_log_p20010301") continue;
        found = true;
        CHECK(p.range_from == utc(2001, 3, 1));
        CHECK(p.range_to == utc(2001, 4, 1));
        CHECK_FALSE(p.is_default);
    }
    CHECK(found);
    CHECK(*c.query("SELECT count(*) FROM usage_log_p20020501").rows[0][0] == "1");

    // Past the 90-day retention: the empty partition goes; the one holding
    // an event not rolled up yet stays until the rollup has it.
    CHECK(c.usage_drop_old_partitions() == std::vector<std::string>{"usage_log_p20010301"});
    c.usage_rollup();
    CHECK(c.usage_drop_old_partitions() == std::vector<std::string>{"usage_log_p20020501"});
    CHECK(c.usage_drop_old_partitions().empty());

    // The old event's idempotency key is past the retention too.
    CHECK(c.usage_prune_request_ids() == 1);
    CHECK(c.usage_prune_request_ids() == 0);

    expect_sqlstate([&] { c.usage_create_partitions(-1); }, "22023");
}

TEST_CASE("usage_schedule creates the pg_cron jobs - usage_unschedule removes them", "[client][admin]") {
    Client c;
    bool had_cron = !c.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").rows.empty();
    if (!had_cron) {
        try {
            c.usage_schedule();
            FAIL("scheduled without pg_cron");
        } catch (const ServerError& e) {
            CHECK(e.sqlstate() == "0A000");
            CHECK(e.hint().find("pg_cron") != std::string::npos);
        }
        c.query("CREATE EXTENSION pg_cron");
    }
    auto db = *c.query("SELECT current_database()").rows[0][0];
    auto jobs = c.usage_schedule("0 4 1 1 *", "0 5 1 1 *");  // rarely: the jobs must not run during the tests
    REQUIRE(jobs.size() == 2);
    CHECK(jobs[0].jobname == "tokenledger-rollup-" + db);
    CHECK(jobs[0].schedule == "0 4 1 1 *");
    CHECK(jobs[0].command == "CALL " + c.schema() + ".usage_rollup()");  // %I quotes only when needed
    CHECK(jobs[0].jobid > 0);
    CHECK(jobs[1].jobname == "tokenledger-maintenance-" + db);
    CHECK(jobs[1].schedule == "0 5 1 1 *");
    auto again = c.usage_schedule("0 6 1 1 *", "0 5 1 1 *");  // upserted by name
    CHECK(again[0].jobid == jobs[0].jobid);
    CHECK(again[0].schedule == "0 6 1 1 *");
    auto off = c.usage_unschedule();
    std::sort(off.begin(), off.end());
    CHECK(off == std::vector<std::string>{"tokenledger-maintenance-" + db, "tokenledger-rollup-" + db});
    CHECK(c.usage_unschedule().empty());
    CHECK_THROWS_AS(c.usage_schedule("* * * * *", std::string()), Error);
    if (!had_cron) c.query("DROP EXTENSION pg_cron");
}

TEST_CASE("usage_forget_user moves a user's rows to an anonymous subject, totals kept", "[client][admin]") {
    Client c;
    auto p = unique_prefix("ca-forget");
    auto user = p + "u", anon = p + "anon";
    auto day = tltest::unique_day(c);
    auto e = event_of(user, "gpt-4o", 11);
    e.occurred_at = day + 1h;
    c.insert(e);
    c.insert(e);
    c.quota_assign(user, "unlimited");

    auto res = c.usage_forget_user(user, anon);
    auto rows = [&](const std::string& object) {
        for (auto& r : res)
            if (r.object == object) return r.rows_changed;
        return std::int64_t(-1);
    };
    CHECK(rows("usage_log") == 2);
    CHECK(rows("quota_users") == 1);
    CHECK(rows("quota_reservations") == 0);
    for (auto& r : res) CHECK(r.reassigned_to == anon);
    CHECK(c.usage_user_summary(user, day, day + 24h).usage.requests == 0);
    auto moved = c.usage_user_summary(anon, day, day + 24h);
    CHECK(moved.usage.requests == 2);
    CHECK(moved.usage.tokens.input_tokens == 22);
    CHECK(c.usage_user_history(user).empty());

    auto fresh = c.usage_forget_user(anon);  // no subject given: a random one
    REQUIRE_FALSE(fresh.empty());
    CHECK(fresh[0].reassigned_to.rfind("forgotten:", 0) == 0);
    expect_sqlstate([&] { c.usage_forget_user(""); }, "22004");
    expect_sqlstate([&] { c.usage_forget_user(user, user); }, "22023");
}

TEST_CASE("a writer may not run maintenance", "[client][admin]") {
    tltest::TempRole role("tokenledger_writer");
    {
        Client w(role.conninfo());
        expect_sqlstate([&] { w.usage_rollup(); }, "42501");
        CHECK_THROWS_AS(w.usage_partitions(), ServerError);
        CHECK_THROWS_AS(w.usage_forget_user("someone"), ServerError);
        CHECK_THROWS_AS(w.usage_prune_request_ids(), ServerError);
    }
}
