// The asynchronous recorder: batching, exactly-once delivery through
// retries, the spool and restarts, full-queue policies, fault tests.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "spool.hpp"
#include "support.hpp"
#include "tokenledger/recorder.hpp"

using namespace tokenledger;
using namespace std::chrono_literals;
using tltest::count_distinct_requests;
using tltest::count_rows;
using tltest::Server;
using tltest::unique_prefix;

namespace {

UsageEvent ev(const std::string& user, int i = 0) {
    UsageEvent e;
    e.user_id = user;
    e.model = "gpt-4o-mini";
    e.provider = "openai";
    e.input_tokens = 10 + i;
    e.output_tokens = 5;
    return e;
}

// Collects on_error messages (called on the background thread).
struct Log {
    std::mutex mu;
    std::vector<std::string> lines;
    std::function<void(const std::string&)> sink() {
        return [this](const std::string& s) {
            std::lock_guard<std::mutex> g(mu);
            lines.push_back(s);
        };
    }
    bool contains(const std::string& needle) {
        std::lock_guard<std::mutex> g(mu);
        for (auto& l : lines)
            if (l.find(needle) != std::string::npos) return true;
        return false;
    }
};

RecorderOptions options(const std::string& spool) {
    RecorderOptions o;
    o.spool_path = spool;
    o.backoff_initial = 20ms;
    o.backoff_max = 200ms;
    return o;
}

}  // namespace

TEST_CASE("recorded events land exactly once with generated request ids", "[recorder]") {
    auto p = unique_prefix("rec-basic");
    auto spool = tltest::temp_path("rec-basic");
    RecorderStats s;
    {
        Recorder r(options(spool));
        std::vector<std::thread> producers;
        std::atomic<int> accepted{0};  // Catch assertions are not thread safe: count, check later
        for (int t = 0; t < 4; ++t)
            producers.emplace_back([&, t] {
                for (int i = 0; i < 250; ++i) accepted += r.record(ev(p + std::to_string(t), i)) ? 1 : 0;
            });
        for (auto& th : producers) th.join();
        CHECK(accepted == 1000);
        CHECK(r.flush(30s));
        s = r.stats();
    }
    Client c;
    CHECK(count_rows(c, p) == 1000);
    CHECK(count_distinct_requests(c, p) == 1000);
    CHECK(s.queued == 1000);
    CHECK(s.sent == 1000);
    CHECK(s.spooled == 0);
    CHECK(s.dropped == 0);
    ::unlink(spool.c_str());
}

TEST_CASE("an app-given request id is kept - so a re-recorded event counts once", "[recorder]") {
    auto p = unique_prefix("rec-reqid");
    auto spool = tltest::temp_path("rec-reqid");
    {
        Recorder r(options(spool));
        auto e = ev(p + "u");
        e.request_id = p + "fixed";
        r.record(e);
        REQUIRE(r.flush(10s));
        r.record(e);
        REQUIRE(r.flush(10s));
    }
    Client c;
    CHECK(count_rows(c, p) == 1);
    auto t = c.query("SELECT request_id FROM " + c.quote_ident(c.schema()) + ".usage_log WHERE user_id = $1",
                     {p + "u"});
    CHECK(*t.rows[0][0] == p + "fixed");
    ::unlink(spool.c_str());
}

TEST_CASE("a batch is sent at N events or after T milliseconds - without flush()", "[recorder]") {
    auto p = unique_prefix("rec-nt");
    auto spool = tltest::temp_path("rec-nt");
    Client c;
    auto wait_rows = [&](const std::string& prefix, long long n, std::chrono::milliseconds limit) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            if (count_rows(c, prefix) == n) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    };
    SECTION("N: a full batch goes at once even with a long interval") {
        auto o = options(spool);
        o.batch_size = 10;
        o.flush_interval = 60s;
        Recorder r(o);
        for (int i = 0; i < 9; ++i) r.record(ev(p + "n", i));
        std::this_thread::sleep_for(300ms);
        CHECK(count_rows(c, p + "n") == 0);  // 9 < N and T not reached
        r.record(ev(p + "n", 9));
        CHECK(wait_rows(p + "n", 10, 5s));
    }
    SECTION("T: a partial batch goes after the interval") {
        auto o = options(spool);
        o.batch_size = 1000;
        o.flush_interval = 100ms;
        Recorder r(o);
        for (int i = 0; i < 3; ++i) r.record(ev(p + "t", i));
        CHECK(wait_rows(p + "t", 3, 5s));
    }
    ::unlink(spool.c_str());
}

TEST_CASE("an invalid event is rejected and reported - the rest of its batch lands", "[recorder]") {
    auto p = unique_prefix("rec-reject");
    auto spool = tltest::temp_path("rec-reject");
    Log log;
    RecorderStats s;
    {
        auto o = options(spool);
        o.on_error = log.sink();
        Recorder r(o);
        for (int i = 0; i < 20; ++i) {
            auto e = ev(p + "u", i);
            if (i == 7) e.output_tokens = -1;
            r.record(e);
        }
        CHECK(r.flush(10s));
        s = r.stats();
    }
    Client c;
    CHECK(count_rows(c, p) == 19);
    CHECK(s.rejected == 1);
    CHECK(s.sent == 20);
    CHECK(log.contains("event rejected (22"));
    ::unlink(spool.c_str());
}

TEST_CASE("with the database unreachable events go to the spool - the next recorder replays them", "[recorder]") {
    auto p = unique_prefix("rec-spool");
    auto spool = tltest::temp_path("rec-spool");
    {
        auto o = options(spool);
        o.conninfo = tltest::unreachable_conninfo();
        o.batch_size = 25;
        Recorder r(o);
        for (int i = 0; i < 100; ++i) r.record(ev(p + "u", i));
        CHECK_FALSE(r.flush(300ms));  // cannot be durable in the database
    }
    {
        Log log;
        auto o = options(spool);
        o.on_error = log.sink();
        Recorder r(o);
        CHECK(r.flush(30s));
        auto s = r.stats();
        CHECK(s.replayed == 100);
        CHECK(s.torn == 0);
    }
    Client c;
    CHECK(count_rows(c, p) == 100);
    CHECK(count_distinct_requests(c, p) == 100);
    ::unlink(spool.c_str());
}

// Reservations settled through the Recorder: directly (both send methods)
// and after a round trip through the spool (the reservation id is part of
// the spooled record).
TEST_CASE("an event's reservation_id settles its hold when the Recorder sends it", "[recorder][quota]") {
    Client c;
    QuotaPlan limits;
    limits.requests_per_day = 100;
    limits.tokens_per_day = 100000;
    auto user = tltest::user_on_plan(c, unique_prefix("rec-hold"), limits);
    auto holds = [&] { return tltest::count_holds(c, user); };
    auto reserved_event = [&](int i) {
        auto d = c.quota_reserve(user, 5000);
        REQUIRE(d.reservation_id);
        auto e = ev(user, i);
        e.reservation_id = d.reservation_id;
        return e;
    };
    auto spool = tltest::temp_path("rec-hold");
    SECTION("sent at once, by either send method") {
        auto o = options(spool);
        o.send_method = GENERATE(SendMethod::BatchFunction, SendMethod::Pipeline);
        Recorder r(o);
        for (int i = 0; i < 3; ++i) r.record(reserved_event(i));
        r.record(ev(user, 9));  // no hold
        CHECK(holds() == 3);
        REQUIRE(r.flush(10s));
        CHECK(holds() == 0);
    }
    SECTION("spooled while the database is unreachable, then replayed") {
        {
            auto o = options(spool);
            o.conninfo = tltest::unreachable_conninfo();
            Recorder r(o);
            for (int i = 0; i < 3; ++i) r.record(reserved_event(i));
            CHECK_FALSE(r.flush(200ms));
        }
        CHECK(holds() == 3);
        Recorder r(options(spool));
        REQUIRE(r.flush(30s));
        CHECK(r.stats().replayed == 3);
        CHECK(holds() == 0);
    }
    // The recorded usage replaced the estimates (5000 tokens each).
    auto tokens = c.query("SELECT sum(total_tokens) FROM " + tltest::fn(c, "usage_log") + " WHERE user_id = $1", {user});
    for (auto& l : c.quota_status(user).limits) {
        CHECK(l.reserved == 0);
        if (l.limit_name == "tokens_per_day") CHECK(l.used == std::stoll(*tokens.rows[0][0]));
        if (l.limit_name == "requests_per_day") CHECK(l.used == count_rows(c, user));
    }
    ::unlink(spool.c_str());
}

TEST_CASE("the spool is replayed after the recording process is killed", "[recorder][fault]") {
    auto p = unique_prefix("rec-kill");
    auto spool = tltest::temp_path("rec-kill");
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child records with no database, waits until the events are in
        // the spool, then dies without running any destructor.
        auto o = options(spool);
        o.conninfo = tltest::unreachable_conninfo();
        o.batch_size = 10;
        auto* r = new Recorder(o);
        for (int i = 0; i < 75; ++i) r->record(ev(p + "u", i));
        for (int i = 0; i < 500 && r->stats().spooled < 75; ++i) std::this_thread::sleep_for(10ms);
        ::kill(::getpid(), SIGKILL);
        ::_exit(3);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    {
        Recorder r(options(spool));
        CHECK(r.flush(30s));
        CHECK(r.stats().replayed == 75);
    }
    Client c;
    CHECK(count_rows(c, p) == 75);
    ::unlink(spool.c_str());
}

TEST_CASE("a torn spool record is skipped and reported - the intact ones are replayed", "[recorder][fault]") {
    auto p = unique_prefix("rec-torn");
    auto spool = tltest::temp_path("rec-torn");
    std::vector<UsageEvent> evs;
    for (int i = 0; i < 3; ++i) {
        evs.push_back(ev(p + "u", i));
        evs.back().request_id = p + "r" + std::to_string(i);
        evs.back().occurred_at = std::chrono::system_clock::now();
    }
    {
        detail::Spool s(spool);
        s.append(evs);
        REQUIRE(::truncate(spool.c_str(), static_cast<off_t>(s.size() - 9)) == 0);
    }
    Log log;
    auto o = options(spool);
    o.on_error = log.sink();
    {
        Recorder r(o);
        CHECK(r.flush(30s));
        auto s = r.stats();
        CHECK(s.torn == 1);
        CHECK(s.replayed == 2);
    }
    CHECK(log.contains("torn record"));
    Client c;
    CHECK(count_rows(c, p) == 2);
    auto t = c.query("SELECT string_agg(request_id, ',' ORDER BY request_id) FROM " + c.quote_ident(c.schema()) +
                         ".usage_log WHERE starts_with(user_id, $1)",
                     {p});
    CHECK(*t.rows[0][0] == p + "r0," + p + "r1");
    ::unlink(spool.c_str());
}

namespace {
// A recorder whose worker is stuck retrying an unreachable database, so the
// queue (capacity 10) fills: the first 10 events are taken as a batch, the
// next 10 fill the queue, the 21st meets the full-queue policy.
RecorderOptions stuck_options(const std::string& spool, FullPolicy policy) {
    RecorderOptions o;
    o.conninfo = tltest::unreachable_conninfo();
    o.spool_path = spool;
    o.batch_size = 10;
    o.queue_capacity = 10;
    o.flush_interval = 60s;
    o.max_attempts = 2;
    o.backoff_initial = 1500ms;
    o.backoff_max = 1500ms;
    o.full_policy = policy;
    return o;
}

void fill(Recorder& r, const std::string& user) {
    for (int i = 0; i < 10; ++i) REQUIRE(r.record(ev(user, i)));
    // The worker takes the first batch (and then hangs in its backoff).
    for (int i = 0; i < 500 && r.stats().queue_depth > 0; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(r.stats().queue_depth == 0);
    for (int i = 10; i < 20; ++i) REQUIRE(r.record(ev(user, i)));
}

long long replay_and_count(const std::string& spool, const std::string& prefix) {
    {
        Log log;
        auto o = options(spool);
        o.on_error = log.sink();
        Recorder r(o);
        REQUIRE(r.flush(30s));
        auto s = r.stats();
        INFO("replayed " << s.replayed << " torn " << s.torn << " sent " << s.sent);
        for (auto& l : log.lines) INFO(l);
        CHECK(s.replayed > 0);
    }
    Client c;
    return count_rows(c, prefix);
}
}  // namespace

TEST_CASE("full queue - Drop policy: the event is dropped and counted", "[recorder][fault]") {
    auto p = unique_prefix("rec-full-drop");
    auto spool = tltest::temp_path("rec-full-drop");
    {
        Recorder r(stuck_options(spool, FullPolicy::Drop));
        fill(r, p + "u");
        auto t0 = std::chrono::steady_clock::now();
        CHECK_FALSE(r.record(ev(p + "u", 20)));
        CHECK(std::chrono::steady_clock::now() - t0 < 200ms);  // never waits for the worker
        CHECK(r.stats().dropped == 1);
    }
    CHECK(replay_and_count(spool, p) == 20);
    ::unlink(spool.c_str());
}

TEST_CASE("full queue - Spill policy: the event goes to the spool at once and lands later", "[recorder][fault]") {
    auto p = unique_prefix("rec-full-spill");
    auto spool = tltest::temp_path("rec-full-spill");
    {
        Recorder r(stuck_options(spool, FullPolicy::Spill));
        fill(r, p + "u");
        auto t0 = std::chrono::steady_clock::now();
        CHECK(r.record(ev(p + "u", 20)));
        CHECK(std::chrono::steady_clock::now() - t0 < 800ms);  // an fsync, not a wait for the worker (1.5 s)
        auto s = r.stats();
        CHECK(s.spooled >= 1);
        CHECK(s.dropped == 0);
    }
    CHECK(replay_and_count(spool, p) == 21);
    ::unlink(spool.c_str());
}

TEST_CASE("full queue - Block policy: record() waits for room and loses nothing", "[recorder][fault]") {
    auto p = unique_prefix("rec-full-block");
    auto spool = tltest::temp_path("rec-full-block");
    {
        Recorder r(stuck_options(spool, FullPolicy::Block));
        fill(r, p + "u");
        auto t0 = std::chrono::steady_clock::now();
        CHECK(r.record(ev(p + "u", 20)));
        auto waited = std::chrono::steady_clock::now() - t0;
        CHECK(waited >= 1000ms);  // blocked until the worker gave up on the first batch (1.5 s)
        CHECK(r.stats().dropped == 0);
    }
    CHECK(replay_and_count(spool, p) == 21);
    ::unlink(spool.c_str());
}

TEST_CASE("database stopped mid-stream - then restarted: every event lands exactly once", "[recorder][fault]") {
    auto p = unique_prefix("rec-restart");
    auto spool = tltest::temp_path("rec-restart");
    // One connection, and several sending batches in parallel.
    auto connections = GENERATE(1, 3);
    INFO("connections " << connections);
    Server server;
    Log log;
    RecorderStats s;
    int total = 0;
    {
        auto o = options(spool);
        o.connections = static_cast<std::size_t>(connections);
        o.batch_size = 50;
        o.flush_interval = 20ms;
        o.on_error = log.sink();
        Recorder r(o);
        std::atomic<int> produced{0};
        std::atomic<bool> done{false};
        // The producer keeps recording (about 5 events/ms) until told to stop.
        std::thread producer([&] {
            for (int i = 0; !done; ++i) {
                r.record(ev(p + std::to_string(i % 7), i));
                produced = i + 1;
                if (i % 5 == 0) std::this_thread::sleep_for(1ms);
            }
        });
        auto wait_produced = [&](int n) {
            while (produced < n) std::this_thread::sleep_for(1ms);
        };
        wait_produced(500);
        server.stop();
        int at_stop = produced;
        std::this_thread::sleep_for(500ms);
        int while_down = produced - at_stop;
        server.start();
        wait_produced(produced + 500);
        done = true;
        producer.join();
        total = produced;
        CHECK(while_down > 0);  // events were recorded while the server was down
        CHECK(r.flush(60s));
        s = r.stats();
    }
    Client c;
    CHECK(count_rows(c, p) == total);
    CHECK(count_distinct_requests(c, p) == total);
    CHECK(s.spooled > 0);
    CHECK(s.replayed == s.spooled);
    CHECK(s.sent + s.replayed == static_cast<std::uint64_t>(total));
    CHECK(s.dropped == 0);
    CHECK(log.contains("tokenledger recorder"));
    ::unlink(spool.c_str());
}

TEST_CASE("generated request ids differ in a forked child", "[recorder]") {
    (void)generate_request_id();  // the parent's generator exists before the fork
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        auto id = generate_request_id();
        (void)!::write(fds[1], id.data(), id.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    char buf[64] = {0};
    REQUIRE(::read(fds[0], buf, sizeof buf) == 32);
    ::close(fds[0]);
    ::waitpid(child, nullptr, 0);
    CHECK(std::string(buf, 32) != generate_request_id());
}
