// Benchmark for the Recorder (run by test/bench/recorder.sh, not a test).
// Prints one JSON object: events/s through the Recorder with 1 and 4
// producer threads, the raw COPY ceiling for the same rows, the p99 time an
// app thread spends in record(), and synchronous Client round trips.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tokenledger/tokenledger.hpp"

using namespace tokenledger;
using Clock = std::chrono::steady_clock;

namespace {

UsageEvent make(const std::string& run, int i) {
    UsageEvent e;
    e.user_id = run + "-u" + std::to_string(i % 500);
    e.model = i % 3 ? "gpt-4o-mini" : "claude-sonnet-4";
    e.provider = i % 3 ? "openai" : "anthropic";
    e.endpoint = "bench";
    e.input_tokens = 100 + i % 1000;
    e.output_tokens = 20 + i % 300;
    e.cache_read_tokens = i % 7;
    e.latency_ms = 300 + i % 100;
    return e;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct RecorderRun {
    double events_per_s;
    double p99_us;
    double p50_us;
};

RecorderRun run_recorder(const std::string& conninfo, int producers, int per_thread, const std::string& tag,
                         SendMethod method, std::size_t connections = 1) {
    RecorderOptions o;
    o.conninfo = conninfo;
    o.spool_path = "/tmp/tokenledger-bench-" + tag + ".spool";
    o.batch_size = 1000;
    o.queue_capacity = 200000;
    o.send_method = method;
    o.connections = connections;
    o.on_error = [](const std::string& m) { std::cerr << m << "\n"; };
    std::vector<std::vector<double>> lat(producers);
    // Events are built before the clock starts: the figure is what the
    // Recorder costs, not what building an event costs.
    std::vector<std::vector<UsageEvent>> evs(producers);
    for (int p = 0; p < producers; ++p) {
        evs[p].reserve(per_thread);
        for (int i = 0; i < per_thread; ++i) evs[p].push_back(make(tag + std::to_string(p), i));
    }
    auto t0 = Clock::now();
    {
        Recorder r(o);
        std::vector<std::thread> th;
        for (int p = 0; p < producers; ++p)
            th.emplace_back([&, p] {
                lat[p].reserve(per_thread);
                for (int i = 0; i < per_thread; ++i) {
                    auto a = Clock::now();
                    r.record(std::move(evs[p][i]));
                    lat[p].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
                }
            });
        for (auto& t : th) t.join();
        if (!r.flush(std::chrono::minutes(5))) std::cerr << "flush timed out\n";
        auto s = r.stats();
        if (s.sent != static_cast<std::uint64_t>(producers) * per_thread || s.spooled || s.dropped)
            std::cerr << "recorder run " << tag << ": sent " << s.sent << " spooled " << s.spooled << "\n";
    }
    std::remove(o.spool_path.c_str());  // empty after a complete flush
    double el = seconds(Clock::now() - t0);
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    return {producers * per_thread / el, all[all.size() * 99 / 100], all[all.size() / 2]};
}

// record() latency in a steady state: producers record in bursts of 20
// events and pause 5 ms (4,000 events/s each), below what the Recorder
// sends, so the queue drains and its buffers are reused. (The throughput
// runs above flood the queue instead: it grows to the whole run, and the
// first touch of its fresh memory shows in their p99.)
RecorderRun run_paced(const std::string& conninfo, int producers, int per_thread, const std::string& tag) {
    RecorderOptions o;
    o.conninfo = conninfo;
    o.spool_path = "/tmp/tokenledger-bench-" + tag + ".spool";
    o.on_error = [](const std::string& m) { std::cerr << m << "\n"; };
    std::vector<std::vector<double>> lat(producers);
    std::vector<std::vector<UsageEvent>> evs(producers);
    for (int p = 0; p < producers; ++p)
        for (int i = 0; i < per_thread; ++i) evs[p].push_back(make(tag + std::to_string(p), i));
    auto t0 = Clock::now();
    {
        Recorder r(o);
        std::vector<std::thread> th;
        for (int p = 0; p < producers; ++p)
            th.emplace_back([&, p] {
                lat[p].reserve(per_thread);
                for (int i = 0; i < per_thread; ++i) {
                    auto a = Clock::now();
                    r.record(std::move(evs[p][i]));
                    lat[p].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
                    if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
            });
        for (auto& t : th) t.join();
        if (!r.flush(std::chrono::minutes(5))) std::cerr << "flush timed out\n";
    }
    std::remove(o.spool_path.c_str());
    double el = seconds(Clock::now() - t0);
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    return {producers * per_thread / el, all[all.size() * 99 / 100], all[all.size() / 2]};
}

// The ceiling: COPY the same rows (already resolved to ids) in one
// transaction, into a bare table shaped like usage_log (no indexes), and,
// as a second reference, into copies carrying the ledger's indexes plus the
// request-id table (the index work every recorded event needs).
double run_copy(const std::string& conninfo, int n, bool indexed) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    auto exec = [&](const char* sql) { PQclear(PQexec(c, sql)); };
    auto copy = [&](const char* sql, const std::string& rows) {
        PQclear(PQexec(c, sql));
        for (std::size_t at = 0; at < rows.size(); at += 1 << 16) {
            std::size_t len = std::min<std::size_t>(1 << 16, rows.size() - at);
            PQputCopyData(c, rows.data() + at, static_cast<int>(len));
        }
        PQputCopyEnd(c, nullptr);
        PQclear(PQgetResult(c));
    };
    exec("SET client_min_messages = warning");
    exec("DROP TABLE IF EXISTS tl_bench_copy, tl_bench_copy_ids");
    exec(indexed ? "CREATE TABLE tl_bench_copy (LIKE usage_log INCLUDING DEFAULTS INCLUDING INDEXES)"
                 : "CREATE TABLE tl_bench_copy (LIKE usage_log INCLUDING DEFAULTS)");
    exec("CREATE TABLE tl_bench_copy_ids (LIKE usage_request_ids INCLUDING ALL)");
    auto t0 = Clock::now();
    std::string rows, ids;
    for (int i = 0; i < n; ++i) {
        auto e = make("copy", i);
        std::string rid = generate_request_id();
        rows += "2025-01-01 00:00:00+00\t" + std::to_string(i) + "\t" + std::to_string(e.input_tokens) + "\t" +
                std::to_string(e.cache_read_tokens) + "\t" + std::to_string(e.output_tokens) + "\t" +
                std::to_string(*e.latency_ms) + "\t" + (i % 3 ? "1" : "2") + "\t1\t" + (i % 3 ? "1" : "2") +
                "\t1\t" + e.user_id + "\t" + rid + "\n";
        if (indexed) ids += rid + "\t" + std::to_string(i) + "\t2025-01-01 00:00:00+00\n";
    }
    exec("BEGIN");
    if (indexed) copy("COPY tl_bench_copy_ids FROM STDIN", ids);
    copy("COPY tl_bench_copy (occurred_at, event_id, input_tokens, cache_read_tokens, output_tokens, "
         "latency_ms, model_id, endpoint_id, provider_id, request_type_id, user_id, request_id) FROM STDIN",
         rows);
    exec("COMMIT");
    double el = seconds(Clock::now() - t0);
    exec("DROP TABLE tl_bench_copy, tl_bench_copy_ids");
    PQfinish(c);
    return n / el;
}

// Synchronous round trips, microseconds per call: Client::insert
// (prepared usage_log_insert), and a prepared quota_check.
double run_insert_latency(const std::string& conninfo, int n) {
    Client c(conninfo);
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) c.insert(make("sync", i));
    return seconds(Clock::now() - t0) / n * 1e6;
}

double run_quota_check_latency(const std::string& conninfo, int n) {
    Client c(conninfo);  // resolves the schema
    PGconn* pg = PQconnectdb(conninfo.c_str());
    std::string sql = "SELECT allowed FROM " + c.quote_ident(c.schema()) + ".quota_check($1, $2)";
    PQclear(PQprepare(pg, "qc", sql.c_str(), 2, nullptr));
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        std::string user = "sync-u" + std::to_string(i % 500);
        const char* v[2] = {user.c_str(), "1000"};
        PGresult* r = PQexecPrepared(pg, "qc", 2, v, nullptr, nullptr, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) std::cerr << "quota_check: " << PQerrorMessage(pg);
        PQclear(r);
    }
    double us = seconds(Clock::now() - t0) / n * 1e6;
    PQfinish(pg);
    return us;
}

// One Client sending batches of `size` events back to back: libpq pipeline
// of usage_log_insert, the usage_log_insert_batch function, or (for
// reference) one round trip per event inside a transaction.
enum class Way { Pipeline, Function, RoundTrips };

double run_batches(const std::string& conninfo, int n, int size, Way way) {
    Client c(conninfo);
    std::vector<UsageEvent> batch;
    std::string tag = way == Way::Pipeline ? "pipe" : way == Way::Function ? "func" : "loop";
    tag += std::to_string(size) + "-" + std::to_string(Clock::now().time_since_epoch().count());
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        batch.push_back(make(tag, i));
        batch.back().request_id = generate_request_id();
        if (static_cast<int>(batch.size()) == size || i == n - 1) {
            if (way == Way::Pipeline) {
                c.insert_batch(batch);
            } else if (way == Way::Function) {
                c.insert_batch_arrays(batch);
            } else {
                c.query("BEGIN");
                for (auto& e : batch) c.insert(e);
                c.query("COMMIT");
            }
            batch.clear();
        }
    }
    return n / seconds(Clock::now() - t0);
}

}  // namespace

double load_average() {
    double l = 0;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf", &l) != 1) l = 0;
        std::fclose(f);
    }
    return l;
}

int main(int argc, char** argv) {
    std::string conninfo = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? std::stoi(argv[2]) : 100000;
    std::size_t conns = argc > 3 && std::string(argv[3]) != "function-only" ? std::stoul(argv[3]) : 2;
    std::string tag = "bench" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    if (argc > 3 && std::string(argv[3]) == "function-only") {  // for profiling the server side
        std::printf("%.0f\n", run_batches(conninfo, n, 1000, Way::Function));
        return 0;
    }
    double load_before = load_average();
    auto f1 = run_recorder(conninfo, 1, n, tag + "f1", SendMethod::BatchFunction);
    auto f4 = run_recorder(conninfo, 4, n / 4, tag + "f4", SendMethod::BatchFunction);
    auto c1 = run_recorder(conninfo, 1, n, tag + "c1", SendMethod::BatchFunction, conns);
    auto c4 = run_recorder(conninfo, 4, n / 4, tag + "c4", SendMethod::BatchFunction, conns);
    auto p1 = run_recorder(conninfo, 1, n, tag + "p1", SendMethod::Pipeline);
    auto p4 = run_recorder(conninfo, 4, n / 4, tag + "p4", SendMethod::Pipeline);
    auto s1 = run_paced(conninfo, 1, 10000, tag + "s1");
    auto s4 = run_paced(conninfo, 4, 10000, tag + "s4");
    double copy = run_copy(conninfo, n, false);
    double copy_indexed = run_copy(conninfo, n, true);
    int m = std::max(1000, n / 5);
    double pipe100 = run_batches(conninfo, m, 100, Way::Pipeline);
    double func100 = run_batches(conninfo, m, 100, Way::Function);
    double pipe1000 = run_batches(conninfo, m, 1000, Way::Pipeline);
    double func1000 = run_batches(conninfo, m, 1000, Way::Function);
    double loop100 = run_batches(conninfo, std::max(1000, n / 20), 100, Way::RoundTrips);
    double insert_us = run_insert_latency(conninfo, 2000);
    double quota_us = run_quota_check_latency(conninfo, 2000);
    std::printf(
        "{\"events\": %d, \"cores\": %u, \"load_average_before\": %.2f, \"load_average_after\": %.2f, "
        "\"recorder_send_method\": \"batch_function\", \"recorder_batch_size\": 1000, "
        "\"recorder_1_producer_events_per_s\": %.0f, \"recorder_4_producers_events_per_s\": %.0f, "
        "\"recorder_%zu_connections_1_producer_events_per_s\": %.0f, \"recorder_%zu_connections_4_producers_events_per_s\": %.0f, "
        "\"raw_copy_events_per_s\": %.0f, \"ratio_1_producer_vs_copy\": %.3f, \"ratio_4_producers_vs_copy\": %.3f, "
        "\"best_ratio_vs_copy\": %.3f, "
        "\"copy_with_ledger_indexes_events_per_s\": %.0f, \"best_ratio_vs_indexed_copy\": %.3f, "
        "\"record_p50_us_1_producer\": %.2f, \"record_p99_us_1_producer\": %.2f, "
        "\"record_p50_us_4_producers\": %.2f, \"record_p99_us_4_producers\": %.2f, "
        "\"record_p99_us_steady_1_producer\": %.2f, \"record_p99_us_steady_4_producers\": %.2f, "
        "\"recorder_pipeline_1_producer_events_per_s\": %.0f, \"recorder_pipeline_4_producers_events_per_s\": %.0f, "
        "\"batch100_function_events_per_s\": %.0f, \"batch100_pipeline_events_per_s\": %.0f, "
        "\"batch1000_function_events_per_s\": %.0f, \"batch1000_pipeline_events_per_s\": %.0f, "
        "\"batch100_one_round_trip_each_events_per_s\": %.0f, "
        "\"client_usage_log_insert_round_trip_us\": %.1f, \"client_quota_check_round_trip_us\": %.1f}\n",
        n, std::thread::hardware_concurrency(), load_before, load_average(), f1.events_per_s, f4.events_per_s, conns,
        c1.events_per_s, conns, c4.events_per_s, copy, f1.events_per_s / copy, f4.events_per_s / copy,
        std::max({f1.events_per_s, f4.events_per_s, c1.events_per_s, c4.events_per_s}) / copy, copy_indexed,
        std::max({f1.events_per_s, f4.events_per_s, c1.events_per_s, c4.events_per_s}) / copy_indexed, f1.p50_us,
        f1.p99_us, f4.p50_us, f4.p99_us, s1.p99_us, s4.p99_us, p1.events_per_s, p4.events_per_s, func100, pipe100, func1000, pipe1000,
        loop100, insert_us, quota_us);
    return 0;
}
