// tokenledger C++ client: the asynchronous recorder.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tokenledger/usage_event.hpp"

namespace tokenledger {

/// What record() does when the in-memory queue is full.
enum class FullPolicy {
    Block,  ///< wait until the background thread makes room (never loses an event)
    Spill,  ///< append the event to the spool file right away (never loses an event)
    Drop,   ///< discard the event and count it in `dropped`
};

/// How the background thread sends a batch.
enum class SendMethod {
    /// One usage_log_insert_batch call per batch, the events as arrays: the
    /// server writes the batch set-based (the faster method; the default).
    /// Falls back to Pipeline against an extension older than 0.2.0.
    BatchFunction,
    /// One usage_log_insert per event, all in one libpq pipeline and one
    /// transaction.
    Pipeline,
};

struct RecorderOptions {
    std::string conninfo;                                ///< empty: PG* environment
    std::size_t batch_size = 100;                        ///< flush at N events (and send at most N per statement) ...
    std::chrono::milliseconds flush_interval{200};       ///< ... or after T ms
    /// Events waiting in record()'s queue; the background thread may hold
    /// as many again while it sends them.
    std::size_t queue_capacity = 10000;
    SendMethod send_method = SendMethod::BatchFunction;
    /// Database connections the background thread sends over. With more
    /// than one, up to that many batches are sent at once when more than
    /// batch_size events are waiting (each batch is still one transaction;
    /// batches may commit out of order, the spool is replayed in order).
    std::size_t connections = 1;
    FullPolicy full_policy = FullPolicy::Block;
    /// Append-only, CRC-checked, fsync'd file holding events that could not
    /// be sent. Replayed in order when the database is reachable again,
    /// also by the next Recorder opened on the same path (after a crash).
    std::string spool_path = "tokenledger.spool";
    int max_attempts = 3;                                ///< sends of one batch before spooling it
    std::chrono::milliseconds backoff_initial{50};       ///< exponential backoff ...
    std::chrono::milliseconds backoff_max{5000};         ///< ... capped here
    std::chrono::milliseconds shutdown_timeout{5000};    ///< destructor's drain limit
    /// Called on the background thread for every problem worth a log line
    /// (connection lost, event rejected, torn spool record skipped). Must
    /// not throw.
    std::function<void(const std::string&)> on_error;
};

struct RecorderStats {
    std::uint64_t queued = 0;    ///< accepted by record() into the queue
    std::uint64_t sent = 0;      ///< committed to the database from the queue
    std::uint64_t retried = 0;   ///< repeated batch sends after a failure
    std::uint64_t spooled = 0;   ///< written to the spool file
    std::uint64_t replayed = 0;  ///< committed to the database from the spool
    std::uint64_t dropped = 0;   ///< discarded by FullPolicy::Drop (0 otherwise)
    std::uint64_t rejected = 0;  ///< refused by the server as invalid input (never retried)
    std::uint64_t torn = 0;      ///< corrupt or torn spool records skipped
    std::uint64_t queue_depth = 0;  ///< events waiting in the queue right now (a gauge)
};

/// Records events on a background thread without blocking the caller's
/// request path. Every event gets an occurred_at (stamped in record() when
/// unset) and a request id (generated when the app gave none, by the
/// background thread before the event is first sent or spooled), so a batch
/// that is retried or replayed is counted exactly once by the server. An
/// event's reservation_id travels with it, through the spool too: the hold
/// is settled in the transaction that records the event.
///
/// record() only moves the event into a pre-allocated buffer (one of several
/// shards; a thread always uses the same one, so its events keep their
/// order) under that shard's short lock, and wakes the background thread
/// once per full batch; the background thread swaps the buffers out in O(1).
///
/// record(), flush() and stats() may be called from any number of threads.
class Recorder {
public:
    /// Starts the background thread. Throws Error if the spool file cannot
    /// be opened. Does not need the database to be up.
    explicit Recorder(RecorderOptions options = {});
    /// Drains the queue (to the database, or to the spool) within
    /// shutdown_timeout and stops. Never throws.
    ~Recorder();
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    /// Queues one event. Returns false only when the event was dropped
    /// (FullPolicy::Drop with a full queue, or called after shutdown began).
    bool record(UsageEvent event);

    /// Waits until every event recorded before the call is committed to the
    /// database (spool included). Returns false on timeout.
    bool flush(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

    RecorderStats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tokenledger
