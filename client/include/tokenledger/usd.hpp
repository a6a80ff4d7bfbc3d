// tokenledger C++ client: exact US dollar amounts.
#pragma once
#include <cstdint>
#include <string>

namespace tokenledger {

/// An exact amount of US dollars, held as nano-USD (1e-9 USD) in an int64,
/// the unit the ledger stores costs in. Money never passes through a
/// floating-point type: a report's numeric "0.012500000" becomes 12500000
/// nano-USD and prints back as "0.0125". Range: about +-9.2e9 USD.
class Usd {
public:
    constexpr Usd() noexcept = default;
    static constexpr Usd from_nano(std::int64_t nano) noexcept { return Usd(nano); }
    /// Parses a decimal such as "12.5", "-0.000000001" or "3" (the text of
    /// a PostgreSQL numeric). Digits past the ninth decimal must be zeros.
    /// Throws InvalidInput: 22P02 for text that is not a decimal, 22003
    /// when it is finer than 1e-9 USD or out of range.
    static Usd parse(const std::string& text);

    constexpr std::int64_t nano() const noexcept { return nano_; }
    /// The exact decimal, trailing zeros dropped: "12.5", "0", "-0.000000001".
    std::string str() const;

    friend constexpr bool operator==(Usd a, Usd b) noexcept { return a.nano_ == b.nano_; }
    friend constexpr bool operator!=(Usd a, Usd b) noexcept { return a.nano_ != b.nano_; }
    friend constexpr bool operator<(Usd a, Usd b) noexcept { return a.nano_ < b.nano_; }
    friend constexpr Usd operator+(Usd a, Usd b) noexcept { return Usd(a.nano_ + b.nano_); }
    friend constexpr Usd operator-(Usd a, Usd b) noexcept { return Usd(a.nano_ - b.nano_); }

private:
    constexpr explicit Usd(std::int64_t nano) noexcept : nano_(nano) {}
    std::int64_t nano_ = 0;
};

}  // namespace tokenledger
