#!/usr/bin/env bash
# Ingest: usage_log_insert against a plain prepared INSERT of the same values
# into a bare table of the same shape, interleaved, at 1, 8 and 16 clients;
# then bytes per event after 1M events. Runs inside run.sh's cluster.
# A second baseline, the same INSERT into a table carrying the ledger's own
# indexes, separates what the function costs from what the indexes cost.
# Batch rows: usage_log_insert_batch with 100 events per call against a
# plain 100-row INSERT ... SELECT of the same values (events/s = tps x 100).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-2}"
EVENTS="${BENCH_EVENTS:-1000000}"

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
DROP TABLE IF EXISTS bench_plain;
-- Same columns, types and order as the ledger; no partitions, no indexes.
CREATE TABLE bench_plain (LIKE usage_log INCLUDING DEFAULTS INCLUDING GENERATED);
CREATE SEQUENCE IF NOT EXISTS bench_plain_seq;
DROP TABLE IF EXISTS bench_indexed;
CREATE TABLE bench_indexed (LIKE usage_log INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES);
SQL

tps() { # script clients -> tps; a failed run stops the benchmark
    local out
    out=$("$PGBENCH" -n -M prepared -f "$HERE/pgbench/$1" -c "$2" -j "$(( $2 < 2 ? 1 : 2 ))" \
        -T "$SECONDS_PER_RUN" 2>&1) || { echo "pgbench $1 failed:" >&2; echo "$out" >&2; return 1; }
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out"
}

BATCH=100
declare -A fn plain indexed bfn bplain
add() { awk -v a="$1" -v b="$2" 'BEGIN{print a + b}'; }
for c in 1 8 16; do
    fn[$c]=0; plain[$c]=0; indexed[$c]=0; bfn[$c]=0; bplain[$c]=0
    for r in $(seq "$ROUNDS"); do
        p=$(tps insert_plain.sql "$c"); f=$(tps insert_usage_log.sql "$c"); x=$(tps insert_indexed.sql "$c")
        bp=$(tps insert_plain_batch.sql "$c"); bf=$(tps insert_usage_log_batch.sql "$c")
        bp=$(awk -v t="$bp" -v b="$BATCH" 'BEGIN{print t * b}'); bf=$(awk -v t="$bf" -v b="$BATCH" 'BEGIN{print t * b}')
        plain[$c]=$(add "${plain[$c]}" "$p"); fn[$c]=$(add "${fn[$c]}" "$f"); indexed[$c]=$(add "${indexed[$c]}" "$x")
        bplain[$c]=$(add "${bplain[$c]}" "$bp"); bfn[$c]=$(add "${bfn[$c]}" "$bf")
        echo "  clients=$c round=$r plain=$p usage_log_insert=$f plain_indexed=$x plain_batch_eps=$bp usage_log_insert_batch_eps=$bf"
    done
    plain[$c]=$(awk -v a="${plain[$c]}" -v n="$ROUNDS" 'BEGIN{print a / n}')
    fn[$c]=$(awk -v a="${fn[$c]}" -v n="$ROUNDS" 'BEGIN{print a / n}')
    indexed[$c]=$(awk -v a="${indexed[$c]}" -v n="$ROUNDS" 'BEGIN{print a / n}')
    bplain[$c]=$(awk -v a="${bplain[$c]}" -v n="$ROUNDS" 'BEGIN{print a / n}')
    bfn[$c]=$(awk -v a="${bfn[$c]}" -v n="$ROUNDS" 'BEGIN{print a / n}')
done

# Rollups every minute: a minute of single-row inserts at 8 clients with
# no rollup, then a minute during which one rollup folds the minute before
# (as pg_cron's every-minute job would).
MINUTE="${BENCH_ROLLUP_MINUTE:-60}"
psql -X -q -c "CALL usage_rollup()"
rollups_before=$(psql -X -At -c "SELECT events_folded FROM usage_rollup_state")
quiet=$(SECONDS_PER_RUN=$MINUTE tps insert_usage_log.sql 8)
rollup_ms_file=$(mktemp)
t0=$(date +%s%N)
{ psql -X -q -c "CALL usage_rollup()"; echo $(( ($(date +%s%N) - t0) / 1000000 )) > "$rollup_ms_file"; } &
rollup=$!
busy=$(SECONDS_PER_RUN=$MINUTE tps insert_usage_log.sql 8)
wait "$rollup"
rollup_ms=$(cat "$rollup_ms_file"); rm -f "$rollup_ms_file"
folded=$(( $(psql -X -At -c "SELECT events_folded FROM usage_rollup_state") - rollups_before ))
echo "  clients=8 ${MINUTE}s usage_log_insert=$quiet with_rollup=$busy (rollup of $folded events: $rollup_ms ms)"

echo "  loading $EVENTS events through usage_log_insert for the size measurement"
psql -X -q -v ON_ERROR_STOP=1 -v events="$EVENTS" <<'SQL'
TRUNCATE usage_log, usage_request_ids;
SELECT count(usage_log_insert(
    user_id => 'user-' || (n % 5000), model => (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash'])[1 + n % 4],
    provider => (ARRAY['openai', 'openai', 'anthropic', 'google'])[1 + n % 4], endpoint => 'chat',
    input_tokens => 500 + n % 3000, output_tokens => 50 + n % 700, cache_read_tokens => (n % 5) * 256,
    session_id => 'sess-' || (n / 20), message_id => 'msg-' || n,
    request_id => md5(n::text), occurred_at => now() - (n % 2592000) * interval '1 second',
    latency_ms => 300 + n % 4000))
FROM generate_series(1, :events) n;
VACUUM ANALYZE usage_log, usage_request_ids;
SQL
sizes=$(psql -X -At -F' ' -v events="$EVENTS" <<'SQL'
SELECT (sum(pg_total_relation_size(relid)) / :events)::int,
       (pg_total_relation_size('usage_request_ids') / :events)::int
FROM pg_partition_tree('usage_log') WHERE isleaf;
SQL
)
ledger_bpe=${sizes% *}; dedup_bpe=${sizes#* }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a / b}'; }
md="$TL_ROOT/test/bench/results/ingest.md"
json="$TL_ROOT/test/bench/results/ingest.json"
{
    echo "# Ingest benchmark ($BENCH_STAMP)"
    echo
    echo "pgbench -M prepared, ${SECONDS_PER_RUN}s per run, $ROUNDS interleaved rounds, $(nproc) cores, fsync on, synchronous_commit on."
    echo
    echo "| clients | plain INSERT, bare table (events/s) | usage_log_insert (events/s) | ratio | plain INSERT, ledger's indexes (events/s) | ratio to it |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for c in 1 8 16; do
        printf '| %d | %.0f | %.0f | %s | %.0f | %s |\n' "$c" "${plain[$c]}" "${fn[$c]}" \
            "$(ratio "${fn[$c]}" "${plain[$c]}")" "${indexed[$c]}" "$(ratio "${fn[$c]}" "${indexed[$c]}")"
    done
    echo
    echo "Batched: $BATCH events per statement (one transaction each)."
    echo
    echo "| clients | usage_log_insert_batch (events/s) | ratio to single-row plain INSERT | plain INSERT, $BATCH rows per statement (events/s) | ratio to it |"
    echo "|---:|---:|---:|---:|---:|"
    for c in 1 8 16; do
        printf '| %d | %.0f | %s | %.0f | %s |\n' "$c" "${bfn[$c]}" "$(ratio "${bfn[$c]}" "${plain[$c]}")" \
            "${bplain[$c]}" "$(ratio "${bfn[$c]}" "${bplain[$c]}")"
    done
    echo
    printf 'Rollups every minute, 8 clients, %s s runs: usage_log_insert %.0f events/s while one rollup folded the previous run (%s events, %s ms) against %.0f with none (x%s); ratio to plain INSERT %s instead of %s.\n' \
        "$MINUTE" "$busy" "$folded" "$rollup_ms" "$quiet" "$(ratio "$busy" "$quiet")" "$(ratio "$busy" "${plain[8]}")" "$(ratio "$quiet" "${plain[8]}")"
    echo
    echo "Bytes per event after $EVENTS events: ledger with its indexes $ledger_bpe B; request-id dedup index adds $dedup_bpe B (total $((ledger_bpe + dedup_bpe)) B)."
} > "$md"
{
    printf '{"benchmark": "ingest", "stamp": "%s", "seconds_per_run": %s, "rounds": %s, "cores": %s,\n' \
        "$BENCH_STAMP" "$SECONDS_PER_RUN" "$ROUNDS" "$(nproc)"
    printf ' "throughput": ['
    sep=""
    for c in 1 8 16; do
        printf '%s{"clients": %d, "plain_insert_eps": %.1f, "usage_log_insert_eps": %.1f, "ratio": %s, "plain_indexed_eps": %.1f, "ratio_to_indexed": %s, "batch_size": %d, "usage_log_insert_batch_eps": %.1f, "batch_ratio_to_plain_insert": %s, "plain_batch_insert_eps": %.1f, "batch_ratio_to_plain_batch": %s}' \
            "$sep" "$c" "${plain[$c]}" "${fn[$c]}" "$(ratio "${fn[$c]}" "${plain[$c]}")" \
            "${indexed[$c]}" "$(ratio "${fn[$c]}" "${indexed[$c]}")" "$BATCH" "${bfn[$c]}" \
            "$(ratio "${bfn[$c]}" "${plain[$c]}")" "${bplain[$c]}" "$(ratio "${bfn[$c]}" "${bplain[$c]}")"
        sep=", "
    done
    printf '],\n "with_rollups": {"clients": 8, "run_seconds": %s, "events_folded": %s, "rollup_ms": %s, "usage_log_insert_eps": %.1f, "without_rollups_eps": %.1f, "ratio_to_without": %s, "ratio_to_plain_insert": %s},\n' \
        "$MINUTE" "$folded" "$rollup_ms" "$busy" "$quiet" "$(ratio "$busy" "$quiet")" "$(ratio "$busy" "${plain[8]}")"
    printf ' "events_measured": %s, "ledger_bytes_per_event": %s, "dedup_bytes_per_event": %s}\n' \
        "$EVENTS" "$ledger_bpe" "$dedup_bpe"
} > "$json"
cat "$md"
