// The spool file format on its own: round trip, CRC, torn and corrupt records.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

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

// The TLS1 layout, byte by byte, as libraries without reservation ids wrote
// it (independent of encode_event, so a change to the writer cannot hide).
static std::string v1_record(const UsageEvent& e) {
    std::string p;
    auto u32 = [&](std::uint32_t v) { p.append(reinterpret_cast<const char*>(&v), 4); };
    auto i64 = [&](std::int64_t v) { p.append(reinterpret_cast<const char*>(&v), 8); };
    auto str = [&](const std::string& v) {
        u32(static_cast<std::uint32_t>(v.size()));
        p += v;
    };
    auto opt = [&](const std::optional<std::string>& v) {
        p.push_back(v ? 1 : 0);
        if (v) str(*v);
    };
    str(e.user_id);
    str(e.model);
    for (auto v : {e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                   e.cache_write_1h_tokens, e.reasoning_tokens})
        i64(v);
    opt(e.provider);
    opt(e.endpoint);
    str(e.request_type);
    opt(e.session_id);
    opt(e.message_id);
    opt(e.request_id);
    p.push_back(1);
    i64(std::chrono::duration_cast<std::chrono::microseconds>(e.occurred_at->time_since_epoch()).count());
    p.push_back(1);
    i64(*e.latency_ms);
    p.push_back(e.success ? 1 : 0);
    opt(e.error_type);
    opt(e.metadata);
    str(e.service_tier);
    std::string rec = "TLS1";
    std::uint32_t len = static_cast<std::uint32_t>(p.size()), crc = detail::crc32(p.data(), p.size());
    rec.append(reinterpret_cast<const char*>(&len), 4);
    rec.append(reinterpret_cast<const char*>(&crc), 4);
    return rec + p;
}

static std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_CASE("a spool written before reservation ids (TLS1) is read - events without one are still TLS1",
          "[spool]") {
    auto path = tltest::temp_path("spool-v1");
    {
        std::ofstream out(path, std::ios::binary);
        out << v1_record(sample(1)) << v1_record(sample(2));
    }
    {
        Spool s(path);
        CHECK(s.torn_at_open() == 0);
        auto c = s.read(0, 100);
        REQUIRE(c.events.size() == 2);
        CHECK(c.torn == 0);
        check_same(c.events[0], sample(1));
        check_same(c.events[1], sample(2));
        CHECK_FALSE(c.events[0].reservation_id);
        s.truncate_if(s.size());
        s.append({sample(3)});
    }
    // What this library writes for an event without a hold is byte for byte the old record.
    CHECK(file_bytes(path) == v1_record(sample(3)));
    ::unlink(path.c_str());
}

TEST_CASE("events with a reservation id are TLS2 records - mixed with TLS1, in order", "[spool]") {
    auto path = tltest::temp_path("spool-v2");
    auto held = [](int i) {
        auto e = sample(i);
        e.reservation_id = 7000000000LL + i;
        return e;
    };
    {
        Spool s(path);
        s.append({held(1), sample(2)});
        s.append({held(3)});
        auto c = s.read(0, 100);
        REQUIRE(c.events.size() == 3);
        check_same(c.events[0], held(1));
        CHECK(c.events[0].reservation_id == 7000000001LL);
        CHECK_FALSE(c.events[1].reservation_id);
        CHECK(c.events[2].reservation_id == 7000000003LL);
    }
    auto bytes = file_bytes(path);
    CHECK(bytes.substr(0, 4) == "TLS2");
    CHECK(bytes.find("TLS1") != std::string::npos);
    {
        // A corrupt TLS2 record is skipped; the next one is found by its magic.
        int fd = ::open(path.c_str(), O_RDWR);
        REQUIRE(fd >= 0);
        char b = 0x5a;
        REQUIRE(::pwrite(fd, &b, 1, 20) == 1);
        ::close(fd);
        Spool s(path);
        auto c = s.read(0, 100);
        CHECK(c.torn == 1);
        REQUIRE(c.events.size() == 2);
        CHECK_FALSE(c.events[0].reservation_id);
        CHECK(c.events[1].reservation_id == 7000000003LL);
    }
    ::unlink(path.c_str());
}

TEST_CASE("an unwritable spool path is an Error", "[spool]") {
    CHECK_THROWS_AS(Spool("/nonexistent-dir/x.spool"), Error);
}
