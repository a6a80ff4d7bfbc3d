// The spool file format on its own: round trip, CRC, torn and corrupt records.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "spool.hpp"
#include "support.hpp"

using namespace tokenledger;
using detail::Spool;

static UsageEvent sample(int i) {
    UsageEvent e;
    e.user_id = "user, \"odd\"\n" + std::to_string(i);
    e.model = "gpt-4o";
    e.input_tokens = i;
    e.output_tokens = 2 * i;
    e.cache_write_1h_tokens = 3;
    e.provider = "openai";
    e.request_id = "r" + std::to_string(i);
    e.occurred_at = std::chrono::system_clock::time_point(std::chrono::microseconds(1700000000123456LL + i));
    e.latency_ms = 17;
    e.success = i % 2 == 0;
    e.metadata = R"({"k": 1})";
    e.service_tier = "batch";
    return e;
}

static void check_same(const UsageEvent& a, const UsageEvent& b) {
    CHECK(a.user_id == b.user_id);
    CHECK(a.model == b.model);
    CHECK(a.input_tokens == b.input_tokens);
    CHECK(a.output_tokens == b.output_tokens);
    CHECK(a.cache_write_1h_tokens == b.cache_write_1h_tokens);
    CHECK(a.provider == b.provider);
    CHECK(a.endpoint == b.endpoint);
    CHECK(a.request_id == b.request_id);
    CHECK(a.occurred_at == b.occurred_at);
    CHECK(a.latency_ms == b.latency_ms);
    CHECK(a.success == b.success);
    CHECK(a.metadata == b.metadata);
    CHECK(a.service_tier == b.service_tier);
}

TEST_CASE("crc32 matches the standard check value", "[spool]") {
    CHECK(detail::crc32("123456789", 9) == 0xCBF43926u);
}

TEST_CASE("spool records round-trip in order", "[spool]") {
    auto path = tltest::temp_path("spool-rt");
    {
        Spool s(path);
        s.append({sample(1), sample(2)});
        s.append({sample(3)});
        auto c = s.read(0, 100);
        REQUIRE(c.events.size() == 3);
        CHECK(c.torn == 0);
        for (int i = 0; i < 3; ++i) check_same(c.events[i], sample(i + 1));
        CHECK(c.end == s.size());
        auto part = s.read(0, 2);
        CHECK(part.events.size() == 2);
        CHECK(s.read(part.end, 10).events.size() == 1);
        CHECK_FALSE(s.truncate_if(s.size() + 1));
        CHECK(s.truncate_if(s.size()));
        CHECK(s.size() == 0);
    }
    ::unlink(path.c_str());
}

TEST_CASE("a torn last record is cut off at open and reported", "[spool]") {
    auto path = tltest::temp_path("spool-torn");
    std::uint64_t full;
    {
        Spool s(path);
        s.append({sample(1), sample(2), sample(3)});
        full = s.size();
    }
    REQUIRE(::truncate(path.c_str(), static_cast<off_t>(full - 5)) == 0);
    {
        Spool s(path);
        CHECK(s.torn_at_open() == 1);
        REQUIRE(s.open_problems().size() == 1);
        CHECK(s.open_problems()[0].find("torn record") != std::string::npos);
        auto c = s.read(0, 100);
        REQUIRE(c.events.size() == 2);
        check_same(c.events[1], sample(2));
        // Appends after the cut start on a record boundary.
        s.append({sample(4)});
        auto d = s.read(0, 100);
        REQUIRE(d.events.size() == 3);
        check_same(d.events[2], sample(4));
        CHECK(d.torn == 0);
    }
    ::unlink(path.c_str());
}

TEST_CASE("a corrupt record in the middle is skipped - the rest is kept", "[spool]") {
    auto path = tltest::temp_path("spool-corrupt");
    std::uint64_t first_end;
    {
        Spool s(path);
        s.append({sample(1)});
        first_end = s.size();
        s.append({sample(2), sample(3)});
    }
    {
        // Flip one payload byte of the second record.
        int fd = ::open(path.c_str(), O_RDWR);
        REQUIRE(fd >= 0);
        char b;
        REQUIRE(::pread(fd, &b, 1, static_cast<off_t>(first_end + 20)) == 1);
        b ^= 0x5a;
        REQUIRE(::pwrite(fd, &b, 1, static_cast<off_t>(first_end + 20)) == 1);
        ::close(fd);
    }
    Spool s(path);
    CHECK(s.torn_at_open() == 0);
    auto c = s.read(0, 100);
    CHECK(c.torn == 1);
    REQUIRE(c.events.size() == 2);
    check_same(c.events[0], sample(1));
    check_same(c.events[1], sample(3));
    REQUIRE(c.problems.size() == 1);
    CHECK(c.problems[0].find("corrupt record") != std::string::npos);
    ::unlink(path.c_str());
}

TEST_CASE("an unwritable spool path is an Error", "[spool]") {
    CHECK_THROWS_AS(Spool("/nonexistent-dir/x.spool"), Error);
}
