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

RecorderRun run_recorder(const std::string& conninfo, int producers, int per_thread, const std::string& tag) {
    RecorderOptions o;
    o.conninfo = conninfo;
    o.spool_path = "/tmp/tokenledger-bench-" + tag + ".spool";
    o.batch_size = 1000;
    o.queue_capacity = 200000;
    std::vector<std::vector<double>> lat(producers);
    auto t0 = Clock::now();
    {
        Recorder r(o);
        std::vector<std::thread> th;
        for (int p = 0; p < producers; ++p)
            th.emplace_back([&, p] {
                lat[p].reserve(per_thread);
                for (int i = 0; i < per_thread; ++i) {
                    auto ev = make(tag + std::to_string(p), i);
                    auto a = Clock::now();
                    r.record(std::move(ev));
                    lat[p].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
                }
            });
        for (auto& t : th) t.join();
        if (!r.flush(std::chrono::minutes(5))) std::cerr << "flush timed out\n";
    }
    std::remove(o.spool_path.c_str());  // empty after a complete flush
    double el = seconds(Clock::now() - t0);
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    return {producers * per_thread / el, all[all.size() * 99 / 100], all[all.size() / 2]};
}

// The ceiling: COPY the same rows (already resolved to ids) into a bare
// table shaped like usage_log, in one transaction.
double run_copy(const std::string& conninfo, int n) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    auto exec = [&](const char* sql) { PQclear(PQexec(c, sql)); };
    exec("SET client_min_messages = warning");
    exec("DROP TABLE IF EXISTS tl_bench_copy");
    exec("CREATE TABLE tl_bench_copy (LIKE usage_log INCLUDING DEFAULTS INCLUDING GENERATED)");
    auto t0 = Clock::now();
    exec("BEGIN");
    PGresult* r = PQexec(c,
                         "COPY tl_bench_copy (occurred_at, event_id, input_tokens, cache_read_tokens, output_tokens, "
                         "latency_ms, model_id, endpoint_id, provider_id, request_type_id, user_id, request_id) FROM STDIN");
    PQclear(r);
    std::string buf;
    for (int i = 0; i < n; ++i) {
        auto e = make("copy", i);
        buf += "2025-01-01 00:00:00+00\t" + std::to_string(i) + "\t" + std::to_string(e.input_tokens) + "\t" +
               std::to_string(e.cache_read_tokens) + "\t" + std::to_string(e.output_tokens) + "\t" +
               std::to_string(*e.latency_ms) + "\t" + (i % 3 ? "1" : "2") + "\t1\t" + (i % 3 ? "1" : "2") +
               "\t1\t" + e.user_id + "\t" + generate_request_id() + "\n";
        if (buf.size() > 1 << 16) {
            PQputCopyData(c, buf.data(), static_cast<int>(buf.size()));
            buf.clear();
        }
    }
    PQputCopyData(c, buf.data(), static_cast<int>(buf.size()));
    PQputCopyEnd(c, nullptr);
    PQclear(PQgetResult(c));
    exec("COMMIT");
    double el = seconds(Clock::now() - t0);
    exec("DROP TABLE tl_bench_copy");
    PQfinish(c);
    return n / el;
}

double run_client_latency(const std::string& conninfo, int n, bool batch_of_one_pipeline) {
    Client c(conninfo);
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        auto e = make("sync", i);
        if (batch_of_one_pipeline) c.insert_batch({e});
        else c.insert(e);
    }
    return seconds(Clock::now() - t0) / n * 1e6;
}

// Sending batches without pipelining (one round trip per event, one
// transaction per batch) vs pipeline mode, same batch size.
double run_batches(const std::string& conninfo, int n, bool pipeline) {
    Client c(conninfo);
    std::vector<UsageEvent> batch;
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        batch.push_back(make(pipeline ? "pipe" : "loop", i));
        if (batch.size() == 100 || i == n - 1) {
            if (pipeline) {
                c.insert_batch(batch);
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

// The alternative batch path: one statement per batch, the events passed as
// arrays and unnested into usage_log_insert calls (what a batch-insert SQL
// function would do inside the server).
std::string arr(const std::vector<std::optional<std::string>>& v) {
    std::string o = "{";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) o += ",";
        if (!v[i]) {
            o += "NULL";
            continue;
        }
        o += '"';
        for (char ch : *v[i]) {
            if (ch == '"' || ch == '\\') o += '\\';
            o += ch;
        }
        o += '"';
    }
    return o + "}";
}

double run_arrays(const std::string& conninfo, int n) {
    Client c(conninfo);
    std::string sql = "SELECT count(" + c.quote_ident(c.schema()) +
                      ".usage_log_insert(u, m, i, o, cr, 0, 0, 0, p, e, 'chat', NULL, NULL, r, now(), l))"
                      " FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[],"
                      " $7::text[], $8::text[], $9::int4[]) AS t(u, m, i, o, cr, p, e, r, l)";
    auto t0 = Clock::now();
    for (int start = 0; start < n; start += 100) {
        std::vector<std::optional<std::string>> cols[9];
        for (int i = start; i < std::min(n, start + 100); ++i) {
            auto e = make("arr", i);
            cols[0].push_back(e.user_id);
            cols[1].push_back(e.model);
            cols[2].push_back(std::to_string(e.input_tokens));
            cols[3].push_back(std::to_string(e.output_tokens));
            cols[4].push_back(std::to_string(e.cache_read_tokens));
            cols[5].push_back(e.provider);
            cols[6].push_back(e.endpoint);
            cols[7].push_back(generate_request_id());
            cols[8].push_back(std::to_string(*e.latency_ms));
        }
        Params p;
        for (auto& col : cols) p.push_back(arr(col));
        c.query(sql, p);
    }
    return n / seconds(Clock::now() - t0);
}

}  // namespace

int main(int argc, char** argv) {
    std::string conninfo = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? std::stoi(argv[2]) : 100000;
    std::string tag = "bench" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    auto r1 = run_recorder(conninfo, 1, n, tag + "a");
    auto r4 = run_recorder(conninfo, 4, n / 4, tag + "b");
    double copy = run_copy(conninfo, n);
    double pipe = run_batches(conninfo, n / 5, true);
    double loop = run_batches(conninfo, n / 5, false);
    double arrays = run_arrays(conninfo, n / 5);
    double sync_us = run_client_latency(conninfo, 2000, false);
    std::printf(
        "{\"events\": %d, \"recorder_1_producer_events_per_s\": %.0f, \"recorder_4_producers_events_per_s\": %.0f, "
        "\"raw_copy_events_per_s\": %.0f, \"ratio_1_producer_vs_copy\": %.3f, \"ratio_4_producers_vs_copy\": %.3f, "
        "\"record_p50_us\": %.2f, \"record_p99_us_1_producer\": %.2f, \"record_p99_us_4_producers\": %.2f, "
        "\"batch100_pipeline_events_per_s\": %.0f, \"batch100_arrays_one_statement_events_per_s\": %.0f, \"batch100_one_round_trip_each_events_per_s\": %.0f, "
        "\"client_usage_log_insert_round_trip_us\": %.1f}\n",
        n, r1.events_per_s, r4.events_per_s, copy, r1.events_per_s / copy, r4.events_per_s / copy, r1.p50_us,
        r1.p99_us, r4.p99_us, pipe, arrays, loop, sync_us);
    return 0;
}
