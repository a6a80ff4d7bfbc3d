#include "tokenledger/error.hpp"

namespace tokenledger {

static bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

void throw_for_sqlstate(const std::string& message, const std::string& sqlstate, const std::string& hint) {
    if (starts_with(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03")
        throw NotConnected(message, sqlstate, hint);
    if (sqlstate == "57014") throw Timeout(message, sqlstate, hint);
    if (starts_with(sqlstate, "22") || starts_with(sqlstate, "23"))
        throw InvalidInput(message, sqlstate, hint);
    throw ServerError(message, sqlstate, hint);
}

bool is_transient_sqlstate(const std::string& s) noexcept {
    return starts_with(s, "08") || starts_with(s, "57P") || starts_with(s, "53") || s == "40001" ||
           s == "40P01" || s == "55P03";
}

}  // namespace tokenledger
