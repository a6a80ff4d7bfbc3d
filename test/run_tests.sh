#!/usr/bin/env bash
# The one test command (make test). Installs what is missing, builds with
# warnings as errors, starts a private throwaway cluster, runs every suite,
# removes the cluster even on failure, and ends with "N passed, N failed".
set -uo pipefail
TL_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$TL_ROOT/test/lib/bootstrap.sh"
. "$TL_ROOT/test/lib/cluster.sh"

PASSED=0; FAILED=0; FAILED_SUITES=()
tally() { PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2)); }
# Names a failed suite again at the end, where CI logs show only the tail.
failed_suite() { FAILED_SUITES+=("$1"); }

tl_bootstrap_packages || { echo "package bootstrap failed"; echo "0 passed, 1 failed"; exit 1; }

WORK="$(mktemp -d /tmp/tokenledger-test.XXXXXX)"
chmod 755 "$WORK"  # the postgres OS user must reach the cluster inside
cleanup() {
    tl_cluster_stop "$WORK/cluster"
    [ "${TL_KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

tl_stage_root "$WORK/root"
tl_build_install || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

tl_cluster_init "$WORK/cluster" tokenledger || { echo "0 passed, 1 failed"; exit 1; }
tl_cluster_start "$WORK/cluster" || { echo "0 passed, 1 failed"; exit 1; }
BINDIR="$(tl_pg_bindir)"
PGXS_DIR="$(dirname "$(dirname "$(dirname "$("$BINDIR/pg_config" --pgxs)")")")"
mkdir -p "$WORK/out"; chmod 777 "$WORK/out"

# Counts "... ok" / "... FAILED" lines of pg_regress-style output; a runner
# that failed without naming a failed test counts as one failure.
count_regress() {
    local out="$1" status="$2" ok bad
    ok=$(grep -cE '(\.\.\. ok|^ok [0-9]+)' "$out" || true)
    bad=$(grep -cE '(\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+)' "$out" || true)
    [ "$status" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
    tally "$ok" "$bad"
    [ "$bad" -eq 0 ]
}

run_pg_regress() {
    local tests
    tests=$(cd "$TL_ROOT/sql" && ls *.sql 2>/dev/null | sed 's/\.sql$//' | sort)
    [ -n "$tests" ] || return 0
    echo "==> pg_regress"
    "$PGXS_DIR/src/test/regress/pg_regress" --bindir="$BINDIR" \
        --inputdir="$TL_ROOT" --outputdir="$WORK/out/regress" \
        --dbname=tl_regress $tests 2>&1 | tee "$WORK/regress.log"
    if ! count_regress "$WORK/regress.log" "${PIPESTATUS[0]}"; then
        cat "$WORK/out/regress/regression.diffs" 2>/dev/null
        failed_suite "pg_regress: $(grep -E '\.\.\. FAILED' "$WORK/regress.log" | awk '{print $2}' | xargs)"
    fi
}

run_isolation() {
    local specs
    specs=$(cd "$TL_ROOT/test/isolation/specs" && ls *.spec 2>/dev/null | sed 's/\.spec$//' | sort)
    [ -n "$specs" ] || return 0
    echo "==> isolation tester"
    psql -X -q -d postgres -c "CREATE DATABASE tl_isolation" \
        && psql -X -q -d tl_isolation -c "CREATE EXTENSION tokenledger" || { tally 0 1; return; }
    "$PGXS_DIR/src/test/isolation/pg_isolation_regress" --bindir="$BINDIR" \
        --inputdir="$TL_ROOT/test/isolation" --outputdir="$WORK/out/isolation" \
        --use-existing --dbname=tl_isolation $specs 2>&1 | tee "$WORK/isolation.log"
    if ! count_regress "$WORK/isolation.log" "${PIPESTATUS[0]}"; then
        cat "$WORK/out/isolation/regression.diffs" 2>/dev/null
        failed_suite "isolation: $(grep -E '\.\.\. FAILED' "$WORK/isolation.log" | awk '{print $2}' | xargs)"
    fi
}

run_pgtap() {
    local files f
    files=$(ls "$TL_ROOT"/test/pgtap/*.sql 2>/dev/null | sort)
    [ -n "$files" ] || return 0
    echo "==> pgTAP (pg_prove)"
    psql -X -q -c "CREATE EXTENSION IF NOT EXISTS pgtap" -c "CREATE EXTENSION IF NOT EXISTS tokenledger" \
        || { tally 0 1; return; }
    # One pg_prove per file, so each file counts as one test.
    for f in $files; do
        if pg_prove --ext .sql -d "$PGDATABASE" "$f" 2>&1 | tee "$WORK/pgtap.log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
            tally 1 0
        else
            tally 0 1; failed_suite "pgTAP $(basename "$f"): $(grep -E '^# Failed test' "$WORK/pgtap.log" | xargs)"
        fi
    done
}

run_dump_restore() {
    echo "==> pg_dump / pg_restore round trip"
    if TMPDIR="$WORK" bash "$TL_ROOT/test/dump_restore.sh" "$BINDIR"; then tally 1 0; else tally 0 1; failed_suite "dump/restore"; fi
}

run_release_check() {
    echo "==> release checks (frozen scripts, upgrade = fresh install)"
    TMPDIR="$WORK" bash "$TL_ROOT/test/release_check.sh" | tee "$WORK/release.log"
    tally "$(grep -c '^ok - ' "$WORK/release.log")" "$(grep -c '^FAILED - ' "$WORK/release.log")"
    grep -q '^FAILED - ' "$WORK/release.log" && failed_suite "release checks: $(grep '^FAILED - ' "$WORK/release.log" | xargs)"
    return 0
}

# Pricing importers against the public catalogs in shared/data beside the
# repository (TL_SHARED_DATA overrides); skipped cleanly when they are absent.
run_pricing_import() {
    local data="${TL_SHARED_DATA:-$TL_ROOT/../shared/data}"
    if [ ! -f "$data/litellm_model_prices.json" ] || [ ! -f "$data/genai_prices.json" ]; then
        echo "==> pricing importers: skipped (no catalogs in $data)"; return 0
    fi
    echo "==> pricing importers (catalogs in $data)"
    psql -X -q -t -A -v data="$(cd "$data" && pwd)" -f "$TL_ROOT/test/pricing/import_catalogs.sql" 2>&1 \
        | tee "$WORK/pricing_import.log"
    count_regress "$WORK/pricing_import.log" "${PIPESTATUS[0]}" || failed_suite "pricing importers"
}

# One client configuration: builds the client into $WORK/build-<label> and
# runs its ctest suite, passing any further arguments (-R/-E) to ctest.
run_ctest_config() {
    local label="$1" sanitize="$2" build="$WORK/build-$1"
    shift 2  # the rest are ctest selection arguments
    echo "==> client: $label (cmake + ctest)"
    if ! { cmake -S "$TL_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTOKENLEDGER_SANITIZE="$sanitize" >/dev/null \
           && cmake --build "$build" -j2 >"$build.log" 2>&1; }; then
        cat "$build.log"; tally 0 1; failed_suite "client build ($label)"; return
    fi
    (cd "$build" && ctest --output-on-failure "$@") 2>&1 | tee "$build.ctest.log"
    local line total bad
    line=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$build.ctest.log" | tail -1)
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
    if [ -n "$line" ]; then tally $((total - bad)) "$bad"; else tally 0 1; fi
    [ -n "$line" ] && [ "$bad" -eq 0 ] || failed_suite "ctest ($label): $(grep -E '\*\*\*Failed|Failed  ' "$build.ctest.log" | sed -E 's/.*Test +#[0-9]+: //; s/ \.{3,}.*//' | xargs)"
}

# The client suite plain, then under AddressSanitizer + UndefinedBehaviorSanitizer
# (every test but the package consumers, which build apps of their own) and
# ThreadSanitizer (the threaded parts: Recorder, spool, AlertListener,
# QuotaGuard). TL_SANITIZE=0 skips the two sanitizer builds for a quick
# local loop; CI always runs them.
run_ctest() {
    [ -f "$TL_ROOT/client/CMakeLists.txt" ] || return 0
    # The client's fault tests stop and restart this cluster.
    export TL_PGCTL="$BINDIR/pg_ctl" TL_PGDATA="$WORK/cluster/data" TL_PGLOG="$WORK/cluster/server.log"
    if [ "$(id -u)" -eq 0 ]; then export TL_PGRUNAS=postgres; fi
    run_ctest_config plain ""
    [ "${TL_SANITIZE:-1}" = 0 ] && { echo "==> client sanitizers: skipped (TL_SANITIZE=0)"; return 0; }
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest_config asan-ubsan address -E package_consumers
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        run_ctest_config tsan thread -R "^test_(recorder|spool|alert_listener|quota_guard):"
}

run_pg_regress
run_isolation
run_pgtap
run_pricing_import
run_dump_restore
run_release_check
run_ctest

echo
for suite in "${FAILED_SUITES[@]}"; do echo "FAILED: $suite"; done
echo "${PASSED} passed, ${FAILED} failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
