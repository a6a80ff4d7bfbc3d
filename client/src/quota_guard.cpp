// QuotaGuard: quota_check / quota_reserve / quota_release over libpq's
// asynchronous API, so that no call outlives its deadline.
#include "tokenledger/quota_guard.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include "quota_sql.hpp"

namespace tokenledger {
namespace {

using Clock = std::chrono::steady_clock;

using detail::ConnPtr;
using detail::ResultPtr;
using detail::error_field;
using detail::trim;

const char* kCheck = "tl_guard_check";
const char* kReserve = "tl_guard_reserve";
const char* kRelease = "tl_guard_release";

}  // namespace

struct QuotaGuard::Impl {
    QuotaGuardOptions opt;
    ConnPtr conn;

    // Asks the server to cancel the statement in flight, on a thread of its
    // own: PQcancel blocks (it opens a connection), and the caller's
    // deadline has already passed.
    void cancel_in_background() noexcept {
        PGcancel* cancel = conn ? PQgetCancel(conn.get()) : nullptr;
        if (!cancel) return;
        try {
            std::thread([cancel] {
                char err[256];
                PQcancel(cancel, err, sizeof err);
                PQfreeCancel(cancel);
            }).detach();
        } catch (...) {
            PQfreeCancel(cancel);
        }
    }

    [[noreturn]] void timed_out(const char* what) {
        // The statement_timeout (set a little below the deadline) normally
        // fires first; when the deadline wins (a slow connect, a hung
        // backend), cancel the statement and drop the connection.
        cancel_in_background();
        conn.reset();
        throw Timeout(std::string("quota ") + what + " timed out after " + std::to_string(opt.timeout.count()) +
                          " ms",
                      "57014", "Raise QuotaGuardOptions::timeout, or check the database's load and locks.");
    }

    [[noreturn]] void lost(const char* what) {
        std::string msg = conn ? trim(PQerrorMessage(conn.get())) : "";
        conn.reset();
        throw NotConnected(std::string("quota ") + what + ": connection to the database lost" +
                               (msg.empty() ? "" : ": " + msg),
                           "08006");
    }

    // Waits until the socket is ready (read, or write too) or the deadline.
    // Returns the poll revents.
    short wait(bool want_write, Clock::time_point deadline, const char* what) {
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count() + 1;
            if (Clock::now() >= deadline) timed_out(what);
            pollfd p{PQsocket(conn.get()), static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
            if (p.fd < 0) lost(what);
            int n = ::poll(&p, 1, static_cast<int>(left));
            if (n > 0) return p.revents;
            if (n < 0 && errno != EINTR) lost(what);
        }
    }

    // Sends one command and collects its results within the deadline. The
    // first error result wins; otherwise the last result is returned.
    ResultPtr run(const std::function<int(PGconn*)>& send, ExecStatusType want, Clock::time_point deadline,
                  const char* what) {
        PGconn* c = conn.get();
        if (!send(c)) lost(what);
        for (;;) {
            int f = PQflush(c);
            if (f == 0) break;
            if (f < 0) lost(what);
            if ((wait(true, deadline, what) & POLLIN) && !PQconsumeInput(c)) lost(what);
        }
        ResultPtr out;
        for (;;) {
            while (!PQisBusy(c)) {
                ResultPtr r(PQgetResult(c));
                if (!r) {
                    if (!out) lost(what);
                    if (PQresultStatus(out.get()) != want) fail(out.get(), what);
                    return out;
                }
                if (!out || PQresultStatus(out.get()) != PGRES_FATAL_ERROR) out = std::move(r);
            }
            wait(false, deadline, what);
            if (!PQconsumeInput(c)) lost(what);
        }
    }

    [[noreturn]] void fail(const PGresult* r, const char* what) {
        std::string state = error_field(r, PG_DIAG_SQLSTATE);
        if (state.empty() || PQstatus(conn.get()) != CONNECTION_OK) lost(what);
        std::string msg = error_field(r, PG_DIAG_MESSAGE_PRIMARY);
        throw_for_sqlstate(msg.empty() ? trim(PQresultErrorMessage(r)) : msg, state,
                           error_field(r, PG_DIAG_MESSAGE_HINT));
    }

    // Connects without blocking past the deadline, sets statement_timeout
    // and prepares the three statements.
    void connect(Clock::time_point deadline) {
        const char* keys[] = {"dbname", "fallback_application_name", nullptr};
        const char* vals[] = {opt.conninfo.c_str(), "tokenledger-quota-guard", nullptr};
        conn.reset(PQconnectStartParams(keys, vals, 1));
        if (!conn) throw NotConnected("out of memory allocating a connection");
        if (PQstatus(conn.get()) == CONNECTION_BAD) lost("connect");
        PostgresPollingStatusType st = PGRES_POLLING_WRITING;
        while (st != PGRES_POLLING_OK) {
            if (st == PGRES_POLLING_FAILED) {
                std::string msg = trim(PQerrorMessage(conn.get()));
                conn.reset();
                throw NotConnected("could not connect to the database: " + msg, "08001");
            }
            wait(st == PGRES_POLLING_WRITING, deadline, "connect");
            st = PQconnectPoll(conn.get());
        }
        PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
        if (PQsetnonblocking(conn.get(), 1) != 0) lost("connect");
        // A little below the deadline, so that the server normally gives up
        // first and the connection stays usable.
        long long statement_ms = std::max<long long>(1, opt.timeout.count() * 9 / 10);
        std::string setup = "SET statement_timeout = " + std::to_string(statement_ms) +
                            "; SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
                            "ON n.oid = e.extnamespace WHERE e.extname = 'tokenledger'";
        auto r = run([&](PGconn* c) { return PQsendQuery(c, setup.c_str()); }, PGRES_TUPLES_OK, deadline, "connect");
        if (PQntuples(r.get()) != 1) {
            conn.reset();
            throw ServerError("the tokenledger extension is not installed in this database", "42704",
                              "Run CREATE EXTENSION tokenledger; or connect to the right database.");
        }
        char* q = PQescapeIdentifier(conn.get(), PQgetvalue(r.get(), 0, 0), PQgetlength(r.get(), 0, 0));
        if (!q) lost("connect");
        std::string s = q;
        PQfreemem(q);
        const std::pair<const char*, std::string> stmts[] = {
            {kCheck, detail::with_schema(detail::quota_check_sql(), s)},
            {kReserve, detail::with_schema(detail::quota_reserve_sql(), s)},
            {kRelease, detail::with_schema(detail::quota_release_sql(), s)},
        };
        for (auto& [name, sql] : stmts)
            run([&](PGconn* c) { return PQsendPrepare(c, name, sql.c_str(), 0, nullptr); }, PGRES_COMMAND_OK, deadline,
                "connect");
    }

    // Runs a prepared statement, connecting first if needed. A connection
    // found dead (e.g. after a server restart) is replaced once, within the
    // same deadline.
    ResultPtr exec(const char* name, const std::vector<std::string>& params, const char* what) {
        auto deadline = Clock::now() + opt.timeout;
        std::vector<const char*> p;
        for (auto& x : params) p.push_back(x.c_str());
        auto send = [&](PGconn* c) {
            return PQsendQueryPrepared(c, name, static_cast<int>(p.size()), p.data(), nullptr, nullptr, 0);
        };
        bool fresh = !conn || PQstatus(conn.get()) != CONNECTION_OK;
        if (fresh) connect(deadline);
        try {
            return run(send, PGRES_TUPLES_OK, deadline, what);
        } catch (const NotConnected&) {
            if (fresh || Clock::now() >= deadline) throw;
        }
        connect(deadline);
        return run(send, PGRES_TUPLES_OK, deadline, what);
    }

    QuotaDecision decide(const char* name, const std::vector<std::string>& params, const char* what) {
        try {
            auto r = exec(name, params, what);
            QuotaDecision d = detail::read_quota_decision(r.get(), name == kReserve);
            d.unavailable_status = opt.unavailable_status;
            return d;
        } catch (const InvalidInput&) {
            throw;  // the caller's bug, not an outage
        } catch (const Error& e) {
            if (opt.on_error) {
                try {
                    opt.on_error(e);
                } catch (...) {
                }
            }
            QuotaDecision d;
            d.source = opt.fail_policy == FailPolicy::Open ? QuotaSource::FailOpen : QuotaSource::FailClosed;
            d.allowed = opt.fail_policy == FailPolicy::Open;
            d.error = e.what();
            d.error_sqlstate = e.sqlstate();
            d.unavailable_status = opt.unavailable_status;
            if (!d.allowed) d.retry_after = opt.unavailable_retry_after;
            return d;
        }
    }
};

QuotaGuard::QuotaGuard(QuotaGuardOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->opt = std::move(options);
    if (impl_->opt.timeout <= std::chrono::milliseconds::zero())
        throw InvalidInput("QuotaGuardOptions::timeout must be positive", "22023",
                           "Give the longest time a quota call may take, such as 200 ms.");
}
QuotaGuard::~QuotaGuard() = default;
QuotaGuard::QuotaGuard(QuotaGuard&&) noexcept = default;
QuotaGuard& QuotaGuard::operator=(QuotaGuard&&) noexcept = default;

QuotaDecision QuotaGuard::check(const std::string& user_id, std::int64_t est_tokens, std::int64_t est_cost_nano_usd) {
    return impl_->decide(kCheck, detail::quota_params(user_id, est_tokens, est_cost_nano_usd), "check");
}

QuotaDecision QuotaGuard::reserve(const std::string& user_id, std::int64_t est_tokens, std::int64_t est_cost_nano_usd,
                                  std::chrono::seconds ttl) {
    if (ttl == std::chrono::seconds::zero()) ttl = impl_->opt.reservation_ttl;
    return impl_->decide(kReserve, detail::quota_reserve_params(user_id, est_tokens, est_cost_nano_usd, ttl),
                         "reserve");
}

bool QuotaGuard::release(std::int64_t reservation_id) {
    auto r = impl_->exec(kRelease, {std::to_string(reservation_id)}, "release");
    return detail::RowReader(r.get(), 0).boolean();
}

bool QuotaGuard::connected() const noexcept {
    return impl_ && impl_->conn && PQstatus(impl_->conn.get()) == CONNECTION_OK;
}

const QuotaGuardOptions& QuotaGuard::options() const noexcept { return impl_->opt; }

}  // namespace tokenledger
