#include "tokenledger/recorder.hpp"

#include <atomic>
#include <condition_variable>
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

    mutable std::mutex mu;                 // guards the queue and the counters below
    std::condition_variable wake_worker;   // batch full, flush requested, stopping
    std::condition_variable room;          // queue has room (Block policy)
    std::condition_variable progress;      // a batch or replay finished
    // record() appends here; the worker swaps the whole vector out, and
    // hands back the one it emptied, so both keep their capacity and
    // record() does not allocate once they have grown.
    std::vector<UsageEvent> queue;
    std::vector<UsageEvent> spare;
    std::uint64_t accepted = 0;            // number of events accepted so far
    std::uint64_t durable = 0;             // every accepted event <= this is in the database
    int flush_waiters = 0;
    bool spool_pending = false;            // the spool may hold events not yet in the database
    std::uint64_t spills = 0;              // events spilled by record() (Spill policy)
    bool stopping = false;
    RecorderStats st;

    std::mutex spool_mu;                   // serialises spool access; lock order: mu, then spool_mu
    std::uint64_t replay_offset = 0;       // spool bytes already replayed (worker only)

    std::unique_ptr<Client> client;        // worker thread only
    bool use_pipeline = false;             // worker only: send method in effect
    Clock::time_point next_attempt{};      // backoff deadline for reaching the database
    std::chrono::milliseconds backoff{0};
    std::thread worker;

    explicit Impl(RecorderOptions o) : opt(std::move(o)), spool(opt.spool_path) {
        if (opt.batch_size == 0) opt.batch_size = 1;
        if (opt.queue_capacity < opt.batch_size) opt.queue_capacity = opt.batch_size;
        use_pipeline = opt.send_method == SendMethod::Pipeline;
        std::size_t reserve = std::min(opt.queue_capacity, std::max<std::size_t>(opt.batch_size * 4, 1024));
        queue.reserve(reserve);
        spare.reserve(reserve);
        st.torn = spool.torn_at_open();
        spool_pending = spool.size() > 0;
        for (auto& p : spool.open_problems()) report(p);
    }

    void report(const std::string& msg) noexcept {
        if (!opt.on_error) return;
        try {
            opt.on_error(msg);
        } catch (...) {
        }
    }

    void bump(std::uint64_t RecorderStats::*field, std::uint64_t n) {
        std::lock_guard<std::mutex> g(mu);
        st.*field += n;
    }

    // --- talking to the database (worker thread) ---------------------------

    void note_failure(const std::string& what) {
        backoff = backoff.count() == 0 ? opt.backoff_initial : std::min(backoff * 2, opt.backoff_max);
        next_attempt = Clock::now() + backoff;
        report(what);
    }

    bool may_try() const { return Clock::now() >= next_attempt; }

    bool ensure_connected() {
        if (client && client->connected()) return true;
        try {
            if (client)
                client->reconnect();
            else
                client = std::make_unique<Client>(opt.conninfo);
            return true;
        } catch (const Error& e) {
            note_failure(std::string("tokenledger recorder: ") + e.what());
            return false;
        }
    }

    enum class Sent { Ok, Down };

    // Sends events; invalid ones are rejected one by one so the rest land.
    // Returns Down when the database could not be reached after the allowed
    // attempts (nothing is known to be committed; a resend is safe because
    // every event carries a request id).
    Sent send(const std::vector<UsageEvent>& events) {
        for (int attempt = 0; attempt < std::max(1, opt.max_attempts); ++attempt) {
            if (attempt > 0) {
                bump(&RecorderStats::retried, 1);
                std::unique_lock<std::mutex> lk(mu);
                // Sleep out the backoff, but wake for shutdown.
                wake_worker.wait_until(lk, next_attempt, [&] { return stopping; });
                if (stopping && Clock::now() < next_attempt) return Sent::Down;
            } else if (!may_try()) {
                return Sent::Down;
            }
            if (!ensure_connected()) continue;
            try {
                send_batch(events);
                backoff = std::chrono::milliseconds(0);
                return Sent::Ok;
            } catch (const InvalidInput&) {
                return send_one_by_one(events);
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
    void send_batch(const std::vector<UsageEvent>& events) {
        if (!use_pipeline) {
            try {
                client->insert_batch_arrays(events);
                return;
            } catch (const ServerError& e) {
                if (e.sqlstate() != "42883") throw;
                use_pipeline = true;
                report("tokenledger recorder: usage_log_insert_batch is missing (extension older than 0.2.0); "
                       "sending batches with libpq pipeline mode");
            }
        }
        client->insert_batch(events);
    }

    Sent send_one_by_one(const std::vector<UsageEvent>& events) {
        for (const auto& ev : events) {
            try {
                client->insert(ev);
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

    void to_spool(std::vector<UsageEvent>& events) {
        assign_request_ids(events);
        std::lock_guard<std::mutex> g(spool_mu);
        spool.append(events);
    }

    // Replays the spool in order. True when it is empty afterwards.
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
            if (!c.events.empty() && send(c.events) != Sent::Ok) return false;
            bump(&RecorderStats::replayed, c.events.size());
            replay_offset = c.end;
        }
    }

    // --- the background thread -------------------------------------------

    void run() {
        std::vector<UsageEvent> batch = std::move(spare);
        std::unique_lock<std::mutex> lk(mu);
        for (;;) {
            auto deadline = Clock::now() + opt.flush_interval;
            wake_worker.wait_until(lk, deadline, [&] {
                return stopping || queue.size() >= opt.batch_size ||
                       (flush_waiters > 0 && (!queue.empty() || ((durable < accepted || spool_pending) && may_try())));
            });
            bool stop = stopping;
            // Take everything queued in O(1): producers are held up only for
            // the swap. Everything accepted so far is now either in this
            // batch or in the spool.
            batch.swap(queue);
            std::uint64_t upto = accepted;
            std::uint64_t spills_before = spills;
            if (!batch.empty()) room.notify_all();
            lk.unlock();

            assign_request_ids(batch);
            bool spool_empty = process_all(batch, stop);
            batch.clear();  // keeps its capacity for the next swap

            lk.lock();
            // A spill during process() may have missed the replay.
            if (spills != spills_before) spool_empty = false;
            spool_pending = !spool_empty;
            if (spool_empty) durable = std::max(durable, upto);
            progress.notify_all();
            if (stop && queue.empty()) break;
        }
    }

    // Every event gets its request id before it is first sent or spooled,
    // and keeps it through retries and replays.
    static void assign_request_ids(std::vector<UsageEvent>& events) {
        for (auto& e : events)
            if (!e.request_id) e.request_id = generate_request_id();
    }

    // Sends what one swap took, at most batch_size events per statement, in
    // order. Returns true when nothing is left in the spool.
    bool process_all(std::vector<UsageEvent>& taken, bool stopping_now) {
        if (taken.size() <= opt.batch_size) return process(taken, stopping_now);
        bool spool_empty = true;
        std::vector<UsageEvent> chunk;
        chunk.reserve(opt.batch_size);
        for (std::size_t at = 0; at < taken.size(); at += opt.batch_size) {
            std::size_t end = std::min(taken.size(), at + opt.batch_size);
            chunk.clear();
            for (std::size_t i = at; i < end; ++i) chunk.push_back(std::move(taken[i]));
            spool_empty = process(chunk, stopping_now);
        }
        return spool_empty;
    }

    // Sends one batch (after replaying the spool, to keep order) or spools
    // it. Returns true when nothing is left in the spool.
    bool process(std::vector<UsageEvent>& batch, bool stopping_now) {
        bool spool_empty = true;
        try {
            std::uint64_t sz;
            {
                std::lock_guard<std::mutex> g(spool_mu);
                sz = spool.size();
            }
            if (sz > 0) spool_empty = may_try() && !stopping_now ? replay() : false;
            if (batch.empty()) return spool_empty;
            if (spool_empty && send(batch) == Sent::Ok) {
                bump(&RecorderStats::sent, batch.size());
                return true;
            }
            to_spool(batch);
            bump(&RecorderStats::spooled, batch.size());
            return false;
        } catch (const std::exception& e) {
            // The spool itself failed (disk full, ...): the events of this
            // batch cannot be kept. Report loudly; count them as dropped.
            bump(&RecorderStats::dropped, batch.size());
            report(std::string("tokenledger recorder: spool write failed, events lost: ") + e.what());
            return false;
        }
    }
};

Recorder::Recorder(RecorderOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    impl_->worker = std::thread([this] { impl_->run(); });
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
            impl_->progress.wait_until(lk, deadline, [&] { return impl_->queue.empty(); });
            if (!impl_->queue.empty()) {
                // Out of time: spool whatever is still queued.
                std::vector<UsageEvent> rest;
                rest.swap(impl_->queue);
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
}

bool Recorder::record(UsageEvent ev) {
    // The app thread only stamps the time and moves the event into the
    // queue; the request id is generated on the background thread.
    if (!ev.occurred_at) ev.occurred_at = std::chrono::system_clock::now();
    Impl& m = *impl_;
    std::unique_lock<std::mutex> lk(m.mu);
    if (m.stopping) {
        ++m.st.dropped;
        return false;
    }
    if (m.queue.size() >= m.opt.queue_capacity) {
        switch (m.opt.full_policy) {
        case FullPolicy::Drop:
            ++m.st.dropped;
            return false;
        case FullPolicy::Block:
            m.room.wait(lk, [&] { return m.queue.size() < m.opt.queue_capacity || m.stopping; });
            if (m.stopping) {
                ++m.st.dropped;
                return false;
            }
            break;
        case FullPolicy::Spill: {
            // Written while holding the queue lock, so a flush() can never
            // see the event as durable before it is in the spool.
            try {
                std::vector<UsageEvent> one;
                one.push_back(std::move(ev));
                m.to_spool(one);
            } catch (const std::exception& e) {
                ++m.st.dropped;
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
    m.queue.push_back(std::move(ev));
    ++m.accepted;
    ++m.st.queued;
    // Wake the worker once, when the queue reaches a full batch (it checks
    // the queue again before it sleeps, so later events need no wake-up).
    bool full_batch = m.queue.size() == m.opt.batch_size;
    lk.unlock();
    if (full_batch) m.wake_worker.notify_one();
    return true;
}

bool Recorder::flush(std::chrono::milliseconds timeout) {
    Impl& m = *impl_;
    auto deadline = Clock::now() + timeout;
    std::unique_lock<std::mutex> lk(m.mu);
    std::uint64_t target = m.accepted;
    ++m.flush_waiters;
    m.wake_worker.notify_one();
    bool ok = m.progress.wait_until(lk, deadline, [&] { return m.durable >= target && !m.spool_pending; });
    --m.flush_waiters;
    return ok;
}

RecorderStats Recorder::stats() const {
    std::lock_guard<std::mutex> g(impl_->mu);
    RecorderStats s = impl_->st;
    s.queue_depth = impl_->queue.size();
    return s;
}

}  // namespace tokenledger
