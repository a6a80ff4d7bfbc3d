#!/usr/bin/env bash
# Quota benchmark (part of `make bench`): quota_check and quota_reserve
# latency (p50/p99) and throughput with 8 concurrent writers inserting, for
# one hot user and for 10,000 users; insert throughput with quota
# settlement against a plain INSERT; and a 16-client reservation hammer on
# one user and on many users whose final usage must stay within the limit.
# Runs on its own private throwaway cluster. Results: test/bench/results/quota.{md,json}.
#
# Knobs: DUR (seconds per run, default 10), HOT_EVENTS (the hot user's
# events so far today, default 2000).
set -uo pipefail
TL_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$TL_ROOT/test/lib/bootstrap.sh"
. "$TL_ROOT/test/lib/cluster.sh"
DUR="${DUR:-10}"
HOT_EVENTS="${HOT_EVENTS:-2000}"
SCRIPTS="$TL_ROOT/test/bench/quota"
RESULTS="$TL_ROOT/test/bench/results"
mkdir -p "$RESULTS"

WORK="$(mktemp -d /tmp/tokenledger-bench-quota.XXXXXX)"
chmod 755 "$WORK"
cleanup() { tl_cluster_stop "$WORK/cluster"; rm -rf "$WORK"; }
trap cleanup EXIT

tl_bootstrap_packages >/dev/null || exit 1
tl_stage_root "$WORK/root"
tl_build_install >/dev/null || { echo "build failed"; exit 1; }
tl_cluster_init "$WORK/cluster" tl_bench || exit 1
tl_cluster_start "$WORK/cluster" || exit 1
BINDIR="$(tl_pg_bindir)"
PGBENCH="$BINDIR/pgbench"
mkdir -p "$WORK/logs"; chmod 777 "$WORK/logs"

psql -X -q -v ON_ERROR_STOP=1 <<SQL || exit 1
CREATE EXTENSION tokenledger;
SELECT quota_plan_set('bench', requests_per_minute => 1000000000, requests_per_hour => 1000000000,
    requests_per_day => 1000000000, tokens_per_minute => 1000000000000, tokens_per_day => 1000000000000,
    tokens_per_month => 1000000000000, cost_per_day => 1000000, cost_per_month => 1000000);
ALTER DATABASE tl_bench SET tokenledger.default_plan = 'bench';
SELECT quota_plan_set('hammer', tokens_per_day => 20000);
-- History: the hot user's events so far today, five events for each of 10,000 users.
SELECT count(usage_log_insert('hot', 'gpt-4o', input_tokens => 100, output_tokens => 20,
                              occurred_at => now() - (g % 3600) * interval '1 second'))
  FROM generate_series(1, $HOT_EVENTS) g;
SELECT count(usage_log_insert('u' || (g % 10000 + 1), 'gpt-4o', input_tokens => 100, output_tokens => 20,
                              occurred_at => now() - (g % 3600) * interval '1 second'))
  FROM generate_series(1, 50000) g;
SELECT quota_assign('hot', 'bench');
SELECT quota_assign('hammer', 'hammer');
SELECT quota_assign('hammer_over', 'hammer');
SELECT quota_assign('hammer' || g, 'hammer') FROM generate_series(1, 50) g;
-- The plain INSERT baseline: a bare table of the ledger's shape and indexes
-- (INCLUDING ALL copies them).
CREATE TABLE bench_plain (LIKE usage_log INCLUDING ALL);
-- The floor of a reservation: the least durable write, one row into a bare table.
CREATE TABLE bench_floor (v integer);
CREATE SEQUENCE bench_plain_seq;
VACUUM ANALYZE;
SQL

# pgbench's per-transaction log: the third field is the latency in microseconds.
percentile() {  # file... ; prints "p50 p99" in ms
    cat "$@" 2>/dev/null | awk '{print $3}' | sort -n | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "n/a n/a"; exit }
              i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
              i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
              printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }'
}
tps_of() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$1" | head -1; }

ROWS=()
# run NAME SCRIPT CLIENTS [WITH_WRITERS [RATE WRITERS_RATE]]
# Without rates every client runs flat out (throughput at saturation: on 2
# cores, 16 busy sessions make the latency mostly run-queue wait). With
# rates, pgbench schedules that many transactions per second in total, and
# a latency counts from the scheduled start, so falling behind shows.
run() {
    local name="$1" script="$2" clients="$3" writers="${4:-0}" rate="${5:-}" wrate="${6:-}" wpid=""
    rm -f "$WORK/logs/$name".*
    if [ "$writers" = 1 ]; then
        "$PGBENCH" -n -M prepared -c 8 -j 2 -T "$DUR" ${wrate:+-R "$wrate"} -f "$SCRIPTS/insert_many.sql" \
            >"$WORK/$name.writers.out" 2>&1 &
        wpid=$!
    fi
    "$PGBENCH" -n -M prepared -c "$clients" -j 2 -T "$DUR" ${rate:+-R "$rate"} -l --log-prefix="$WORK/logs/$name" \
        -f "$SCRIPTS/$script" >"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out"; }
    [ -n "$wpid" ] && wait "$wpid"
    local p tps wtps
    p=$(percentile "$WORK/logs/$name".*)
    tps=$(tps_of "$WORK/$name.out")
    wtps=$([ "$writers" = 1 ] && tps_of "$WORK/$name.writers.out" || echo "-")
    ROWS+=("$name|$clients|${p% *}|${p#* }|$tps|$wtps")
    printf '%-22s clients=%-3s p50=%-8s p99=%-8s tps=%-10s writers_tps=%s\n' "$name" "$clients" "${p% *}" "${p#* }" "$tps" "$wtps"
}

echo "==> intrinsic latency: one client, no other load"
run check_hot_1client check_hot.sql 1
run check_10k_1client check_many.sql 1
run reserve_hot_1client reserve_hot.sql 1
run reserve_10k_1client reserve_many.sql 1
run reserve_hot_async_1client reserve_hot_async.sql 1
run reserve_10k_async_1client reserve_many_async.sql 1

echo "==> the machine's floor under the loads below: SELECT 1 (for checks) and a one-row committed INSERT (for reserves)"
run floor_select1 select1.sql 8 1
run floor_select1_paced select1.sql 8 1 2000 1000
run floor_commit floor_commit.sql 8 1
run floor_commit_paced floor_commit.sql 8 1 800 1000

echo "==> quota_check / quota_reserve with 8 concurrent writers (${DUR}s each; hot user has $HOT_EVENTS events today)"
run check_hot check_hot.sql 8 1
run check_10k_users check_many.sql 8 1
run reserve_hot reserve_hot.sql 8 1
run reserve_10k_users reserve_many.sql 8 1
run reserve_hot_async reserve_hot_async.sql 8 1
run reserve_10k_async reserve_many_async.sql 8 1
psql -X -q -c "SELECT quota_sweep_reservations()" >/dev/null

echo "==> the same at a steady load: 8 clients, 8 writers at 1,000 inserts/s in total"
run check_hot_paced check_hot.sql 8 1 2000 1000
run check_10k_paced check_many.sql 8 1 2000 1000
run reserve_hot_paced reserve_hot.sql 8 1 200 1000
run reserve_10k_paced reserve_many.sql 8 1 800 1000
run reserve_10k_async_paced reserve_many_async.sql 8 1 800 1000
psql -X -q -c "SELECT quota_sweep_reservations()" >/dev/null

echo "==> insert throughput, 8 clients, interleaved"
for round in 1 2; do
    run "plain_insert_$round" plain_insert.sql 8
    run "usage_log_insert_$round" insert_many.sql 8
    run "insert_settle_$round" insert_settle.sql 8
done
avg_tps() { printf '%s\n' "${ROWS[@]}" | awk -F'|' -v p="$1" '$1 ~ "^"p"_[0-9]$" { s += $5; n++ } END { printf "%.1f", s / n }'; }
PLAIN=$(avg_tps plain_insert); ULI=$(avg_tps usage_log_insert); SETTLE=$(avg_tps insert_settle)
RATIO=$(awk -v a="$SETTLE" -v b="$PLAIN" 'BEGIN { printf "%.2f", a / b }')
RATIO_ULI=$(awk -v a="$ULI" -v b="$PLAIN" 'BEGIN { printf "%.2f", a / b }')
echo "plain INSERT $PLAIN tps; usage_log_insert $ULI tps (x$RATIO_ULI); with quota settlement $SETTLE tps (x$RATIO)"

echo "==> hammer: 16 clients reserving then settling, limit 20000 tokens/day, estimate 100, actual 50..100"
run hammer_one_user hammer_one.sql 16
run hammer_50_users hammer_many.sql 16
HAMMER=$(psql -X -A -t -F'|' -c "
    SELECT count(*) FILTER (WHERE used > limit_value), max(used), min(limit_value), count(*)
      FROM (SELECT u, (SELECT used FROM quota_status(u) WHERE limit_name = 'tokens_per_day') AS used,
                      (SELECT limit_value FROM quota_status(u) WHERE limit_name = 'tokens_per_day') AS limit_value
              FROM (SELECT 'hammer' AS u UNION ALL SELECT 'hammer' || g FROM generate_series(1, 50) g) s) x")
IFS='|' read -r OVER MAXUSED LIMIT NUSERS <<<"$HAMMER"
echo "hammer: $OVER of $NUSERS users over their limit; highest usage $MAXUSED of $LIMIT tokens"

echo "==> hammer with estimates too low: 16 clients, estimate 100, actual 100..120 (overshoot bound 16 x 20 = 320)"
run hammer_underestimated hammer_over.sql 16
OVERUSED=$(psql -X -A -t -c "SELECT used FROM quota_status('hammer_over') WHERE limit_name = 'tokens_per_day'")
OVERSHOOT=$(( OVERUSED - LIMIT )); [ "$OVERSHOOT" -lt 0 ] && OVERSHOOT=0
BOUND_OK=$([ "$OVERSHOOT" -le 320 ] && echo true || echo false)
echo "underestimated hammer: usage $OVERUSED of $LIMIT, overshoot $OVERSHOOT (bound 320): $BOUND_OK"

{
    echo "# Quota benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), ${DUR}s per run, hot user with $HOT_EVENTS events today)"
    echo
    echo "Runs named *_paced hold a steady load (checks 2,000/s, reserves 800/s over 10k users or 200/s on the"
    echo "hot user, writers 1,000 inserts/s; latency counted from each transaction's scheduled start); the others"
    echo "run every client flat out, so on 2 cores their latency is mostly waiting for a CPU. The floor_* runs"
    echo "are the least any check (SELECT 1) or reservation (a one-row INSERT and its commit) can take under the"
    echo "same loads here."
    echo
    echo "| run | clients | p50 ms | p99 ms | tps | concurrent writers tps |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}" | awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }'
    echo
    echo "Insert throughput at 8 clients: plain INSERT $PLAIN tps, usage_log_insert $ULI tps (x$RATIO_ULI),"
    echo "usage_log_insert settling a reservation (the quota work in the insert path) $SETTLE tps (x$RATIO)."
    echo
    echo "Hammer (16 clients, limit 20000 tokens/day, estimate 100 >= actual): $OVER of $NUSERS users over the limit; highest usage $MAXUSED."
    echo "Underestimated hammer (estimate 100, actual 100..120): usage $OVERUSED, overshoot $OVERSHOOT tokens, bound 16 x 20 = 320."
} > "$RESULTS/quota.md"
{
    echo "{"
    echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"seconds_per_run\": $DUR, \"hot_user_events\": $HOT_EVENTS,"
    echo "  \"runs\": ["
    printf '%s\n' "${ROWS[@]}" | awk -F'|' '{ printf "%s    {\"run\": \"%s\", \"clients\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"tps\": %s, \"writers_tps\": \"%s\"}", (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, $5, $6 } END { print "" }'
    echo "  ],"
    echo "  \"insert_tps\": {\"plain\": $PLAIN, \"usage_log_insert\": $ULI, \"with_settlement\": $SETTLE, \"ratio\": $RATIO},"
    echo "  \"hammer\": {\"users_over_limit\": $OVER, \"users\": $NUSERS, \"max_used\": $MAXUSED, \"limit\": $LIMIT},"
    echo "  \"hammer_underestimated\": {\"used\": $OVERUSED, \"overshoot\": $OVERSHOOT, \"bound\": 320}"
    echo "}"
} > "$RESULTS/quota.json"
cat "$RESULTS/quota.md"
[ "$OVER" = 0 ] && [ "$BOUND_OK" = true ]
