#!/usr/bin/env bash
# make bench: every benchmark module. bench_<name>.sh modules share one
# private throwaway cluster started here; <name>.sh modules (pricing, quota,
# recorder) start their own. Figures and ratios are measured within one run
# and written as Markdown and JSON under test/bench/results/.
# Usage: run.sh [module ...]   (default: all)
set -euo pipefail
TL_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export TL_ROOT
. "$TL_ROOT/test/lib/bootstrap.sh"
. "$TL_ROOT/test/lib/cluster.sh"

tl_bootstrap_packages
BENCH_WORK="$(mktemp -d /tmp/tokenledger-bench.XXXXXX)"
chmod 755 "$BENCH_WORK"
export BENCH_WORK
trap 'tl_cluster_stop "$BENCH_WORK/cluster"; rm -rf "$BENCH_WORK"' EXIT
tl_stage_root "$BENCH_WORK/root"
tl_build_install
tl_cluster_init "$BENCH_WORK/cluster" tokenledger
tl_cluster_start "$BENCH_WORK/cluster"
export PGBENCH="$(tl_pg_bindir)/pgbench"
export BENCH_STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$TL_ROOT/test/bench/results"

modules="${*:-ingest reports pricing quota recorder}"
for m in $modules; do
    echo "==> bench: $m"
    if [ -f "$TL_ROOT/test/bench/bench_$m.sh" ]; then
        bash "$TL_ROOT/test/bench/bench_$m.sh"
    else
        bash "$TL_ROOT/test/bench/$m.sh"
    fi
done
echo "==> results in test/bench/results/"
