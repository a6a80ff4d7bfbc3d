#include "tokenledger/usd.hpp"

#include <limits>

#include "tokenledger/error.hpp"

namespace tokenledger {

Usd Usd::parse(const std::string& text) {
    std::size_t i = 0;
    bool neg = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) neg = text[i++] == '-';
    // Accumulate as a non-negative magnitude in nano-USD, with overflow checks.
    const unsigned long long max = static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max());
    unsigned long long v = 0;
    int decimals = -1;  // -1: no point seen yet
    bool digits = false, range_ok = true;
    for (; i < text.size(); ++i) {
        char c = text[i];
        if (c == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (c < '0' || c > '9') {
            digits = false;
            break;
        }
        digits = true;
        if (decimals >= 9) {
            if (c != '0') range_ok = false;  // finer than 1e-9 USD
            continue;
        }
        if (decimals >= 0) ++decimals;
        if (v > (max - static_cast<unsigned>(c - '0')) / 10)
            range_ok = false;
        else
            v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (!digits || i != text.size())
        throw InvalidInput("\"" + text + "\" is not a decimal amount of USD", "22P02",
                           "Pass a decimal number such as 12.5 or 0.000001.");
    for (int d = decimals < 0 ? 0 : decimals; d < 9 && range_ok; ++d) {
        if (v > max / 10)
            range_ok = false;
        else
            v *= 10;
    }
    if (!range_ok)
        throw InvalidInput("\"" + text + "\" USD is not representable in nano-USD", "22003",
                           "Use at most 9 decimal places and less than 9.2e9 USD.");
    return Usd(neg ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v));
}

std::string Usd::str() const {
    bool neg = nano_ < 0;
    unsigned long long a = neg ? 0ULL - static_cast<unsigned long long>(nano_) : static_cast<unsigned long long>(nano_);
    std::string frac = std::to_string(a % 1000000000ULL);
    frac.insert(0, 9 - frac.size(), '0');
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    return (neg ? "-" : "") + std::to_string(a / 1000000000ULL) + (frac.empty() ? "" : "." + frac);
}

}  // namespace tokenledger
