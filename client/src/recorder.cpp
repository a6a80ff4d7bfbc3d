#include "tokenledger/recorder.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
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
    std::deque<std::pair<std::uint64_t, UsageEvent>> queue;  // (sequence number, event)
    std::uint64_t accepted = 0;            // sequence number of the last accepted event
    std::uint64_t durable = 0;             // every accepted event <= this is in the database
    int flush_waiters = 0;
    bool spool_pending = false;            // the spool may hold events not yet in the database
    std::uint64_t spills = 0;              // events spilled by record() (Spill policy)
    bool stopping = false;
    RecorderStats st;

    std::mutex spool_mu;                   // serialises spool access; lock order: mu, then spool_mu
    std::uint64_t replay_offset = 0;       // spool bytes already replayed (worker only)

    std::unique_ptr<Client> client;        // worker thread only
    Clock::time_point next_attempt{};      // backoff deadline for reaching the database
    std::chrono::milliseconds backoff{0};
    std::thread worker;

    explicit Impl(RecorderOptions o) : opt(std::move(o)), spool(opt.spool_path) {
        if (opt.batch_size == 0) opt.batch_size = 1;
        if (opt.queue_capacity < opt.batch_size) opt.queue_capacity = opt.batch_size;
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
                client->insert_batch(events);
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

    void to_spool(const std::vector<UsageEvent>& events) {
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
        std::unique_lock<std::mutex> lk(mu);
        for (;;) {
            auto deadline = Clock::now() + opt.flush_interval;
            wake_worker.wait_until(lk, deadline, [&] {
                return stopping || queue.size() >= opt.batch_size ||
                       (flush_waiters > 0 && (!queue.empty() || ((durable < accepted || spool_pending) && may_try())));
            });
            bool stop = stopping;
            std::vector<UsageEvent> batch;
            std::size_t n = std::min(queue.size(), opt.batch_size);
            batch.reserve(n);
            for (std::size_t i = 0; i < n; ++i) {
                batch.push_back(std::move(queue.front().second));
                queue.pop_front();
            }
            // Everything accepted so far except what is still queued is now
            // either in this batch or in the spool.
            std::uint64_t upto = queue.empty() ? accepted : queue.front().first - 1;
            std::uint64_t spills_before = spills;
            if (n) room.notify_all();
            lk.unlock();

            bool spool_empty = process(batch, stop);

            lk.lock();
            // A spill during process() may have missed the replay.
            if (spills != spills_before) spool_empty = false;
            spool_pending = !spool_empty;
            if (spool_empty) {
                std::uint64_t now_upto = queue.empty() ? upto : std::min(upto, queue.front().first - 1);
                durable = std::max(durable, now_upto);
            }
            progress.notify_all();
            if (stop && queue.empty()) break;
        }
    }

    // Sends one batch (after replaying the spool, to keep order) or spools
    // it. Returns true when nothing is left in the spool.
    bool process(const std::vector<UsageEvent>& batch, bool stopping_now) {
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
                for (auto& q : impl_->queue) rest.push_back(std::move(q.second));
                impl_->queue.clear();
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
    if (!ev.request_id) ev.request_id = generate_request_id();
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
                m.to_spool({ev});
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
    m.queue.emplace_back(++m.accepted, std::move(ev));
    ++m.st.queued;
    bool full_batch = m.queue.size() >= m.opt.batch_size;
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
