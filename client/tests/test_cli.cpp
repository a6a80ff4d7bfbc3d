// The CLI against the real extension: golden outputs (including CSV quoting
// of awkward user ids), exit codes, --help on every command.
#include <libpq-fe.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "support.hpp"

using tltest::fn;

namespace {

struct Run {
    int status;
    std::string out;
};

std::string shell_quote(const std::string& s) {
    std::string o = "'";
    for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return o + "'";
}

Run cli(const std::vector<std::string>& args) {
    std::string cmd = TL_CLI_PATH;
    for (auto& a : args) cmd += " " + shell_quote(a);
    cmd += " 2>/dev/null";
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f);
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    int st = ::pclose(f);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string golden(const std::string& name) {
    std::ifstream in(std::string(TL_GOLDEN_DIR) + "/" + name, std::ios::binary);
    REQUIRE(in);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Rows on a day no other test uses, with fixed request ids, so re-running
// the test inserts nothing new.
void seed() {
    tokenledger::Client c;
    const char* users[] = {"plain", "comma, inside", "say \"hi\"", "two\nlines", "ünïcødé"};
    for (int i = 0; i < 5; ++i) {
        tokenledger::UsageEvent e;
        e.user_id = users[i];
        e.model = i % 2 ? "golden-model-b" : "golden-model-a";  // in no price catalog
        e.provider = i % 2 ? "anthropic" : "openai";
        e.endpoint = "golden";
        e.input_tokens = 100 * (i + 1);
        e.output_tokens = 10 * (i + 1);
        e.cache_read_tokens = i;
        e.request_id = "cli-golden-" + std::to_string(i);
        e.occurred_at = std::chrono::system_clock::time_point(std::chrono::seconds(1614816000 + 60 * i));
        if (i == 3) {
            e.success = false;
            e.error_type = "rate_limit";
        }
        c.insert(e);
    }
}

// Two chat sessions on 2021-03-06 (outside the export goldens' day).
void seed_sessions() {
    tokenledger::Client c;
    const char* users[] = {"plain", "say \"hi\"", "plain"};
    for (int i = 0; i < 3; ++i) {
        tokenledger::UsageEvent e;
        e.user_id = users[i];
        e.model = "golden-model-a";
        e.provider = "openai";
        e.endpoint = "golden";
        e.session_id = "golden, session";
        e.input_tokens = 1000 + i;
        e.output_tokens = 100;
        e.latency_ms = 200 * (i + 1);
        e.request_id = "cli-golden-session-" + std::to_string(i);
        e.occurred_at = std::chrono::system_clock::time_point(std::chrono::seconds(1614988800 + 600 * i));
        c.insert(e);
    }
}

const std::vector<std::string> kRange = {"--from", "2021-03-04", "--to", "2021-03-05"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("export --format csv quotes awkward user ids per RFC 4180", "[cli]") {
    seed();
    auto r = cli(with({"--format", "csv", "export"}, kRange));
    CHECK(r.status == 0);
    CHECK(r.out == golden("export.csv"));
}

TEST_CASE("export --format json is valid and stable", "[cli]") {
    seed();
    auto r = cli(with({"--format", "json", "export"}, kRange));
    CHECK(r.status == 0);
    CHECK(r.out == golden("export.json"));
}

TEST_CASE("export as a table is aligned", "[cli]") {
    seed();
    auto r = cli(with({"export", "--user", "comma, inside"}, kRange));
    CHECK(r.status == 0);
    CHECK(r.out == golden("export_user.table"));
}

TEST_CASE("normalize prints the buckets", "[cli]") {
    auto r = cli({"--format=csv", "normalize",
                  R"({"prompt_tokens": 100, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 60}})"});
    CHECK(r.status == 0);
    CHECK(r.out == "input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,"
                   "reasoning_tokens,total_tokens,detected_format\r\n40,30,60,0,0,0,130,openai_chat\r\n");
}

TEST_CASE("record prints the event id - a repeated request id prints the same id", "[cli]") {
    auto p = tltest::unique_prefix("cli-record");
    auto a = cli({"--format", "csv", "record", "--user", p + "u", "--model", "gpt-4o", "--input", "12",
                  "--request-id", p + "r"});
    auto b = cli({"--format", "csv", "record", "--user", p + "u", "--model", "gpt-4o", "--input", "99",
                  "--request-id", p + "r"});
    CHECK(a.status == 0);
    CHECK(a.out.rfind("event_id\r\n", 0) == 0);
    CHECK(a.out == b.out);
    auto u = cli({"record", "--user", p + "v", "--model", "claude", "--provider", "anthropic", "--usage",
                  R"({"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 40})"});
    CHECK(u.status == 0);
    tokenledger::Client c;
    CHECK(tltest::count_rows(c, p) == 2);
}

TEST_CASE("exit codes: usage errors 2 - invalid input 2 - unreachable 3", "[cli]") {
    CHECK(cli({}).status == 2);
    CHECK(cli({"frobnicate"}).status == 2);
    CHECK(cli({"--format", "xml", "export"}).status == 2);
    CHECK(cli({"export", "--bogus", "1"}).status == 2);
    CHECK(cli({"record", "--user", "u"}).status == 2);
    CHECK(cli({"record", "--user", "u", "--model", "m", "--input", "-5"}).status == 2);
    CHECK(cli({"record", "--user", "u", "--model", "m", "--input", "lots"}).status == 2);
    CHECK(cli({"export", "--from", "not a date"}).status == 2);
    CHECK(cli({"--dsn", tltest::unreachable_conninfo(), "export"}).status == 3);
    CHECK(cli({"--dsn", tltest::unreachable_conninfo(), "report", "system"}).status == 3);
    CHECK(cli({"report"}).status == 2);                                      // no subcommand
    CHECK(cli({"report", "everything"}).status == 2);                        // unknown subcommand
    CHECK(cli({"report", "user"}).status == 2);                              // missing USER_ID
    CHECK(cli({"report", "session", "a", "b"}).status == 2);                 // one too many
    CHECK(cli({"report", "users", "--limit", "ten"}).status == 2);
    CHECK(cli({"report", "users", "--order-by", "vibes"}).status == 2);      // 22023 from the server
    CHECK(cli({"report", "timeseries", "--bucket", "fortnight"}).status == 2);
    CHECK(cli({"report", "system", "--from", "yesterday-ish"}).status == 2);
    CHECK(cli({"quota", "plan", "x", "--requests-per-day", "lots"}).status == 2);
    CHECK(cli({"quota", "plan", "--requests-per-day", "5"}).status == 2);    // no NAME
    CHECK(cli({"quota", "plan", "bad name!"}).status == 2);                  // 22023
    CHECK(cli({"quota", "block", "u"}).status == 2);                         // no --reason
    CHECK(cli({"quota", "assign", "u", "no-such-plan"}).status == 1);        // 42704: a server error
    CHECK(cli({"quota", "status", ""}).status == 2);                         // 22004
}

std::vector<std::string> words(const std::string& s) {
    std::vector<std::string> w;
    std::istringstream in(s);
    for (std::string x; in >> x;) w.push_back(x);
    return w;
}

TEST_CASE("--help works on every command without a database", "[cli]") {
    for (std::string cmd : {"export", "record", "normalize", "report users", "report user", "report system",
                            "report models", "report endpoints", "report providers", "report timeseries",
                            "report session", "report totals", "quota plan", "quota assign", "quota block",
                            "quota unblock", "quota status", "prices set", "prices import", "prices unpriced",
                            "rollup", "schedule"}) {
        auto args = with({"--dsn", tltest::unreachable_conninfo()}, words(cmd));
        args.push_back("--help");
        auto r = cli(args);
        CHECK(r.status == 0);
        CHECK(r.out.rfind("usage: tokenledger " + cmd, 0) == 0);
        CHECK(r.out.find("example: tokenledger") != std::string::npos);
    }
    for (std::string group : {"report", "quota", "prices"}) {
        auto r = cli({"--dsn", tltest::unreachable_conninfo(), group, "--help"});
        CHECK(r.status == 0);
        CHECK(r.out.rfind("usage: tokenledger " + group + " SUBCOMMAND", 0) == 0);
        CHECK(r.out.find("  " + group + " ") != std::string::npos);
    }
    auto r = cli({"--help"});
    CHECK(r.status == 0);
    CHECK(r.out.find("Commands:") != std::string::npos);
}

// ---- reports: golden outputs over the seeded day ---------------------------

TEST_CASE("report users --format csv ranks the period's users - awkward ids quoted per RFC 4180", "[cli][report]") {
    seed();
    auto r = cli(with({"--format", "csv", "report", "users", "--order-by", "tokens"}, kRange));
    CHECK(r.status == 0);
    CHECK(r.out == golden("report_users.csv"));
    // Paging: the second and third heaviest.
    auto page = cli(with({"--format", "csv", "report", "users", "--order-by", "tokens", "--limit", "2", "--offset", "1"},
                         kRange));
    CHECK(page.status == 0);
    CHECK(page.out.find("\r\n2,two\nlines,") == std::string::npos);
    CHECK(page.out.find("\r\n2,\"two\nlines\",1,1,1,443,") != std::string::npos);
    CHECK(page.out.find("\r\n3,\"say \"\"hi\"\"\",1,0,1,332,") != std::string::npos);
    CHECK(page.out.find("ünïcødé") == std::string::npos);
}

TEST_CASE("report user as an aligned table", "[cli][report]") {
    seed();
    auto r = cli(with({"report", "user", "comma, inside"}, kRange));
    CHECK(r.status == 0);
    CHECK(r.out == golden("report_user.table"));
}

TEST_CASE("report system --format json", "[cli][report]") {
    seed();
    auto r = cli(with({"--format", "json", "report", "system"}, kRange));
    CHECK(r.status == 0);
    CHECK(r.out == golden("report_system.json"));
}

TEST_CASE("report models --format csv and report endpoints as a table", "[cli][report]") {
    seed();
    auto m = cli(with({"--format", "csv", "report", "models"}, kRange));
    CHECK(m.status == 0);
    CHECK(m.out == golden("report_models.csv"));
    auto e = cli(with({"report", "endpoints"}, kRange));
    CHECK(e.status == 0);
    CHECK(e.out == golden("report_endpoints.table"));
}

TEST_CASE("report timeseries --bucket hour is zero-filled", "[cli][report]") {
    seed();
    auto r = cli({"--format", "csv", "report", "timeseries", "--bucket", "hour", "--from", "2021-03-03 23:00",
                  "--to", "2021-03-04 03:00"});
    CHECK(r.status == 0);
    CHECK(r.out == golden("report_timeseries.csv"));
    auto one = cli({"--format", "csv", "report", "timeseries", "--bucket", "day", "--from", "2021-03-04", "--to",
                    "2021-03-05", "--user", "two\nlines"});
    CHECK(one.out == "bucket_start,requests,failures,unpriced_requests,total_tokens,total_cost_usd,avg_latency_ms\r\n"
                     "2021-03-04 00:00:00+00,1,1,1,443,0.000000000,\r\n");
}

TEST_CASE("report session --format json", "[cli][report]") {
    seed_sessions();
    auto r = cli({"--format", "json", "report", "session", "golden, session"});
    CHECK(r.status == 0);
    CHECK(r.out == golden("report_session.json"));
}

TEST_CASE("report ranges accept relative forms - an event recorded now is in the last 2 hours", "[cli][report]") {
    auto p = tltest::unique_prefix("cli-relative");
    REQUIRE(cli({"record", "--user", p + "u", "--model", "gpt-4o", "--input", "7"}).status == 0);
    auto r = cli({"--format", "csv", "report", "user", p + "u", "--from", "2h"});
    CHECK(r.status == 0);
    CHECK(r.out.find("\r\n") != std::string::npos);
    auto cols = r.out.substr(r.out.find("\r\n") + 2);
    CHECK(cols.find(",1,1,0,") != std::string::npos);  // requests 1, successes 1, failures 0
    auto e = cli({"--format", "csv", "export", "--from", "1h", "--user", p + "u"});
    CHECK(std::count(e.out.begin(), e.out.end(), '\n') == 2);  // header + the event
    auto old = cli({"--format", "csv", "export", "--from", "30d", "--to", "2d", "--user", p + "u"});
    CHECK(std::count(old.out.begin(), old.out.end(), '\n') == 1);  // header only
}

// ---- quota -----------------------------------------------------------------

TEST_CASE("quota plan - assign - block - unblock - status", "[cli][quota]") {
    auto plan = cli({"--format", "json", "quota", "plan", "cli-golden-plan", "--requests-per-day", "5",
                     "--cost-per-day", "1.25", "--alert-thresholds", "50,90", "--timezone", "Europe/Berlin"});
    CHECK(plan.status == 0);
    CHECK(plan.out == golden("quota_plan.json"));
    auto list = cli({"--format", "csv", "quota", "plan"});
    CHECK(list.status == 0);
    CHECK(list.out.find("\r\ncli-golden-plan,,,5,,,,1.250000000,,\"{50,90}\",Europe/Berlin\r\n") != std::string::npos);

    auto p = tltest::unique_prefix("cli-quota");
    std::string user = p + "awk, \"user\"";
    auto a = cli({"--format", "csv", "quota", "assign", user, "cli-golden-plan", "--overrides", R"({"tokens_per_day": 7})"});
    CHECK(a.status == 0);
    CHECK(a.out == "user_id,plan,overrides,blocked\r\n\"" + p + "awk, \"\"user\"\"\",cli-golden-plan,"
                   "\"{\"\"tokens_per_day\"\": 7}\",f\r\n");

    auto b = cli({"--format", "json", "quota", "block", user, "--reason", "fraud, \"suspected\""});
    CHECK(b.status == 0);
    CHECK(b.out == "[\n {\"user_id\": \"" + p + "awk, \\\"user\\\"\", \"blocked\": true, "
                   "\"block_reason\": \"fraud, \\\"suspected\\\"\"}\n]\n");
    auto s = cli({"--format", "csv", "quota", "status", user});
    CHECK(s.status == 0);
    CHECK(s.out.rfind("plan,blocked,block_reason,limit_name,unit,window_kind,used,reserved,limit_value,remaining,"
                      "window_start,resets_at\r\n",
                      0) == 0);
    CHECK(s.out.find("cli-golden-plan,t,\"fraud, \"\"suspected\"\"\",requests_per_day,requests,day,0,0,5,5,") !=
          std::string::npos);
    CHECK(s.out.find(",tokens_per_day,tokens,day,0,0,7,7,") != std::string::npos);
    CHECK(s.out.find(",cost_per_day,usd,day,0.000000000,0.000000000,1.250000000,1.250000000,") != std::string::npos);

    auto u = cli({"--format", "csv", "quota", "unblock", user});
    CHECK(u.status == 0);
    CHECK(u.out.find(",t\r\n") != std::string::npos);
    auto again = cli({"--format", "csv", "quota", "unblock", user});
    CHECK(again.out.find(",f\r\n") != std::string::npos);
    tokenledger::Client c;
    auto row = c.query("SELECT blocked FROM " + fn(c, "quota_users") + " WHERE user_id = $1", {user});
    REQUIRE(row.rows.size() == 1);
    CHECK(*row.rows[0][0] == "f");
}

TEST_CASE("record --reservation settles a hold", "[cli][quota]") {
    auto p = tltest::unique_prefix("cli-settle");
    tokenledger::Client c;
    auto r = c.query("SELECT reservation_id FROM " + fn(c, "quota_reserve") + "($1, 10)", {p + "u"});
    REQUIRE(r.rows[0][0]);
    auto out = cli({"record", "--user", p + "u", "--model", "gpt-4o", "--input", "3", "--reservation", *r.rows[0][0]});
    CHECK(out.status == 0);
    CHECK(tltest::count_holds(c, p + "u") == 0);
    CHECK(tltest::count_rows(c, p) == 1);
    // The same from a raw usage object.
    auto d = c.quota_reserve(p + "u", 10);
    REQUIRE(d.reservation_id);
    auto usage = cli({"record", "--user", p + "u", "--model", "gpt-4o", "--provider", "openai", "--usage",
                      R"({"prompt_tokens": 3})", "--reservation", std::to_string(*d.reservation_id)});
    CHECK(usage.status == 0);
    CHECK(tltest::count_holds(c, p + "u") == 0);
    CHECK(tltest::count_rows(c, p) == 2);
}

// ---- prices ------------------------------------------------------------------

TEST_CASE("prices set is idempotent and prices new events - unpriced lists what is missing", "[cli][prices]") {
    auto a = cli({"--format", "csv", "prices", "set", "cli-golden-provider", "cli-golden-model", "--from", "2021-01-01",
                  "--input", "2", "--output", "8", "--cache-read", "0.5", "--source", "cli test"});
    auto b = cli({"--format", "csv", "prices", "set", "cli-golden-provider", "cli-golden-model", "--from", "2021-01-01",
                  "--input", "2", "--output", "8", "--cache-read", "0.5", "--source", "cli test"});
    CHECK(a.status == 0);
    CHECK(a.out.rfind("price_id\r\n", 0) == 0);
    CHECK(a.out == b.out);
    auto p = tltest::unique_prefix("cli-price");
    REQUIRE(cli({"record", "--user", p + "u", "--model", "cli-golden-model", "--provider", "cli-golden-provider",
                 "--input", "1000000", "--output", "1000", "--cache-read", "2000", "--at", "2021-06-01"})
                .status == 0);
    auto e = cli({"--format", "csv", "export", "--from", "2021-06-01", "--to", "2021-06-02", "--user", p + "u"});
    // 2 USD + 1000 x 8 / 1e6 + 2000 x 0.5 / 1e6 = 2.009 USD
    CHECK(e.out.find(",2.00900000") != std::string::npos);

    seed();
    auto u = cli({"--format", "csv", "prices", "unpriced"});
    CHECK(u.status == 0);
    CHECK(u.out.rfind("model,provider,events,total_tokens,first_seen,last_seen\r\n", 0) == 0);
    CHECK(u.out.find("\r\ngolden-model-b,anthropic,2,664,2021-03-04 00:01:00+00,2021-03-04 00:03:00+00\r\n") !=
          std::string::npos);
    CHECK(u.out.find("cli-golden-model") == std::string::npos);

    CHECK(cli({"prices", "set", "x", "y", "--from", "2021-01-01", "--input", "two", "--output", "1"}).status == 2);
    CHECK(cli({"prices", "set", "x", "y", "--input", "1", "--output", "1"}).status == 2);
}

TEST_CASE("prices import litellm reports inserted - then unchanged", "[cli][prices]") {
    auto path = tltest::temp_path("litellm.json");
    {
        std::ofstream f(path);
        f << R"({"sample_spec": {"input_cost_per_token": 0},
                 "cli-import-model": {"litellm_provider": "openai", "mode": "chat",
                                      "input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}})";
    }
    auto first = cli({"--format", "csv", "prices", "import", "litellm", path, "--effective-from", "2021-01-01"});
    auto second = cli({"--format", "csv", "prices", "import", "litellm", path, "--effective-from", "2021-01-01"});
    CHECK(first.status == 0);
    CHECK(second.status == 0);
    CHECK(second.out == "action,reason,entries\r\nskipped,not a model entry,1\r\nunchanged,,1\r\n");
    auto details = cli({"--format", "csv", "prices", "import", "litellm", path, "--effective-from", "2021-01-01",
                        "--details"});
    CHECK(details.out.find("\r\ncli-import-model,openai,cli-import-model,standard,unchanged,\r\n") !=
          std::string::npos);
    CHECK(cli({"prices", "import", "litellm", path}).status == 2);                // needs --effective-from
    CHECK(cli({"prices", "import", "csv", path}).status == 2);                    // unknown kind
    CHECK(cli({"prices", "import", "genai", path}).status == 2);                  // wrong shape: 22023
    CHECK(cli({"prices", "import", "genai", path + ".missing"}).status == 2);     // unreadable
    ::unlink(path.c_str());
}

// ---- rollup and schedule -------------------------------------------------------

TEST_CASE("rollup folds every committed event and prints the watermark", "[cli][admin]") {
    auto p = tltest::unique_prefix("cli-rollup");
    tokenledger::Client c;
    tokenledger::UsageEvent e;
    e.user_id = p + "u";
    e.model = "gpt-4o";
    auto id = c.insert(e);
    REQUIRE(id);
    auto r = cli({"--format", "csv", "rollup", "--batch-size", "1000"});
    CHECK(r.status == 0);
    REQUIRE(r.out.rfind("watermark,last_rollup_at,events_folded\r\n", 0) == 0);
    auto watermark = std::stoll(r.out.substr(r.out.find("\r\n") + 2));
    CHECK(watermark >= *id);
    CHECK(cli({"rollup", "--batch-size", "many"}).status == 2);
    CHECK(cli({"rollup", "--maintenance", "--batch-size", "5"}).status == 2);
}

// Maintenance drops raw partitions past the retention (the goldens' 2021 rows
// among them), so it runs in a database of its own.
TEST_CASE("rollup --maintenance runs usage_maintenance: partitions are created", "[cli][admin]") {
    tokenledger::Client c;
    std::string db = "tl_ct_maintenance_" + std::to_string(::getpid());
    c.query("CREATE DATABASE " + c.quote_ident(db));
    {
        PGconn* raw = PQconnectdb(("dbname=" + db).c_str());  // Client needs the extension installed
        PQclear(PQexec(raw, "CREATE EXTENSION tokenledger"));
        PQfinish(raw);
        tokenledger::Client m("dbname=" + db);
        tokenledger::UsageEvent e;
        e.user_id = "maint";
        e.model = "gpt-4o";
        m.insert(e);
        const std::string parts = "SELECT count(*) FROM " + fn(m, "usage_partitions") + "() WHERE NOT is_default";
        CHECK(*m.query(parts).rows[0][0] == "0");
        auto r = cli({"--dsn", "dbname=" + db, "--format", "csv", "rollup", "--maintenance"});
        CHECK(r.status == 0);
        CHECK(r.out.find("\r\n1,") != std::string::npos);  // watermark: the one event
        CHECK(std::stoi(*m.query(parts).rows[0][0]) >= 3);  // this month and the next two
    }
    c.query("DROP DATABASE " + c.quote_ident(db));
}

TEST_CASE("schedule creates the pg_cron jobs - --off removes them - without pg_cron it says how", "[cli][admin]") {
    tokenledger::Client c;
    bool had_cron = !c.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").rows.empty();
    if (!had_cron) CHECK(cli({"schedule"}).status == 1);  // feature_not_supported, with a hint
    c.query("CREATE EXTENSION IF NOT EXISTS pg_cron");
    auto db = *c.query("SELECT current_database()").rows[0][0];
    auto s = cli({"--format", "csv", "schedule", "--rollup", "*/5 * * * *", "--maintenance", "15 3 * * *"});
    CHECK(s.status == 0);
    CHECK(s.out.find("tokenledger-rollup-" + db + ",") != std::string::npos);
    CHECK(s.out.find(",*/5 * * * *,") != std::string::npos);
    CHECK(s.out.find(",15 3 * * *,") != std::string::npos);
    auto jobs = c.query("SELECT count(*) FROM cron.job WHERE jobname LIKE 'tokenledger-%'");
    CHECK(*jobs.rows[0][0] == "2");
    auto off = cli({"--format", "csv", "schedule", "--off"});
    CHECK(off.status == 0);
    CHECK(off.out == "jobname\r\ntokenledger-maintenance-" + db + "\r\ntokenledger-rollup-" + db + "\r\n");
    jobs = c.query("SELECT count(*) FROM cron.job WHERE jobname LIKE 'tokenledger-%'");
    CHECK(*jobs.rows[0][0] == "0");
    CHECK(cli({"schedule", "--off", "--rollup", "* * * * *"}).status == 2);
    if (!had_cron) c.query("DROP EXTENSION pg_cron");
}
