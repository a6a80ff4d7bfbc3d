// Client::insert_batch_arrays (usage_log_insert_batch) and the Recorder's
// choice of send method.
#include <libpq-fe.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "support.hpp"
#include "tokenledger/recorder.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;
using tltest::count_rows;
using tltest::unique_prefix;

namespace {

std::vector<UsageEvent> sample(const std::string& p, std::size_t n) {
    std::vector<UsageEvent> evs(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto& e = evs[i];
        e.user_id = p + std::to_string(i % 3);
        e.model = i % 2 ? "gpt-4o" : "claude-sonnet-4-5";
        e.provider = i % 2 ? "openai" : "anthropic";
        e.input_tokens = 100 + static_cast<std::int64_t>(i);
        e.output_tokens = 7;
        e.cache_read_tokens = static_cast<std::int64_t>(i % 4);
        e.reasoning_tokens = static_cast<std::int64_t>(i % 2);
        e.request_id = p + "r" + std::to_string(i);
        e.occurred_at = std::chrono::system_clock::now() - std::chrono::minutes(i);
        if (i % 3 == 0) e.latency_ms = static_cast<std::int32_t>(200 + i);
    }
    return evs;
}

// Every stored column of a user's rows except the ids, as one text per row.
std::vector<std::string> stored(Client& c, const std::string& user) {
    auto t = c.query("SELECT (to_jsonb(l) - '{event_id,user_id,request_id}'::text[])::text FROM " +
                         c.quote_ident(c.schema()) + ".usage_log l WHERE user_id = $1 ORDER BY occurred_at",
                     {user});
    std::vector<std::string> rows;
    for (auto& r : t.rows) rows.push_back(*r[0]);
    return rows;
}

}  // namespace

TEST_CASE("insert_batch_arrays records a batch in one statement - ids in input order, retries count once",
          "[client][batch]") {
    Client c;
    auto p = unique_prefix("arrays");
    auto evs = sample(p, 40);
    evs[5].request_id = evs[4].request_id;  // a repeat within the batch records once
    auto ids = c.insert_batch_arrays(evs);
    REQUIRE(ids.size() == 40);
    for (auto& id : ids) CHECK(id.has_value());
    CHECK(ids[5] == ids[4]);
    for (std::size_t i = 1; i < ids.size(); ++i)
        if (i != 5) CHECK(*ids[i] > *ids[i - 1]);  // drawn in input order
    CHECK(count_rows(c, p) == 39);
    auto again = c.insert_batch_arrays(evs);
    CHECK(again == ids);
    CHECK(count_rows(c, p) == 39);
    // The pipeline path sees the same request ids as already recorded.
    CHECK(c.insert_batch(evs) == ids);
    CHECK(count_rows(c, p) == 39);
    CHECK(c.insert_batch_arrays({}).empty());
}

TEST_CASE("insert_batch_arrays stores exactly what the pipeline path stores - awkward text included",
          "[client][batch]") {
    Client c;
    auto p = unique_prefix("arrays-same");
    auto a = sample(p + "a", 12), b = sample(p + "b", 12);
    const char* awkward[] = {"", "NULL", "with \"quotes\"", "back\\slash", "{braces},commas", "tab\there", "ünïcødé"};
    for (std::size_t i = 0; i < a.size(); ++i) {
        for (auto* v : {&a, &b}) {
            auto& e = (*v)[i];
            e.user_id = (v == &a ? p + "a" : p + "b");
            e.session_id = std::string(awkward[i % 7]) + "s";
            e.message_id = awkward[(i + 1) % 7];
            e.endpoint = std::string("ep ") + awkward[(i + 2) % 7];
            e.error_type = i % 2 ? std::optional<std::string>(awkward[(i + 3) % 7]) : std::nullopt;
            e.success = i % 5 != 0;
            e.metadata = R"({"note": "a \"quoted\" \\ value", "n": )" + std::to_string(i) + "}";
            e.service_tier = i % 4 == 0 ? "batch" : "standard";
            e.request_type = i % 6 == 0 ? "embedding" : "chat";
        }
        b[i].occurred_at = a[i].occurred_at;
        b[i].request_id = *a[i].request_id + "-b";
    }
    c.insert_batch(a);
    c.insert_batch_arrays(b);
    auto ra = stored(c, p + "a"), rb = stored(c, p + "b");
    REQUIRE(ra.size() == 12);
    CHECK(ra == rb);
    auto t = c.query("SELECT session_id, message_id FROM " + c.quote_ident(c.schema()) +
                         ".usage_log WHERE user_id = $1 AND request_id = $2",
                     {p + "b", *b[2].request_id + ""});
    REQUIRE(t.rows.size() == 1);
    CHECK(*t.rows[0][0] == "with \"quotes\"s");
    CHECK(*t.rows[0][1] == "back\\slash");
}

TEST_CASE("insert_batch_arrays is all or nothing - the error names the bad element", "[client][batch]") {
    Client c;
    auto p = unique_prefix("arrays-bad");
    auto evs = sample(p, 5);
    evs[3].output_tokens = -1;
    try {
        c.insert_batch_arrays(evs);
        FAIL("a negative token count was accepted");
    } catch (const InvalidInput& e) {
        CHECK(e.sqlstate() == "22023");
        CHECK(std::string(e.what()).find("element 4 of the batch: output_tokens must not be negative") !=
              std::string::npos);
        CHECK_FALSE(e.hint().empty());
    }
    CHECK(count_rows(c, p) == 0);
    evs[3].output_tokens = 1;
    CHECK(c.insert_batch_arrays(evs).size() == 5);  // the connection is usable afterwards
    CHECK(count_rows(c, p) == 5);
}

TEST_CASE("the Recorder delivers with either send method - and falls back to the pipeline on 0.1.0",
          "[recorder][batch]") {
    auto spool = tltest::temp_path("rec-method");
    SECTION("Pipeline and BatchFunction both land every event once") {
        for (auto method : {SendMethod::Pipeline, SendMethod::BatchFunction}) {
            auto p = unique_prefix(method == SendMethod::Pipeline ? "rec-pipe" : "rec-func");
            RecorderOptions o;
            o.spool_path = spool;
            o.send_method = method;
            o.batch_size = 64;
            RecorderStats s;
            {
                Recorder r(o);
                for (int i = 0; i < 300; ++i) {
                    UsageEvent e;
                    e.user_id = p + std::to_string(i % 4);
                    e.model = "gpt-4o";
                    e.input_tokens = i;
                    r.record(std::move(e));
                }
                CHECK(r.flush(30s));
                s = r.stats();
            }
            Client c;
            CHECK(count_rows(c, p) == 300);
            CHECK(tltest::count_distinct_requests(c, p) == 300);
            CHECK(s.sent == 300);
        }
    }
    SECTION("an extension without usage_log_insert_batch gets pipelined batches") {
        Client admin;
        auto db = "tl_ct_v010_" + std::to_string(::getpid());
        admin.query("DROP DATABASE IF EXISTS " + admin.quote_ident(db));
        admin.query("CREATE DATABASE " + admin.quote_ident(db));
        {
            PGconn* pg = PQconnectdb(("dbname=" + db).c_str());
            PGresult* r = PQexec(pg, "CREATE EXTENSION tokenledger VERSION '0.1.0'");
            bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            PQfinish(pg);
            REQUIRE(ok);
        }
        auto p = unique_prefix("rec-v010");
        std::mutex mu;
        std::vector<std::string> log;
        RecorderStats s;
        {
            RecorderOptions o;
            o.conninfo = "dbname=" + db;
            o.spool_path = spool;
            o.batch_size = 20;
            o.on_error = [&](const std::string& m) {
                std::lock_guard<std::mutex> g(mu);
                log.push_back(m);
            };
            Recorder r(o);
            for (int i = 0; i < 50; ++i) {
                UsageEvent e;
                e.user_id = p + "u";
                e.model = "gpt-4o";
                e.input_tokens = i;
                r.record(std::move(e));
            }
            CHECK(r.flush(30s));
            s = r.stats();
        }
        {
            Client c("dbname=" + db);
            CHECK(count_rows(c, p) == 50);
        }
        CHECK(s.sent == 50);
        CHECK(s.spooled == 0);
        bool reported = false;
        for (auto& m : log) reported = reported || m.find("usage_log_insert_batch is missing") != std::string::npos;
        CHECK(reported);
        admin.query("DROP DATABASE " + admin.quote_ident(db));
    }
    ::unlink(spool.c_str());
}

TEST_CASE("a Recorder with several connections lands every event once - sent batches in parallel",
          "[recorder][batch]") {
    auto p = unique_prefix("rec-conns");
    auto spool = tltest::temp_path("rec-conns");
    RecorderStats s;
    {
        RecorderOptions o;
        o.spool_path = spool;
        o.connections = 3;
        o.batch_size = 25;
        o.flush_interval = 50ms;
        Recorder r(o);
        std::vector<std::thread> producers;
        for (int t = 0; t < 4; ++t)
            producers.emplace_back([&, t] {
                for (int i = 0; i < 500; ++i) {
                    UsageEvent e;
                    e.user_id = p + std::to_string(t);
                    e.model = "gpt-4o-mini";
                    e.input_tokens = i;
                    r.record(std::move(e));
                }
            });
        for (auto& th : producers) th.join();
        CHECK(r.flush(60s));
        s = r.stats();
    }
    Client c;
    CHECK(count_rows(c, p) == 2000);
    CHECK(tltest::count_distinct_requests(c, p) == 2000);
    CHECK(s.sent == 2000);
    CHECK(s.spooled == 0);
    CHECK(s.dropped == 0);
    ::unlink(spool.c_str());
}
