// Internal: the recorder's spool file.
//
// Append-only file of records: magic (4 bytes), payload length (uint32),
// CRC-32 of the payload (uint32), payload (one encoded UsageEvent). The
// magic is the payload's version: "TLS1" for the original layout, "TLS2"
// for TLS1's fields followed by the reservation id. Events without a
// reservation id are still written as TLS1, so a spool without holds stays
// readable by older libraries; both are read. Appends are written with one
// write() per batch and fsync'd.
// A record whose bytes are incomplete or whose CRC does not match is skipped
// and counted (torn); a torn tail left by a crash is cut off when the file
// is opened, so later appends start on a record boundary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenledger/usage_event.hpp"

namespace tokenledger {
namespace detail {

std::uint32_t crc32(const void* data, std::size_t len) noexcept;
/// The record version an event is written with (1 or 2, see above).
int event_version(const UsageEvent& ev) noexcept;
std::string encode_event(const UsageEvent& ev);  ///< in event_version(ev)'s layout
bool decode_event(const std::string& payload, UsageEvent& ev, int version);

class Spool {
public:
    /// Opens (creating if needed) the file and cuts off a torn tail; the
    /// number of records skipped that way is in torn_at_open().
    explicit Spool(std::string path);
    ~Spool();
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;

    /// Appends the events and fsyncs. Throws Error on an I/O error.
    void append(const std::vector<UsageEvent>& events);

    struct Chunk {
        std::vector<UsageEvent> events;
        std::uint64_t end = 0;   ///< offset just past the last record read
        std::size_t torn = 0;    ///< records skipped (bad CRC or undecodable)
        std::vector<std::string> problems;
    };
    /// Reads up to max_events records starting at `offset`.
    Chunk read(std::uint64_t offset, std::size_t max_events) const;

    /// Current file size.
    std::uint64_t size() const;
    /// Empties the file if its size is still `expected` (nothing appended since).
    bool truncate_if(std::uint64_t expected);

    std::size_t torn_at_open() const noexcept { return torn_at_open_; }
    const std::vector<std::string>& open_problems() const noexcept { return open_problems_; }
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    int fd_ = -1;
    std::size_t torn_at_open_ = 0;
    std::vector<std::string> open_problems_;
};

}  // namespace detail
}  // namespace tokenledger
