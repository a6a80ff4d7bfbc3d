#include "tokenledger/recorder.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <iterator>
#include <mutex>
#include <thread>

#include "spool.hpp"
#include "tokenledger/client.hpp"
#include "tokenledger/error.hpp"

namespace tokenledger {

using Clock = std::chrono::steady_clock;

struct Recorder::Impl {
    RecorderOptions opt;
    detail::Spool spool;

    // The queue is sharded so that app threads rarely wait for each other:
    // a thread always appends to the same shard (so its events keep their
    // order), under that shard's mutex only. The worker swaps each shard's
    // vector with an empty one that kept its capacity, so record() does not
    // allocate once the vectors have grown.
    static constexpr std::size_t kShards = 8;
    struct Shard {
        std::mutex m;
        std::vector<UsageEvent> q;
        std::vector<UsageEvent> taken;  // worker only: what the last swap took
    };
    std::array<Shard, kShards> shards;
    std::atomic<std::uint64_t> accepted{0};  // sequence number of the last accepted event
    std::atomic<std::size_t> depth{0};       // events in the shards
    std::atomic<bool> stopping{false};       // set under mu
    std::atomic<std::uint64_t> queued_count{0};
    std::atomic<std::uint64_t> dropped_count{0};

    mutable std::mutex mu;                 // guards the counters and the backoff below
    std::condition_variable wake_worker;   // batch full, flush requested, stopping
    std::condition_variable room;          // queue has room (Block policy)
    std::condition_variable progress;      // a batch or replay finished
    std::uint64_t durable = 0;             // every accepted event <= this is in the database
    int flush_waiters = 0;
    bool spool_pending = false;            // the spool may hold events not yet in the database
    std::uint64_t spills = 0;              // events spilled by record() (Spill policy)
    RecorderStats st;
    Clock::time_point next_attempt{};      // backoff deadline for reaching the database
    std::chrono::milliseconds backoff{0};

    std::mutex spool_mu;                   // serialises spool access; lock order: mu, then spool_mu
    std::uint64_t replay_offset = 0;       // spool bytes already replayed (worker only)
    std::mutex report_mu;                  // on_error is called by one thread at a time

    // One database connection. senders[0] is used by the worker thread
    // itself; senders[i > 0] by helper thread i, only while the worker
    // waits for it.
    struct Sender {
        std::unique_ptr<Client> client;
        bool use_pipeline = false;         // send method in effect on this connection
    };
    std::vector<Sender> senders;

    enum class Sent { Ok, Down };

    // A helper thread sending one batch at a time for the worker.
    struct Helper {
        std::thread thread;
        std::mutex m;
        std::condition_variable cv;
        std::vector<UsageEvent>* job = nullptr;
        bool done = false;
        bool quit = false;
        Sent result = Sent::Ok;
    };
    std::vector<std::unique_ptr<Helper>> helpers;
    std::thread worker;

    explicit Impl(RecorderOptions o) : opt(std::move(o)), spool(opt.spool_path) {
        if (opt.batch_size == 0) opt.batch_size = 1;
        if (opt.queue_capacity < opt.batch_size) opt.queue_capacity = opt.batch_size;
        if (opt.connections == 0) opt.connections = 1;
        senders.resize(opt.connections);
        for (auto& s : senders) s.use_pipeline = opt.send_method == SendMethod::Pipeline;
        // Room for a batch per shard up front; a shard grows beyond that only
        // when the database falls behind, and keeps what it grew.
        std::size_t reserve = std::min(opt.queue_capacity, std::max<std::size_t>(opt.batch_size, 128));
        for (auto& sh : shards) {
            sh.q.reserve(reserve);
            sh.taken.reserve(reserve);
        }
        st.torn = spool.torn_at_open();
        spool_pending = spool.size() > 0;
        for (auto& p : spool.open_problems()) report(p);
    }

    void start() {
        for (std::size_t i = 1; i < senders.size(); ++i) {
            helpers.push_back(std::make_unique<Helper>());
            Helper* h = helpers.back().get();
            h->thread = std::thread([this, h, i] { help(*h, senders[i]); });
        }
        worker = std::thread([this] { run(); });
    }

    void stop_helpers() noexcept {
        for (auto& h : helpers) {
            {
                std::lock_guard<std::mutex> g(h->m);
                h->quit = true;
            }
            h->cv.notify_all();
            if (h->thread.joinable()) h->thread.join();
        }
    }

    void report(const std::string& msg) noexcept {
        if (!opt.on_error) return;
        try {
            std::lock_guard<std::mutex> g(report_mu);
            opt.on_error(msg);
        } catch (...) {
        }
    }

    void bump(std::uint64_t RecorderStats::*field, std::uint64_t n) {
        std::lock_guard<std::mutex> g(mu);
        st.*field += n;
    }

    // --- talking to the database (worker and helper threads) --------------

    void note_failure(const std::string& what) {
        {
            std::lock_guard<std::mutex> g(mu);
            backoff = backoff.count() == 0 ? opt.backoff_initial : std::min(backoff * 2, opt.backoff_max);
            next_attempt = Clock::now() + backoff;
        }
        report(what);
    }

    void note_success() {
        std::lock_guard<std::mutex> g(mu);
        backoff = std::chrono::milliseconds(0);
    }

    bool may_try_locked() const { return Clock::now() >= next_attempt; }
    bool may_try() const {
        std::lock_guard<std::mutex> g(mu);
        return may_try_locked();
    }

    bool ensure_connected(Sender& s) {
        if (s.client && s.client->connected()) return true;
        try {
            if (s.client)
                s.client->reconnect();
            else
                s.client = std::make_unique<Client>(opt.conninfo);
            return true;
        } catch (const Error& e) {
            note_failure(std::string("tokenledger recorder: ") + e.what());
            return false;
        }
    }

    // Sends events; invalid ones are rejected one by one so the rest land.
    // Returns Down when the database could not be reached after the allowed
    // attempts (nothing is known to be committed; a resend is safe because
    // every event carries a request id).
    Sent send(Sender& s, const std::vector<UsageEvent>& events) {
        for (int attempt = 0; attempt < std::max(1, opt.max_attempts); ++attempt) {
            if (attempt > 0) {
                std::unique_lock<std::mutex> lk(mu);
                ++st.retried;
                // Sleep out the backoff, but wake for shutdown.
                wake_worker.wait_until(lk, next_attempt, [&] { return stopping.load(); });
                if (stopping && !may_try_locked()) return Sent::Down;
            } else if (!may_try()) {
                return Sent::Down;
            }
            if (!ensure_connected(s)) continue;
            try {
                send_batch(s, events);
                note_success();
                return Sent::Ok;
            } catch (const InvalidInput&) {
                return send_one_by_one(s, events);
            } catch (const Error& e) {
                note_failure(std::string("tokenledger recorder: batch failed: ") + e.what());
                if (!is_transient_sqlstate(e.sqlstate()) && !dynamic_cast<const NotConnected*>(&e)) {
                    // A permanent server error (e.g. permission denied): keep
                    // the events in the spool rather than lose them.
                    return Sent::Down;
                }
            }
        }
        return Sent::Down;
    }

    // One statement (or one pipeline) for the whole batch, in one
    // transaction. A server whose extension predates usage_log_insert_batch
    // (undefined function) gets the pipeline from then on.
    void send_batch(Sender& s, const std::vector<UsageEvent>& events) {
        if (!s.use_pipeline) {
            try {
                s.client->insert_batch_arrays(events);
                return;
            } catch (const ServerError& e) {
                if (e.sqlstate() != "42883") throw;
                s.use_pipeline = true;
                report("tokenledger recorder: usage_log_insert_batch is missing (extension older than 0.2.0); "
                       "sending batches with libpq pipeline mode");
            }
        }
        s.client->insert_batch(events);
    }

    Sent send_one_by_one(Sender& s, const std::vector<UsageEvent>& events) {
        for (const auto& ev : events) {
            try {
                s.client->insert(ev);
            } catch (const InvalidInput& e) {
                bump(&RecorderStats::rejected, 1);
                report(std::string("tokenledger recorder: event rejected (") + e.sqlstate() + "): " + e.what());
            } catch (const Error& e) {
                note_failure(std::string("tokenledger recorder: ") + e.what());
                return Sent::Down;  // events already inserted are deduplicated on resend
            }
        }
        return Sent::Ok;
    }

    void help(Helper& h, Sender& s) {
        std::unique_lock<std::mutex> lk(h.m);
        for (;;) {
            h.cv.wait(lk, [&] { return h.quit || (h.job && !h.done); });
            if (h.quit) return;
            lk.unlock();
            Sent r = send(s, *h.job);
            lk.lock();
            h.result = r;
            h.done = true;
            h.cv.notify_all();
        }
    }

    void to_spool(std::vector<UsageEvent>& events) {
        assign_request_ids(events);
        std::lock_guard<std::mutex> g(spool_mu);
        spool.append(events);
    }

    // Spools a batch that could not be sent; if even the spool fails (disk
    // full, ...), the events are lost: report loudly, count them as dropped.
    void spool_or_drop(std::vector<UsageEvent>& events) {
        try {
            to_spool(events);
            bump(&RecorderStats::spooled, events.size());
        } catch (const std::exception& e) {
            bump(&RecorderStats::dropped, events.size());
            report(std::string("tokenledger recorder: spool write failed, events lost: ") + e.what());
        }
    }

    // Replays the spool in order, over the worker's connection. True when
    // it is empty afterwards.
    bool replay() {
        for (;;) {
            detail::Spool::Chunk c;
            {
                std::lock_guard<std::mutex> g(spool_mu);
                std::uint64_t sz = spool.size();
                if (replay_offset >= sz) {
                    if (sz > 0) spool.truncate_if(sz);
                    replay_offset = 0;
                    return true;
                }
                c = spool.read(replay_offset, opt.batch_size);
            }
            for (auto& p : c.problems) report(p);
            if (c.torn) bump(&RecorderStats::torn, c.torn);
            if (c.end == replay_offset) {
                // Only an incomplete record is left (being appended right now,
                // or torn): try again later.
                return false;
            }
            if (!c.events.empty() && send(senders[0], c.events) != Sent::Ok) return false;
            bump(&RecorderStats::replayed, c.events.size());
            replay_offset = c.end;
        }
    }

    // --- the background thread -------------------------------------------

    // Takes every shard's events (the swaps are O(1)) into `batch`.
    void take_all(std::vector<UsageEvent>& batch) {
        std::size_t n = 0;
        for (auto& sh : shards) {
            {
                std::lock_guard<std::mutex> g(sh.m);
                sh.q.swap(sh.taken);
            }
            n += sh.taken.size();
        }
        depth.fetch_sub(n);
        for (auto& sh : shards) {
            for (auto& e : sh.taken) batch.push_back(std::move(e));
            sh.taken.clear();  // keeps its capacity for the next swap
        }
    }

    bool shards_empty() {
        for (auto& sh : shards) {
            std::lock_guard<std::mutex> g(sh.m);
            if (!sh.q.empty()) return false;
        }
        return true;
    }

    void run() {
        std::vector<UsageEvent> batch;
        batch.reserve(std::min(opt.queue_capacity, std::max<std::size_t>(opt.batch_size * 4, 1024)));
        std::unique_lock<std::mutex> lk(mu);
        for (;;) {
            auto deadline = Clock::now() + opt.flush_interval;
            wake_worker.wait_until(lk, deadline, [&] {
                return stopping || depth >= opt.batch_size ||
                       (flush_waiters > 0 &&
                        (depth > 0 || ((durable < accepted || spool_pending) && may_try_locked())));
            });
            bool stop = stopping;
            // Read before the swaps: every event numbered up to here was
            // appended (under its shard's lock) before its shard is swapped,
            // so it is now either in this batch or in the spool.
            std::uint64_t upto = accepted;
            std::uint64_t spills_before = spills;
            lk.unlock();

            take_all(batch);
            if (!batch.empty()) {
                std::lock_guard<std::mutex> g(mu);
                room.notify_all();
            }
            assign_request_ids(batch);
            bool spool_empty = process(batch, stop);
            batch.clear();  // keeps its capacity for the next swap
            bool drained = stop && shards_empty();

            lk.lock();
            // A spill during process() may have missed the replay.
            if (spills != spills_before) spool_empty = false;
            spool_pending = !spool_empty;
            if (spool_empty) durable = std::max(durable, upto);
            progress.notify_all();
            if (drained) break;
        }
    }

    // Every event gets its request id before it is first sent or spooled,
    // and keeps it through retries and replays.
    static void assign_request_ids(std::vector<UsageEvent>& events) {
        for (auto& e : events)
            if (!e.request_id) e.request_id = generate_request_id();
    }

    // Sends what one swap took: the spool first (to keep order), then
    // batches of at most batch_size events, up to `connections` of them at
    // a time. What cannot be sent is spooled, in order. Returns true when
    // nothing is left in the spool.
    bool process(std::vector<UsageEvent>& taken, bool stopping_now) {
        bool spool_empty = true;
        try {
            std::uint64_t sz;
            {
                std::lock_guard<std::mutex> g(spool_mu);
                sz = spool.size();
            }
            if (sz > 0) spool_empty = may_try() && !stopping_now ? replay() : false;
        } catch (const std::exception& e) {
            report(std::string("tokenledger recorder: spool replay failed: ") + e.what());
            spool_empty = false;
        }
        if (taken.empty()) return spool_empty;

        // The single-batch case sends `taken` itself, which keeps its
        // capacity for the next swap (record() then never allocates).
        std::vector<std::vector<UsageEvent>> owned;
        std::vector<std::vector<UsageEvent>*> batches;
        if (taken.size() <= opt.batch_size) {
            batches.push_back(&taken);
        } else {
            owned.reserve((taken.size() + opt.batch_size - 1) / opt.batch_size);
            for (std::size_t at = 0; at < taken.size(); at += opt.batch_size) {
                std::size_t end = std::min(taken.size(), at + opt.batch_size);
                owned.emplace_back(std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(at)),
                                   std::make_move_iterator(taken.begin() + static_cast<std::ptrdiff_t>(end)));
                batches.push_back(&owned.back());
            }
        }

        std::size_t next = 0;
        while (spool_empty && next < batches.size()) {
            std::size_t k = std::min(senders.size(), batches.size() - next);
            for (std::size_t j = 1; j < k; ++j) {
                Helper& h = *helpers[j - 1];
                std::lock_guard<std::mutex> g(h.m);
                h.job = batches[next + j];
                h.done = false;
                h.cv.notify_all();
            }
            std::vector<Sent> results(k);
            results[0] = send(senders[0], *batches[next]);
            for (std::size_t j = 1; j < k; ++j) {
                Helper& h = *helpers[j - 1];
                std::unique_lock<std::mutex> g(h.m);
                h.cv.wait(g, [&] { return h.done; });
                results[j] = h.result;
                h.job = nullptr;
            }
            for (std::size_t j = 0; j < k; ++j) {
                if (results[j] == Sent::Ok) {
                    bump(&RecorderStats::sent, batches[next + j]->size());
                } else {
                    spool_or_drop(*batches[next + j]);
                    spool_empty = false;
                }
            }
            next += k;
        }
        for (; next < batches.size(); ++next) spool_or_drop(*batches[next]);
        return spool_empty;
    }
};

Recorder::Recorder(RecorderOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    try {
        impl_->start();
    } catch (...) {
        // No thread could be started: stop the helpers that were.
        impl_->stop_helpers();
        throw;
    }
}

Recorder::~Recorder() {
    if (!impl_) return;
    try {
        {
            std::lock_guard<std::mutex> g(impl_->mu);
            impl_->stopping = true;
        }
        impl_->wake_worker.notify_all();
        impl_->room.notify_all();
        // The worker drains the queue: batches go to the database while it
        // answers, otherwise (or once the timeout is near) to the spool.
        auto deadline = Clock::now() + impl_->opt.shutdown_timeout;
        {
            std::unique_lock<std::mutex> lk(impl_->mu);
            impl_->progress.wait_until(lk, deadline, [&] { return impl_->depth == 0; });
            if (impl_->depth != 0) {
                // Out of time: spool whatever is still queued.
                std::vector<UsageEvent> rest;
                for (auto& sh : impl_->shards) {
                    std::lock_guard<std::mutex> g(sh.m);
                    for (auto& e : sh.q) rest.push_back(std::move(e));
                    impl_->depth -= sh.q.size();
                    sh.q.clear();
                }
                lk.unlock();
                impl_->to_spool(rest);
                impl_->bump(&RecorderStats::spooled, rest.size());
            }
        }
        impl_->wake_worker.notify_all();
        if (impl_->worker.joinable()) impl_->worker.join();
    } catch (...) {
        if (impl_->worker.joinable()) impl_->worker.join();
    }
    impl_->stop_helpers();
}

bool Recorder::record(UsageEvent ev) {
    // The app thread only stamps the time and moves the event into its
    // shard; the request id is generated on the background thread.
    if (!ev.occurred_at) ev.occurred_at = std::chrono::system_clock::now();
    Impl& m = *impl_;
    if (m.depth >= m.opt.queue_capacity && !m.stopping) {
        switch (m.opt.full_policy) {
        case FullPolicy::Drop:
            ++m.dropped_count;
            return false;
        case FullPolicy::Block: {
            std::unique_lock<std::mutex> lk(m.mu);
            m.room.wait(lk, [&] { return m.depth < m.opt.queue_capacity || m.stopping; });
            break;
        }
        case FullPolicy::Spill: {
            // Written while holding mu, so a flush() can never see the event
            // as durable before it is in the spool.
            std::unique_lock<std::mutex> lk(m.mu);
            if (m.stopping) break;
            try {
                std::vector<UsageEvent> one;
                one.push_back(std::move(ev));
                m.to_spool(one);
            } catch (const std::exception& e) {
                ++m.dropped_count;
                lk.unlock();
                m.report(std::string("tokenledger recorder: spill failed, event lost: ") + e.what());
                return false;
            }
            ++m.accepted;
            ++m.st.spooled;
            m.spool_pending = true;
            ++m.spills;
            return true;
        }
        }
    }
    // Each thread keeps to one shard (its events keep their order).
    static std::atomic<std::size_t> next_thread{0};
    thread_local const std::size_t thread_index = next_thread.fetch_add(1);
    Impl::Shard& sh = m.shards[thread_index % Impl::kShards];
    std::size_t now_queued;
    {
        std::lock_guard<std::mutex> g(sh.m);
        // Checked under the shard lock: the worker's last look at this
        // shard comes after stopping is set, so an event appended here is
        // never left behind.
        if (m.stopping) {
            ++m.dropped_count;
            return false;
        }
        sh.q.push_back(std::move(ev));
        ++m.accepted;
        now_queued = ++m.depth;
    }
    ++m.queued_count;
    // Wake the worker once, when the queue reaches a full batch (under mu,
    // so the wake-up cannot slip in between its check and its wait).
    if (now_queued == m.opt.batch_size) {
        std::lock_guard<std::mutex> g(m.mu);
        m.wake_worker.notify_one();
    }
    return true;
}

bool Recorder::flush(std::chrono::milliseconds timeout) {
    Impl& m = *impl_;
    auto deadline = Clock::now() + timeout;
    std::unique_lock<std::mutex> lk(m.mu);
    std::uint64_t target = m.accepted;
    ++m.flush_waiters;
    m.wake_worker.notify_all();
    bool ok = m.progress.wait_until(lk, deadline, [&] { return m.durable >= target && !m.spool_pending; });
    --m.flush_waiters;
    return ok;
}

RecorderStats Recorder::stats() const {
    std::lock_guard<std::mutex> g(impl_->mu);
    RecorderStats s = impl_->st;
    s.queued = impl_->queued_count;
    s.dropped += impl_->dropped_count;
    s.queue_depth = impl_->depth;
    return s;
}

}  // namespace tokenledger
