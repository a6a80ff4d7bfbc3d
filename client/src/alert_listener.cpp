#include "tokenledger/alert_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace tokenledger {

Alert parse_alert(const std::string& channel, const std::string& payload, int sender_pid) {
    Alert a;
    a.channel = channel;
    a.payload = payload;
    a.sender_pid = sender_pid;
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
        a.parsed = true;
        for (auto it = j.begin(); it != j.end(); ++it)
            a.fields[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
        auto get = [&](const char* k) {
            auto f = a.fields.find(k);
            return f == a.fields.end() || f->second == "null" ? std::string() : f->second;
        };
        a.user_id = get("user_id");
        a.plan = get("plan");
        a.limit_name = get("limit");
        a.used = get("used");
        a.limit_value = get("limit_value");
        a.unit = get("unit");
        if (j.contains("alert_id") && j["alert_id"].is_number_integer()) a.alert_id = j["alert_id"].get<std::int64_t>();
        if (j.contains("threshold_pct") && j["threshold_pct"].is_number_integer())
            a.threshold_pct = j["threshold_pct"].get<int>();
    }
    return a;
}

struct AlertListener::Impl {
    AlertListenerOptions opt;
    std::function<void(const Alert&)> callback;
    std::atomic<bool> stop{false};
    std::atomic<bool> is_listening{false};
    std::atomic<std::uint64_t> reconnect_count{0};
    mutable std::mutex mu;
    mutable std::condition_variable cv;  // listening changed, or stop
    std::thread worker;

    void report(const std::string& m) noexcept {
        if (!opt.on_error) return;
        try {
            opt.on_error(m);
        } catch (...) {
        }
    }

    void set_listening(bool v) {
        {
            std::lock_guard<std::mutex> g(mu);
            is_listening = v;
        }
        cv.notify_all();
    }

    // Sleeps up to d, waking early for stop.
    void nap(std::chrono::milliseconds d) {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait_for(lk, d, [&] { return stop.load(); });
    }

    using Conn = std::unique_ptr<PGconn, decltype(&PQfinish)>;

    Conn connect() {
        Conn c(PQconnectdb(opt.conninfo.c_str()), &PQfinish);
        if (!c || PQstatus(c.get()) != CONNECTION_OK) {
            report("tokenledger alert listener: could not connect: " +
                   std::string(c ? PQerrorMessage(c.get()) : "out of memory"));
            return Conn(nullptr, &PQfinish);
        }
        PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
        char* ch = PQescapeIdentifier(c.get(), opt.channel.c_str(), opt.channel.size());
        std::string sql = "LISTEN " + std::string(ch ? ch : "\"\"");
        if (ch) PQfreemem(ch);
        std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), sql.c_str()), &PQclear);
        if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
            report("tokenledger alert listener: LISTEN failed: " + std::string(PQerrorMessage(c.get())));
            return Conn(nullptr, &PQfinish);
        }
        return c;
    }

    void run() {
        auto backoff = opt.reconnect_initial;
        bool first = true;
        while (!stop) {
            Conn c = connect();
            if (!c) {
                nap(backoff);
                backoff = std::min(backoff * 2, opt.reconnect_max);
                continue;
            }
            if (!first) ++reconnect_count;
            first = false;
            backoff = opt.reconnect_initial;
            set_listening(true);
            listen(c.get());
            set_listening(false);
        }
    }

    // Waits for notifications until stop or a lost connection.
    void listen(PGconn* c) {
        while (!stop) {
            int sock = PQsocket(c);
            if (sock < 0) return;
            // poll, not select: a descriptor above FD_SETSIZE must not break it.
            pollfd p{sock, POLLIN, 0};
            int n = ::poll(&p, 1, 100);  // wake up to notice stop
            if (n < 0 && errno != EINTR) return;
            if (n > 0 && (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)) {
                report("tokenledger alert listener: connection lost: " + std::string(PQerrorMessage(c)));
                return;
            }
            while (PGnotify* nt = PQnotifies(c)) {
                Alert a = parse_alert(nt->relname, nt->extra ? nt->extra : "", nt->be_pid);
                PQfreemem(nt);
                try {
                    callback(a);
                } catch (const std::exception& e) {
                    report(std::string("tokenledger alert listener: callback threw: ") + e.what());
                } catch (...) {
                    report("tokenledger alert listener: callback threw");
                }
            }
        }
    }
};

AlertListener::AlertListener(AlertListenerOptions options, std::function<void(const Alert&)> callback)
    : impl_(std::make_unique<Impl>()) {
    impl_->opt = std::move(options);
    impl_->callback = std::move(callback);
    impl_->worker = std::thread([this] { impl_->run(); });
}

AlertListener::~AlertListener() {
    if (!impl_) return;
    {
        std::lock_guard<std::mutex> g(impl_->mu);
        impl_->stop = true;
    }
    impl_->cv.notify_all();
    if (impl_->worker.joinable()) impl_->worker.join();
}

bool AlertListener::listening() const noexcept { return impl_->is_listening; }

bool AlertListener::wait_listening(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lk(impl_->mu);
    return impl_->cv.wait_for(lk, timeout, [&] { return impl_->is_listening.load(); });
}

std::uint64_t AlertListener::reconnects() const noexcept { return impl_->reconnect_count; }

}  // namespace tokenledger
