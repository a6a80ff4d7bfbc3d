#!/usr/bin/env bash
# Recorder benchmark (part of make bench): events/s through the C++ Recorder
# with 1 and 4 producer threads (batch function, one and CONNECTIONS
# connections; libpq pipeline for comparison) next to a raw COPY of the same
# rows (bare table, and with the ledger's indexes), record() p50/p99 on the
# app thread, batch function vs pipeline per batch size, and synchronous
# Client round trips for usage_log_insert and quota_check. Runs on its own
# private throwaway cluster; writes test/bench/results/recorder.{json,md}.
# Usage: test/bench/recorder.sh [EVENTS] [CONNECTIONS]   (default 100000 2)
set -uo pipefail
TL_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$TL_ROOT/test/lib/bootstrap.sh"
. "$TL_ROOT/test/lib/cluster.sh"
EVENTS="${1:-100000}"
CONNECTIONS="${2:-2}"

tl_bootstrap_packages || exit 1
WORK="$(mktemp -d /tmp/tokenledger-bench-recorder.XXXXXX)"
chmod 755 "$WORK"
trap 'tl_cluster_stop "$WORK/cluster"; rm -rf "$WORK"' EXIT
tl_stage_root "$WORK/root"
tl_build_install || exit 1
tl_cluster_init "$WORK/cluster" tokenledger || exit 1
tl_cluster_start "$WORK/cluster" || exit 1
psql -X -q -c "CREATE EXTENSION tokenledger" || exit 1

echo "==> building the client (Release)"
cmake -S "$TL_ROOT" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DTOKENLEDGER_BUILD_TESTS=OFF >/dev/null \
    && cmake --build "$WORK/build" -j2 --target tokenledger_recorder_bench >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; exit 1; }

echo "==> running ($EVENTS events per configuration)"
json="$(cd "$WORK" && "$WORK/build/client/tokenledger_recorder_bench" "" "$EVENTS" "$CONNECTIONS")" || exit 1
mkdir -p "$TL_ROOT/test/bench/results"
echo "$json" > "$TL_ROOT/test/bench/results/recorder.json"
python3 - "$json" > "$TL_ROOT/test/bench/results/recorder.md" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print("# Recorder benchmark")
print()
print(f"{r['events']} events per Recorder run, batch_size {r['recorder_batch_size']}, {r['cores']} cores, "
      f"load average {r['load_average_before']} before / {r['load_average_after']} after "
      "(the machine may be shared: compare figures within one run). fsync on, synchronous_commit on.")
print()
print("| measure | value |")
print("|---|---|")
for k, v in r.items():
    print(f"| {k} | {v} |")
PY
cat "$TL_ROOT/test/bench/results/recorder.md"
