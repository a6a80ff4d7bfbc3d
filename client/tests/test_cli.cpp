// The CLI against the real extension: golden outputs (including CSV quoting
// of awkward user ids), exit codes, --help on every command.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "support.hpp"

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
}

TEST_CASE("--help works on every command without a database", "[cli]") {
    for (auto cmd : {"export", "record", "normalize"}) {
        auto r = cli({"--dsn", tltest::unreachable_conninfo(), cmd, "--help"});
        CHECK(r.status == 0);
        CHECK(r.out.rfind(std::string("usage: tokenledger ") + cmd, 0) == 0);
    }
    auto r = cli({"--help"});
    CHECK(r.status == 0);
    CHECK(r.out.find("Commands:") != std::string::npos);
}
