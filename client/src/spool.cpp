#include "spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tokenledger/error.hpp"

namespace tokenledger {
namespace detail {
namespace {

const char kMagic[2][4] = {{'T', 'L', 'S', '1'}, {'T', 'L', 'S', '2'}};
constexpr std::size_t kHeader = 12;
constexpr std::uint32_t kMaxPayload = 16u << 20;

struct CrcTable {
    std::uint32_t t[256];
    CrcTable() {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
    }
};

void put_u32(std::string& s, std::uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_i64(std::string& s, std::int64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& s, const std::string& v) {
    put_u32(s, static_cast<std::uint32_t>(v.size()));
    s.append(v);
}
void put_opt(std::string& s, const std::optional<std::string>& v) {
    s.push_back(v ? 1 : 0);
    if (v) put_str(s, *v);
}

struct Reader {
    const std::string& s;
    std::size_t pos = 0;
    bool ok = true;
    bool take(void* out, std::size_t n) {
        if (!ok || s.size() - pos < n) return ok = false;
        std::memcpy(out, s.data() + pos, n);
        pos += n;
        return true;
    }
    std::int64_t i64() { std::int64_t v = 0; take(&v, 8); return v; }
    std::string str() {
        std::uint32_t n = 0;
        if (!take(&n, 4) || s.size() - pos < n) { ok = false; return {}; }
        std::string v = s.substr(pos, n);
        pos += n;
        return v;
    }
    std::optional<std::string> opt() {
        char f = 0;
        take(&f, 1);
        if (!ok || !f) return std::nullopt;
        return str();
    }
};

// The record version a header starts with, 0 when it is no record.
int magic_version(const char* p) noexcept {
    for (int v = 1; v <= 2; ++v)
        if (std::memcmp(p, kMagic[v - 1], 4) == 0) return v;
    return 0;
}

[[noreturn]] void io_error(const std::string& what, const std::string& path) {
    throw Error("spool " + what + " failed for " + path + ": " + std::strerror(errno), "58030");
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t len) noexcept {
    static const CrcTable table;
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < len; ++i) c = table.t[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

int event_version(const UsageEvent& e) noexcept { return e.reservation_id ? 2 : 1; }

std::string encode_event(const UsageEvent& e) {
    std::string s;
    s.reserve(128 + e.user_id.size() + e.model.size());
    put_str(s, e.user_id);
    put_str(s, e.model);
    for (auto v : {e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                   e.cache_write_1h_tokens, e.reasoning_tokens})
        put_i64(s, v);
    put_opt(s, e.provider);
    put_opt(s, e.endpoint);
    put_str(s, e.request_type);
    put_opt(s, e.session_id);
    put_opt(s, e.message_id);
    put_opt(s, e.request_id);
    s.push_back(e.occurred_at ? 1 : 0);
    if (e.occurred_at)
        put_i64(s, std::chrono::duration_cast<std::chrono::microseconds>(e.occurred_at->time_since_epoch()).count());
    s.push_back(e.latency_ms ? 1 : 0);
    if (e.latency_ms) put_i64(s, *e.latency_ms);
    s.push_back(e.success ? 1 : 0);
    put_opt(s, e.error_type);
    put_opt(s, e.metadata);
    put_str(s, e.service_tier);
    if (event_version(e) >= 2) put_i64(s, *e.reservation_id);
    return s;
}

bool decode_event(const std::string& payload, UsageEvent& e, int version) {
    Reader r{payload};
    e.user_id = r.str();
    e.model = r.str();
    for (auto* v : {&e.input_tokens, &e.output_tokens, &e.cache_read_tokens, &e.cache_write_tokens,
                    &e.cache_write_1h_tokens, &e.reasoning_tokens})
        *v = r.i64();
    e.provider = r.opt();
    e.endpoint = r.opt();
    e.request_type = r.str();
    e.session_id = r.opt();
    e.message_id = r.opt();
    e.request_id = r.opt();
    char f = 0;
    r.take(&f, 1);
    if (f) e.occurred_at = std::chrono::system_clock::time_point(std::chrono::microseconds(r.i64()));
    r.take(&f, 1);
    if (f) e.latency_ms = static_cast<std::int32_t>(r.i64());
    r.take(&f, 1);
    e.success = f != 0;
    e.error_type = r.opt();
    e.metadata = r.opt();
    e.service_tier = r.str();
    if (version >= 2) e.reservation_id = r.i64();
    return r.ok && r.pos == payload.size();
}

Spool::Spool(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) io_error("open", path_);
    // Find the end of the last complete record; anything after it is a torn
    // tail (a crash during append) and is cut off so appends stay aligned.
    std::uint64_t end = 0;
    for (;;) {
        Chunk c = read(end, 4096);
        // Corrupt records in the middle are skipped (and reported) by replay.
        if (c.end == end) break;
        end = c.end;
    }
    std::uint64_t sz = size();
    if (sz > end) {
        ++torn_at_open_;
        open_problems_.push_back("spool " + path_ + ": torn record at offset " + std::to_string(end) + " (" +
                                 std::to_string(sz - end) + " bytes) skipped");
        if (::ftruncate(fd_, static_cast<off_t>(end)) != 0 || ::fsync(fd_) != 0) io_error("truncate", path_);
    }
}

Spool::~Spool() {
    if (fd_ >= 0) ::close(fd_);
}

void Spool::append(const std::vector<UsageEvent>& events) {
    std::string buf;
    for (const auto& ev : events) {
        std::string p = encode_event(ev);
        buf.append(kMagic[event_version(ev) - 1], 4);
        put_u32(buf, static_cast<std::uint32_t>(p.size()));
        put_u32(buf, crc32(p.data(), p.size()));
        buf += p;
    }
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::write(fd_, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            io_error("write", path_);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd_) != 0) io_error("fsync", path_);
}

std::uint64_t Spool::size() const {
    struct stat st;
    if (::fstat(fd_, &st) != 0) io_error("stat", path_);
    return static_cast<std::uint64_t>(st.st_size);
}

bool Spool::truncate_if(std::uint64_t expected) {
    if (size() != expected) return false;
    if (::ftruncate(fd_, 0) != 0 || ::fsync(fd_) != 0) io_error("truncate", path_);
    return true;
}

Spool::Chunk Spool::read(std::uint64_t offset, std::size_t max_events) const {
    Chunk c;
    c.end = offset;
    std::uint64_t sz = size();
    auto pread_all = [&](std::uint64_t at, std::size_t n, std::string& out) {
        out.resize(n);
        std::size_t got = 0;
        while (got < n) {
            ssize_t r = ::pread(fd_, &out[got], n - got, static_cast<off_t>(at + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
            got += static_cast<std::size_t>(r);
        }
        return true;
    };
    std::uint64_t pos = offset;
    std::string hdr, payload;
    while (c.events.size() < max_events && sz - pos >= kHeader) {
        if (!pread_all(pos, kHeader, hdr)) break;
        std::uint32_t len, crc;
        std::memcpy(&len, hdr.data() + 4, 4);
        std::memcpy(&crc, hdr.data() + 8, 4);
        int version = magic_version(hdr.data());
        bool magic_ok = version != 0;
        if (magic_ok && len <= kMaxPayload && sz - pos - kHeader < len) break;  // incomplete: torn tail
        bool ok = magic_ok && len <= kMaxPayload && pread_all(pos + kHeader, len, payload) &&
                  crc32(payload.data(), payload.size()) == crc;
        UsageEvent ev;
        if (ok && decode_event(payload, ev, version)) {
            c.events.push_back(std::move(ev));
            pos += kHeader + len;
            c.end = pos;
            continue;
        }
        // A corrupt record: skip to the next position where a valid record
        // starts (the length itself may be damaged).
        std::uint64_t next = pos + 1, found = 0;
        std::string probe;
        while (next + kHeader <= sz) {
            if (pread_all(next, 4, probe) && magic_version(probe.data()) != 0) {
                std::string h2, p2;
                std::uint32_t l2, c2;
                if (pread_all(next, kHeader, h2)) {
                    std::memcpy(&l2, h2.data() + 4, 4);
                    std::memcpy(&c2, h2.data() + 8, 4);
                    if (l2 <= kMaxPayload && next + kHeader + l2 <= sz && pread_all(next + kHeader, l2, p2) &&
                        crc32(p2.data(), p2.size()) == c2) {
                        found = next;
                        break;
                    }
                }
            }
            ++next;
        }
        if (!found) break;  // nothing valid follows: leave it as a torn tail
        ++c.torn;
        c.problems.push_back("spool " + path_ + ": corrupt record at offset " + std::to_string(pos) + " (" +
                             std::to_string(found - pos) + " bytes) skipped");
        pos = found;
        c.end = pos;
    }
    return c;
}

}  // namespace detail
}  // namespace tokenledger
