// Client against the real extension: every typed method, the error types
// and their SQLSTATEs, prepared statements surviving reuse, RAII.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <memory>

#include "support.hpp"
#include "tokenledger/client.hpp"

using namespace tokenledger;
using tltest::unique_prefix;

TEST_CASE("insert records an event and returns its id", "[client]") {
    Client c;
    auto p = unique_prefix("insert");
    UsageEvent ev;
    ev.user_id = p + "u1";
    ev.model = "gpt-4o";
    ev.provider = "openai";
    ev.endpoint = "chat";
    ev.input_tokens = 1200;
    ev.output_tokens = 300;
    ev.cache_read_tokens = 7;
    ev.reasoning_tokens = 11;
    ev.latency_ms = 842;
    ev.session_id = "s-1";
    ev.metadata = R"({"team": "search"})";
    ev.service_tier = "flex";
    ev.occurred_at = std::chrono::system_clock::now() - std::chrono::hours(1);
    auto id = c.insert(ev);
    REQUIRE(id.has_value());
    auto t = c.query("SELECT user_id, model, provider, endpoint, input_tokens, output_tokens, cache_read_tokens, "
                     "reasoning_tokens, total_tokens, latency_ms, session_id, metadata->>'team', service_tier, "
                     "success, now() - occurred_at BETWEEN interval '59 min' AND interval '61 min' FROM " +
                         c.quote_ident(c.schema()) + ".usage_events WHERE event_id = $1",
                     {std::to_string(*id)});
    REQUIRE(t.rows.size() == 1);
    auto& r = t.rows[0];
    CHECK(*r[0] == p + "u1");
    CHECK(*r[1] == "gpt-4o");
    CHECK(*r[2] == "openai");
    CHECK(*r[3] == "chat");
    CHECK(*r[4] == "1200");
    CHECK(*r[5] == "300");
    CHECK(*r[6] == "7");
    CHECK(*r[7] == "11");
    CHECK(*r[8] == "1518");
    CHECK(*r[9] == "842");
    CHECK(*r[10] == "s-1");
    CHECK(*r[11] == "search");
    CHECK(*r[12] == "flex");
    CHECK(*r[13] == "t");
    CHECK(*r[14] == "t");
}

TEST_CASE("a repeated request id returns the original event id and records nothing", "[client]") {
    Client c;
    auto p = unique_prefix("dedup");
    UsageEvent ev;
    ev.user_id = p + "u";
    ev.model = "claude-sonnet-4";
    ev.input_tokens = 5;
    ev.request_id = p + "req";
    auto a = c.insert(ev);
    ev.input_tokens = 999;  // a retry with different numbers must not count again
    auto b = c.insert(ev);
    REQUIRE(a.has_value());
    CHECK(a == b);
    CHECK(tltest::count_rows(c, p) == 1);
}

TEST_CASE("invalid input throws InvalidInput with the SQLSTATE and a hint - and records nothing", "[client]") {
    Client c;
    auto p = unique_prefix("invalid");
    UsageEvent ev;
    ev.user_id = p + "u";
    ev.model = "gpt-4o";

    SECTION("negative tokens") {
        ev.input_tokens = -1;
        try {
            c.insert(ev);
            FAIL("no exception");
        } catch (const InvalidInput& e) {
            CHECK(e.sqlstate().substr(0, 2) == "22");
            CHECK_FALSE(e.hint().empty());
        }
    }
    SECTION("empty model") {
        ev.model = "";
        CHECK_THROWS_AS(c.insert(ev), InvalidInput);
    }
    SECTION("unknown service tier") {
        ev.service_tier = "turbo";
        CHECK_THROWS_AS(c.insert(ev), InvalidInput);
    }
    SECTION("metadata that is not an object") {
        ev.metadata = "[1,2]";
        CHECK_THROWS_AS(c.insert(ev), InvalidInput);
    }
    SECTION("far future occurred_at") {
        ev.occurred_at = std::chrono::system_clock::now() + std::chrono::hours(24 * 30);
        try {
            c.insert(ev);
            FAIL("no exception");
        } catch (const InvalidInput& e) {
            CHECK(e.sqlstate() == "22008");
        }
    }
    CHECK(tltest::count_rows(c, p) == 0);
    // The connection is still usable after an error.
    ev = UsageEvent{};
    ev.user_id = p + "ok";
    ev.model = "gpt-4o";
    CHECK(c.insert(ev).has_value());
}

TEST_CASE("the kill switch makes insert return no id", "[client]") {
    Client c;
    auto p = unique_prefix("killswitch");
    c.query("SET tokenledger.enabled = off");
    UsageEvent ev;
    ev.user_id = p + "u";
    ev.model = "gpt-4o";
    CHECK_FALSE(c.insert(ev).has_value());
    c.query("RESET tokenledger.enabled");
    CHECK(c.insert(ev).has_value());
    CHECK(tltest::count_rows(c, p) == 1);
}

TEST_CASE("normalize maps each provider's usage object through the extension", "[client]") {
    Client c;
    SECTION("OpenAI chat: cached and reasoning tokens split out") {
        auto b = c.normalize(R"({"prompt_tokens": 1000, "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 400}, "completion_tokens_details": {"reasoning_tokens": 100}})");
        CHECK(b.detected_format == "openai_chat");
        CHECK(b.input_tokens == 600);
        CHECK(b.cache_read_tokens == 400);
        CHECK(b.output_tokens == 200);
        CHECK(b.reasoning_tokens == 100);
        CHECK(b.total() == 1300);
    }
    SECTION("Anthropic: input excludes cache reads and writes") {
        auto b = c.normalize(R"({"input_tokens": 50, "output_tokens": 20, "cache_read_input_tokens": 900,
            "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 40}})",
                             std::string("anthropic"));
        CHECK(b.detected_format == "anthropic");
        CHECK(b.input_tokens == 50);
        CHECK(b.cache_read_tokens == 900);
        CHECK(b.cache_write_tokens == 30);
        CHECK(b.cache_write_1h_tokens == 40);
        CHECK(b.output_tokens == 20);
    }
    SECTION("Gemini: cached content inside the prompt count, thoughts separate") {
        auto b = c.normalize(R"({"promptTokenCount": 800, "candidatesTokenCount": 90,
            "cachedContentTokenCount": 300, "thoughtsTokenCount": 55})");
        CHECK(b.detected_format == "gemini");
        CHECK(b.input_tokens == 500);
        CHECK(b.cache_read_tokens == 300);
        CHECK(b.output_tokens == 90);
        CHECK(b.reasoning_tokens == 55);
    }
    SECTION("malformed usage is InvalidInput") {
        CHECK_THROWS_AS(c.normalize(R"({"prompt_tokens": -3})"), InvalidInput);
        CHECK_THROWS_AS(c.normalize(R"({"nothing": 1})"), InvalidInput);
        CHECK_THROWS_AS(c.normalize("[]"), InvalidInput);
    }
}

TEST_CASE("from_openai / from_anthropic / from_gemini build events via the normaliser", "[client]") {
    Client c;
    auto p = unique_prefix("helpers");
    auto o = from_openai(c, p + "o", "gpt-4o", R"({"prompt_tokens": 10, "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 4}})");
    CHECK(o.provider == std::optional<std::string>("openai"));
    CHECK(o.input_tokens == 6);
    CHECK(o.cache_read_tokens == 4);
    auto a = from_anthropic(c, p + "a", "claude", R"({"input_tokens": 3, "output_tokens": 2,
        "cache_creation_input_tokens": 8})");
    CHECK(a.cache_write_tokens == 8);
    auto g = from_gemini(c, p + "g", "gemini-2.5-pro", R"({"promptTokenCount": 9, "candidatesTokenCount": 1})");
    CHECK(g.input_tokens == 9);
    for (auto* ev : {&o, &a, &g}) CHECK(c.insert(*ev).has_value());
    CHECK(tltest::count_rows(c, p) == 3);
}

TEST_CASE("insert_usage records from the raw usage object", "[client]") {
    Client c;
    auto p = unique_prefix("insert-usage");
    UsageEvent ev;
    ev.user_id = p + "u";
    ev.model = "gpt-5";
    ev.provider = "openai";
    ev.request_id = p + "r1";
    auto id = c.insert_usage(ev, R"({"input_tokens": 100, "output_tokens": 40,
        "input_tokens_details": {"cached_tokens": 60}, "output_tokens_details": {"reasoning_tokens": 30}})");
    REQUIRE(id.has_value());
    auto t = c.query("SELECT input_tokens, cache_read_tokens, output_tokens, reasoning_tokens FROM " +
                         c.quote_ident(c.schema()) + ".usage_log WHERE event_id = $1",
                     {std::to_string(*id)});
    REQUIRE(t.rows.size() == 1);
    CHECK(*t.rows[0][0] == "40");
    CHECK(*t.rows[0][1] == "60");
    CHECK(*t.rows[0][2] == "10");
    CHECK(*t.rows[0][3] == "30");
    CHECK(c.insert_usage(ev, R"({"input_tokens": 1, "output_tokens": 1})") == id);
    CHECK_THROWS_AS(c.insert_usage(ev, R"({"input_tokens": "many"})", std::string("openai_responses")),
                    InvalidInput);
}

TEST_CASE("insert_batch records all events in one transaction - or none", "[client]") {
    Client c;
    auto p = unique_prefix("batch");
    std::vector<UsageEvent> evs(50);
    for (size_t i = 0; i < evs.size(); ++i) {
        evs[i].user_id = p + std::to_string(i % 5);
        evs[i].model = "gpt-4o-mini";
        evs[i].input_tokens = static_cast<int64_t>(i);
        evs[i].request_id = p + "r" + std::to_string(i);
    }
    auto ids = c.insert_batch(evs);
    REQUIRE(ids.size() == 50);
    for (auto& id : ids) CHECK(id.has_value());
    CHECK(tltest::count_rows(c, p) == 50);
    // Resending the same batch counts nothing twice and returns the same ids.
    auto again = c.insert_batch(evs);
    CHECK(again == ids);
    CHECK(tltest::count_rows(c, p) == 50);

    auto q = unique_prefix("batch-bad");
    std::vector<UsageEvent> bad(3);
    for (auto& e : bad) {
        e.user_id = q + "u";
        e.model = "m";
    }
    bad[1].output_tokens = -5;
    CHECK_THROWS_AS(c.insert_batch(bad), InvalidInput);
    CHECK(tltest::count_rows(c, q) == 0);
    CHECK(c.insert_batch({}).empty());
    CHECK(c.insert(bad[0]).has_value());  // usable afterwards
}

TEST_CASE("connection problems are NotConnected - a missing extension is ServerError", "[client]") {
    try {
        Client bad(tltest::unreachable_conninfo());
        FAIL("connected to nothing");
    } catch (const NotConnected& e) {
        CHECK(e.sqlstate() == "08001");
    }
    Client admin;
    auto db = "tl_ct_noext_" + std::to_string(::getpid());
    admin.query("DROP DATABASE IF EXISTS " + admin.quote_ident(db));
    admin.query("CREATE DATABASE " + admin.quote_ident(db));
    try {
        Client c("dbname=" + db);
        FAIL("no error without the extension");
    } catch (const ServerError& e) {
        CHECK(e.sqlstate() == "42704");
    }
    admin.query("DROP DATABASE " + admin.quote_ident(db));

    // A connection killed by the server: NotConnected, then reconnect works.
    Client victim;
    auto pid = victim.query("SELECT pg_backend_pid()").rows[0][0];
    admin.query("SELECT pg_terminate_backend($1::int)", {pid});
    UsageEvent ev;
    ev.user_id = unique_prefix("killed") + "u";
    ev.model = "m";
    CHECK_THROWS_AS(victim.insert(ev), NotConnected);
    CHECK_FALSE(victim.connected());
    CHECK_THROWS_AS(victim.insert(ev), NotConnected);
    victim.reconnect();
    CHECK(victim.insert(ev).has_value());
}

TEST_CASE("a writer role may insert but not read - permission errors are ServerError", "[client]") {
    Client admin;
    auto role = "tl_ct_writer_" + std::to_string(::getpid());
    admin.query("DROP ROLE IF EXISTS " + admin.quote_ident(role));
    admin.query("CREATE ROLE " + admin.quote_ident(role) + " LOGIN IN ROLE tokenledger_writer");
    {
        Client w("user=" + role);
        auto p = unique_prefix("writer");
        UsageEvent ev;
        ev.user_id = p + "u";
        ev.model = "m";
        CHECK(w.insert(ev).has_value());
        try {
            w.query("SELECT count(*) FROM " + w.quote_ident(w.schema()) + ".usage_log");
            FAIL("writer read the ledger");
        } catch (const ServerError& e) {
            CHECK(e.sqlstate() == "42501");
        }
    }
    admin.query("DROP ROLE " + admin.quote_ident(role));
}

TEST_CASE("the extension installed in its own schema is found and used", "[client]") {
    Client admin;
    auto db = "tl_ct_schema_" + std::to_string(::getpid());
    admin.query("DROP DATABASE IF EXISTS " + admin.quote_ident(db));
    admin.query("CREATE DATABASE " + admin.quote_ident(db));
    {
        // The Client insists on the extension, so set it up with plain libpq.
        std::unique_ptr<PGconn, decltype(&PQfinish)> raw(PQconnectdb(("dbname=" + db).c_str()), &PQfinish);
        REQUIRE(PQstatus(raw.get()) == CONNECTION_OK);
        std::unique_ptr<PGresult, decltype(&PQclear)> r(
            PQexec(raw.get(), "CREATE SCHEMA \"Led ger\"; CREATE EXTENSION tokenledger SCHEMA \"Led ger\""),
            &PQclear);
        REQUIRE(PQresultStatus(r.get()) == PGRES_COMMAND_OK);
    }
    {
        Client c("dbname=" + db);
        CHECK(c.schema() == "Led ger");
        UsageEvent ev;
        ev.user_id = "u";
        ev.model = "m";
        CHECK(c.insert(ev).has_value());
        CHECK(c.normalize(R"({"prompt_tokens": 3})").input_tokens == 3);
        CHECK(*c.query("SELECT count(*) FROM \"Led ger\".usage_log").rows[0][0] == "1");
    }
    admin.query("DROP DATABASE " + admin.quote_ident(db));
}

TEST_CASE("a large insert_batch does not deadlock on full socket buffers", "[client]") {
    Client c;
    auto p = unique_prefix("bigbatch");
    std::vector<UsageEvent> evs(5000);
    for (size_t i = 0; i < evs.size(); ++i) {
        evs[i].user_id = p + "u";
        evs[i].model = "m";
        evs[i].metadata = R"({"pad": ")" + std::string(200, 'x') + "\"}";
    }
    auto ids = c.insert_batch(evs);
    CHECK(ids.size() == 5000);
    CHECK(tltest::count_rows(c, p) == 5000);
}

TEST_CASE("connections show up as application_name tokenledger unless the app names them", "[client]") {
    Client a;
    CHECK(*a.query("SHOW application_name").rows[0][0] == "tokenledger");
    Client b("application_name=my-app");
    CHECK(*b.query("SHOW application_name").rows[0][0] == "my-app");
    Client u("postgresql:///" + tltest::env("PGDATABASE") + "?application_name=uri-app");
    CHECK(*u.query("SHOW application_name").rows[0][0] == "uri-app");
}
