#include <poll.h>

#include "client_impl.hpp"

namespace tokenledger {

using detail::ResultPtr;
using detail::Statement;
using detail::trim;

namespace {

// libpq's parameter values: a pointer per parameter, NULL for SQL NULL.
std::vector<const char*> param_values(const Params& params) {
    std::vector<const char*> p;
    p.reserve(params.size());
    for (auto& x : params) p.push_back(x ? x->c_str() : nullptr);
    return p;
}

// usage_log_insert's parameter types, so that every event's text parameters
// are parsed the same way without casts in the SQL.
constexpr Oid kInsertTypes[21] = {25, 25, 20, 20, 20, 20, 20, 20, 25, 25, 25,
                              25, 25, 25, 1184, 23, 16, 25, 3802, 25, 20};

constexpr Statement kInsert{"tl_usage_log_insert",
                        "SELECT {schema}.usage_log_insert($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                        "$14, coalesce($15, pg_catalog.now()), $16, $17, $18, $19, $20, $21)",
                        21, kInsertTypes};
constexpr Statement kInsertUsage{"tl_usage_log_insert_usage",
                             "SELECT {schema}.usage_log_insert_usage($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, "
                             "coalesce($10::timestamptz, pg_catalog.now()), $11, $12, $13, $14::jsonb, $15, $16, "
                             "$17::bigint)",
                             17};
constexpr Statement kNormalize{"tl_usage_normalize",
                           "SELECT input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
                           "cache_write_1h_tokens, reasoning_tokens, detected_format FROM "
                           "{schema}.usage_normalize($1::jsonb, $2, $3)",
                           3};

// Text parameters for one event, in usage_log_insert's order.
struct EventParams {
    static constexpr int N = 21;
    std::optional<std::string> v[N];
    const char* ptr[N];

    explicit EventParams(const UsageEvent& e) {
        v[0] = e.user_id;
        v[1] = e.model;
        v[2] = std::to_string(e.input_tokens);
        v[3] = std::to_string(e.output_tokens);
        v[4] = std::to_string(e.cache_read_tokens);
        v[5] = std::to_string(e.cache_write_tokens);
        v[6] = std::to_string(e.cache_write_1h_tokens);
        v[7] = std::to_string(e.reasoning_tokens);
        v[8] = e.provider;
        v[9] = e.endpoint;
        v[10] = e.request_type;
        v[11] = e.session_id;
        v[12] = e.message_id;
        v[13] = e.request_id;
        if (e.occurred_at) v[14] = detail::format_time(*e.occurred_at);
        if (e.latency_ms) v[15] = std::to_string(*e.latency_ms);
        v[16] = e.success ? "true" : "false";
        v[17] = e.error_type;
        v[18] = e.metadata;
        v[19] = e.service_tier;
        if (e.reservation_id) v[20] = std::to_string(*e.reservation_id);
        for (int i = 0; i < N; ++i) ptr[i] = v[i] ? v[i]->c_str() : nullptr;
    }
};

std::optional<std::int64_t> single_bigint(const PGresult* r) {
    if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0)) return std::nullopt;
    return std::stoll(PQgetvalue(r, 0, 0));
}

}  // namespace

void Client::Impl::connect() {
    prepared.clear();
    // The conninfo string (or URI) is expanded as dbname; the fallback
    // application_name applies only when the app set none.
    const char* keys[] = {"dbname", "fallback_application_name", nullptr};
    const char* vals[] = {conninfo.c_str(), "tokenledger", nullptr};
    conn.reset(PQconnectdbParams(keys, vals, 1));
    if (!conn) throw NotConnected("out of memory allocating a connection");
    if (PQstatus(conn.get()) != CONNECTION_OK) {
        std::string msg = trim(PQerrorMessage(conn.get()));
        conn.reset();
        throw NotConnected("could not connect to the database: " + msg, "08001");
    }
    // Server notices are not errors; keep them off the app's stderr.
    PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
    Table t = query(
        "SELECT n.nspname FROM pg_catalog.pg_extension e "
        "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'tokenledger'",
        {});
    if (t.rows.empty())
        throw ServerError("the tokenledger extension is not installed in this database", "42704",
                          "Run CREATE EXTENSION tokenledger; or connect to the right database.");
    schema = *t.rows[0][0];
}

PGconn* Client::Impl::live() {
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
        throw NotConnected("not connected to the database", "08003",
                           "Call reconnect() once the server is reachable.");
    return conn.get();
}

void Client::Impl::fail(const PGresult* r) {
    std::string state = detail::error_field(r, PG_DIAG_SQLSTATE);
    std::string msg = detail::error_field(r, PG_DIAG_MESSAGE_PRIMARY);
    if (msg.empty()) msg = trim(r ? PQresultErrorMessage(r) : "");
    if (msg.empty() && conn) msg = trim(PQerrorMessage(conn.get()));
    if (state.empty() && (!conn || PQstatus(conn.get()) != CONNECTION_OK))
        throw NotConnected("connection to the database lost: " + msg, "08006");
    throw_for_sqlstate(msg, state, detail::error_field(r, PG_DIAG_MESSAGE_HINT));
}

Table Client::Impl::query(const std::string& sql, const Params& params) {
    auto p = param_values(params);
    ResultPtr r(PQexecParams(live(), sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(), nullptr, nullptr,
                             0));
    if (!r) fail(nullptr);
    auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) fail(r.get());
    Table t;
    int nf = PQnfields(r.get()), nt = PQntuples(r.get());
    for (int c = 0; c < nf; ++c) {
        t.columns.emplace_back(PQfname(r.get(), c));
        t.types.push_back(PQftype(r.get(), c));
    }
    t.rows.reserve(nt);
    for (int i = 0; i < nt; ++i) {
        std::vector<std::optional<std::string>> row;
        row.reserve(nf);
        for (int c = 0; c < nf; ++c)
            row.push_back(PQgetisnull(r.get(), i, c)
                              ? std::nullopt
                              : std::optional<std::string>(
                                    std::string(PQgetvalue(r.get(), i, c), PQgetlength(r.get(), i, c))));
        t.rows.push_back(std::move(row));
    }
    return t;
}

std::string Client::Impl::q(const std::string& ident) {
    char* s = PQescapeIdentifier(live(), ident.c_str(), ident.size());
    if (!s) fail(nullptr);
    std::string out(s);
    PQfreemem(s);
    return out;
}

void Client::Impl::prepare(const Statement& st) {
    if (prepared.count(st.name)) return;
    std::string sql = detail::with_schema(st.sql(), q(schema));
    ResultPtr r(PQprepare(live(), st.name, sql.c_str(), st.nparams, st.types));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) fail(r.get());
    prepared.insert(st.name);
}

ResultPtr Client::Impl::run(const Statement& st, const char* const* values) {
    prepare(st);
    ResultPtr r(PQexecPrepared(live(), st.name, st.nparams, values, nullptr, nullptr, 0));
    // A CALL without OUT parameters completes without rows.
    if (!r || (PQresultStatus(r.get()) != PGRES_TUPLES_OK && PQresultStatus(r.get()) != PGRES_COMMAND_OK))
        fail(r.get());
    return r;
}

ResultPtr Client::Impl::run(const Statement& st, const Params& params) {
    auto p = param_values(params);
    p.resize(static_cast<std::size_t>(st.nparams), nullptr);
    return run(st, p.data());
}

std::vector<std::optional<std::int64_t>> Client::Impl::insert_batch(const std::vector<UsageEvent>& events) {
    std::vector<std::optional<std::int64_t>> ids;
    if (events.empty()) return ids;
    prepare(kInsert);
    PGconn* c = live();
    if (!PQenterPipelineMode(c)) fail(nullptr);
    // Every statement up to the sync runs in one implicit transaction:
    // an error aborts the rest, and nothing is committed.
    // Nonblocking sends: while the output buffer drains, read what the
    // server already answered, so a big batch can never deadlock with
    // both sides blocked on full socket buffers.
    bool send_ok = PQsetnonblocking(c, 1) == 0;
    auto flush_all = [&] {
        for (;;) {
            int f = PQflush(c);
            if (f == 0) return true;
            if (f < 0) return false;
            pollfd pfd{PQsocket(c), POLLIN | POLLOUT, 0};
            if (::poll(&pfd, 1, 30000) <= 0) return false;
            if ((pfd.revents & POLLIN) && !PQconsumeInput(c)) return false;
        }
    };
    std::size_t since_flush = 0;
    for (const auto& ev : events) {
        if (!send_ok) break;
        EventParams p(ev);
        send_ok = PQsendQueryPrepared(c, kInsert.name, EventParams::N, p.ptr, nullptr, nullptr, 0) == 1;
        if (send_ok && ++since_flush == 64) {
            send_ok = flush_all();
            since_flush = 0;
        }
    }
    if (send_ok) send_ok = PQpipelineSync(c) == 1 && flush_all();
    if (send_ok) send_ok = PQsetnonblocking(c, 0) == 0;
    if (!send_ok) {
        std::string msg = trim(PQerrorMessage(c));
        conn.reset();  // the pipeline state is unknown: start over on reconnect
        throw NotConnected("connection to the database lost: " + msg, "08006");
    }
    ids.reserve(events.size());
    ResultPtr first_error;
    int nulls = 0;
    for (;;) {
        ResultPtr r(PQgetResult(c));
        if (!r) {
            // A NULL ends each statement's results; more than a couple in a
            // row means the connection went away.
            if (PQstatus(c) != CONNECTION_OK || ++nulls > 2) {
                std::string msg = trim(PQerrorMessage(c));
                conn.reset();
                throw NotConnected("connection to the database lost: " + msg, "08006");
            }
            continue;
        }
        nulls = 0;
        auto st = PQresultStatus(r.get());
        if (st == PGRES_PIPELINE_SYNC) break;
        if (st == PGRES_TUPLES_OK) {
            ids.push_back(single_bigint(r.get()));
        } else if (st == PGRES_PIPELINE_ABORTED) {
            ids.push_back(std::nullopt);
        } else {
            if (!first_error) first_error = std::move(r);
            ids.push_back(std::nullopt);
            if (PQstatus(c) != CONNECTION_OK) {
                conn.reset();
                throw NotConnected("connection to the database lost", "08006");
            }
        }
    }
    if (!PQexitPipelineMode(c)) {
        conn.reset();
        throw NotConnected("could not leave pipeline mode", "08006");
    }
    if (first_error) fail(first_error.get());
    return ids;
}


Client::Client(const std::string& conninfo) : impl_(std::make_unique<Impl>()) {
    impl_->conninfo = conninfo;
    impl_->connect();
}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

bool Client::connected() const noexcept {
    return impl_ && impl_->conn && PQstatus(impl_->conn.get()) == CONNECTION_OK;
}
void Client::reconnect() { impl_->connect(); }
const std::string& Client::schema() const noexcept { return impl_->schema; }
std::string Client::quote_ident(const std::string& ident) const { return impl_->q(ident); }

std::optional<std::int64_t> Client::insert(const UsageEvent& ev) {
    EventParams p(ev);
    return single_bigint(impl_->run(kInsert, p.ptr).get());
}

std::optional<std::int64_t> Client::insert(const UsageEvent& ev, std::int64_t reservation_id) {
    UsageEvent settled = ev;
    settled.reservation_id = reservation_id;
    return insert(settled);
}

std::vector<std::optional<std::int64_t>> Client::insert_batch(const std::vector<UsageEvent>& events) {
    return impl_->insert_batch(events);
}

std::optional<std::int64_t> Client::insert_usage(const UsageEvent& ev, const std::string& usage_json,
                                                 const std::optional<std::string>& usage_format) {
    EventParams p(ev);
    // usage_log_insert_usage(user_id, provider, model, usage, endpoint, request_type,
    // session_id, message_id, request_id, occurred_at, latency_ms, success,
    // error_type, metadata, service_tier, usage_format, reservation_id)
    const char* v[17] = {p.ptr[0],  p.ptr[8],  p.ptr[1],  usage_json.c_str(), p.ptr[9],  p.ptr[10],
                         p.ptr[11], p.ptr[12], p.ptr[13], p.ptr[14],          p.ptr[15], p.ptr[16],
                         p.ptr[17], p.ptr[18], p.ptr[19], usage_format ? usage_format->c_str() : nullptr,
                         p.ptr[20]};
    return single_bigint(impl_->run(kInsertUsage, v).get());
}

TokenBuckets Client::normalize(const std::string& usage_json, const std::optional<std::string>& provider,
                               const std::optional<std::string>& usage_format) {
    const char* v[3] = {usage_json.c_str(), provider ? provider->c_str() : nullptr,
                        usage_format ? usage_format->c_str() : nullptr};
    auto r = impl_->run(kNormalize, v);
    TokenBuckets b;
    auto num = [&](int c) { return std::stoll(PQgetvalue(r.get(), 0, c)); };
    b.input_tokens = num(0);
    b.output_tokens = num(1);
    b.cache_read_tokens = num(2);
    b.cache_write_tokens = num(3);
    b.cache_write_1h_tokens = num(4);
    b.reasoning_tokens = num(5);
    b.detected_format = PQgetvalue(r.get(), 0, 6);
    return b;
}

Table Client::query(const std::string& sql, const Params& params) { return impl_->query(sql, params); }

UsageEvent event_from_usage(Client& client, const std::string& provider, const std::string& user_id,
                            const std::string& model, const std::string& usage_json,
                            const std::optional<std::string>& usage_format) {
    UsageEvent ev;
    ev.user_id = user_id;
    ev.model = model;
    ev.provider = provider;
    apply(client.normalize(usage_json, provider, usage_format), ev);
    return ev;
}
UsageEvent from_openai(Client& c, const std::string& u, const std::string& m, const std::string& j) {
    return event_from_usage(c, "openai", u, m, j);
}
UsageEvent from_anthropic(Client& c, const std::string& u, const std::string& m, const std::string& j) {
    return event_from_usage(c, "anthropic", u, m, j, std::string("anthropic"));
}
UsageEvent from_gemini(Client& c, const std::string& u, const std::string& m, const std::string& j) {
    return event_from_usage(c, "google", u, m, j, std::string("gemini"));
}

}  // namespace tokenledger
