// Internal: libpq handles and result reading shared by Client, QuotaGuard
// and the typed methods.
#pragma once
#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenledger/usd.hpp"

namespace tokenledger {
namespace detail {

struct ConnDeleter {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct ResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

using TimePoint = std::chrono::system_clock::time_point;

/// A field of an error result ("" when absent).
std::string error_field(const PGresult* r, int code);
/// Drops libpq's trailing newline (and spaces).
std::string trim(std::string s);

/// A timestamptz parameter: "2026-01-02 03:04:05.000006+00" (UTC, microseconds).
std::string format_time(TimePoint tp);

/// sql with every "{schema}" replaced by the (quoted) schema the extension
/// is installed in: statements are written once, prepared per connection.
std::string with_schema(std::string sql, const std::string& schema);

/// SQL for a timestamptz column as epoch microseconds (bigint), NULL when
/// infinite: results never depend on the session's TimeZone or DateStyle.
std::string epoch_us(const std::string& column);

/// Reads one row of a result column by column, in SELECT order. Times are
/// expected as epoch microseconds (see epoch_us), USD as numeric text.
class RowReader {
public:
    RowReader(const PGresult* r, int row) : r_(r), row_(row) {}

    std::optional<std::string> opt_text();
    std::string text();                          ///< NULL as ""
    std::optional<std::int64_t> opt_i64();
    std::int64_t i64();                          ///< NULL as 0
    std::optional<double> opt_double();          ///< ratios and averages (never money)
    bool boolean();                              ///< NULL as false
    std::optional<Usd> opt_usd();
    Usd usd();                                   ///< NULL as 0
    std::optional<TimePoint> opt_time();
    TimePoint time();                            ///< NULL as the epoch
    std::vector<std::string> text_array();       ///< a one-dimensional text[]; NULL elements skipped

    /// Reads the next columns into the given fields, each by its type
    /// (so a struct is read in one statement, in SELECT order).
    template <class... T>
    void into(T&... out) {
        (read(out), ...);
    }
    void read(std::string& v) { v = text(); }
    void read(std::optional<std::string>& v) { v = opt_text(); }
    void read(std::int64_t& v) { v = i64(); }
    void read(std::optional<std::int64_t>& v) { v = opt_i64(); }
    void read(std::int32_t& v) { v = static_cast<std::int32_t>(i64()); }
    void read(std::optional<std::int32_t>& v);
    void read(double& v) { v = opt_double().value_or(0); }
    void read(std::optional<double>& v) { v = opt_double(); }
    void read(bool& v) { v = boolean(); }
    void read(Usd& v) { v = usd(); }
    void read(std::optional<Usd>& v) { v = opt_usd(); }
    void read(TimePoint& v) { v = time(); }
    void read(std::optional<TimePoint>& v) { v = opt_time(); }
    void read(std::vector<std::string>& v) { v = text_array(); }

private:
    const char* next();  ///< the current column's text, nullptr for NULL; advances
    const PGresult* r_;
    int row_;
    int col_ = 0;
};

/// Every row of a result through `read(RowReader&)`.
template <class T, class F>
std::vector<T> read_rows(const PGresult* r, F read) {
    std::vector<T> out;
    int n = PQntuples(r);
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        RowReader row(r, i);
        out.push_back(read(row));
    }
    return out;
}

}  // namespace detail
}  // namespace tokenledger
