#!/usr/bin/env bash
# The client's sanitizer configurations (CI, optional locally; not part of
# make test): builds the client twice against a private throwaway cluster and
# runs its ctest suite under
#   1. AddressSanitizer + UndefinedBehaviorSanitizer (every test), and
#   2. ThreadSanitizer (the Recorder, spool, AlertListener and QuotaGuard tests).
# Exits non-zero if any sanitizer run fails.
set -uo pipefail
TL_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$TL_ROOT/test/lib/bootstrap.sh"
. "$TL_ROOT/test/lib/cluster.sh"

tl_bootstrap_packages || exit 1
WORK="$(mktemp -d /tmp/tokenledger-sanitize.XXXXXX)"
chmod 755 "$WORK"
trap 'tl_cluster_stop "$WORK/cluster"; rm -rf "$WORK"' EXIT
tl_stage_root "$WORK/root"
tl_build_install || exit 1
tl_cluster_init "$WORK/cluster" tokenledger || exit 1
tl_cluster_start "$WORK/cluster" || exit 1
psql -X -q -c "CREATE EXTENSION tokenledger" || exit 1
export TL_PGCTL="$(tl_pg_bindir)/pg_ctl" TL_PGDATA="$WORK/cluster/data" TL_PGLOG="$WORK/cluster/server.log"
if [ "$(id -u)" -eq 0 ]; then export TL_PGRUNAS=postgres; fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

status=0
run() {
    local kind="$1" filter="$2" dir="$WORK/build-$1"
    echo "==> $kind sanitizer build"
    cmake -S "$TL_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DTOKENLEDGER_SANITIZE="$kind" >/dev/null \
        && cmake --build "$dir" -j2 >"$dir.log" 2>&1 || { cat "$dir.log"; status=1; return; }
    (cd "$dir" && ctest --output-on-failure -E package_consumers ${filter:+-R "$filter"}) || status=1
}
run address ""
run thread "^test_(recorder|spool|alert_listener|quota_guard):"
exit $status
