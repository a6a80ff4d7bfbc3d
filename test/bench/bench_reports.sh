#!/usr/bin/env bash
# Reports: builds a dataset (1M events over 35 days by default; --10m or
# BENCH_REPORT_EVENTS=10000000 for 10M), times the full rollup, the
# incremental rollup of one minute of traffic at 5,000 events/s (300k
# committed events) while a pgbench stream keeps inserting 5,000 events/s
# (its events committed by the time the rollup starts are folded too), then every
# report over 30 days (rollups + raw tail) against the same question asked
# with a naive GROUP BY over the raw ledger. Writes Markdown and JSON under
# test/bench/results/. Runs inside run.sh's cluster (PG* variables set), or
# standalone against any cluster the PG* variables point at.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
EVENTS="${BENCH_REPORT_EVENTS:-1000000}"
[ "${1:-}" = "--10m" ] && EVENTS=10000000
MINUTE_EVENTS="${BENCH_MINUTE_EVENTS:-300000}"   # one minute at 5,000 events/s
TRANSACTIONS="${BENCH_REPORT_TX:-20}"
STAMP="${BENCH_STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}"
PGBENCH="${PGBENCH:-pgbench}"
RESULTS="${TL_ROOT:-$HERE/../..}/test/bench/results"
mkdir -p "$RESULTS"
SQLDIR="$(mktemp -d /tmp/tokenledger-bench-reports.XXXXXX)"
chmod 755 "$SQLDIR"
trap 'rm -rf "$SQLDIR"' EXIT

ms() { # command... -> elapsed milliseconds
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

# Loads n synthetic events ending at now() - offset, straight into the
# ledger (the insert path has its own benchmark): 5,000 users, 6 models,
# 4 endpoints, 3 providers; heavy users log more; each user mostly keeps
# to one model and endpoint; 5% failures; priced.
load() {
    psql -X -q -v ON_ERROR_STOP=1 -v n="$1" -v span="$2" <<'SQL'
INSERT INTO usage_log (occurred_at, event_id, total_tokens, input_cost_nano_usd, output_cost_nano_usd, cache_read_cost_nano_usd,
    cache_write_cost_nano_usd, reasoning_cost_nano_usd, total_cost_nano_usd, input_tokens, cache_read_tokens,
    output_tokens, reasoning_tokens, latency_ms, model_id, endpoint_id, price_id, provider_id, request_type_id,
    success, user_id, session_id)
SELECT ts, nextval('usage_event_id_seq'), it + crt + ot + rt, it * 2500, ot * 10000, crt * 1250, 0, rt * 10000,
       it * 2500 + ot * 10000 + crt * 1250 + rt * 10000, it, crt, ot, rt, lat,
       m, e, 1, 1 + (m - 1) / 2, 1, g % 20 <> 0, 'user-' || u, 'sess-' || u || '-' || g / 50
FROM (SELECT g, u, now() - random() * :'span'::interval AS ts, 200 + g % 3000 AS it, 20 + g % 700 AS ot,
             (g % 5) * 256 AS crt, (g % 7) * 30 AS rt, 150 + (hashint4(g) & 65535) % 6000 AS lat,
             -- Each user mostly sticks to one model and one endpoint.
             CASE WHEN g % 10 = 0 THEN 1 + g % 6 ELSE 1 + u % 6 END AS m,
             CASE WHEN g % 5 = 0 THEN 1 + g % 4 ELSE 1 + u % 4 END AS e
      FROM (SELECT g, (5000 * power(random(), 2))::int AS u FROM generate_series(1, :n) g) gu) s
ORDER BY ts;
SQL
}

echo "  preparing: extension, dimensions, partitions"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
INSERT INTO usage_models (name) VALUES ('gpt-4o'), ('gpt-4o-mini'), ('claude-sonnet-4-5'), ('claude-haiku-4-5'), ('gemini-2.5-pro'), ('gemini-2.5-flash');
INSERT INTO usage_endpoints (name) VALUES ('chat'), ('summarize'), ('search'), ('agent');
INSERT INTO usage_providers (name) VALUES ('openai'), ('anthropic'), ('google');
SELECT usage_create_partition(now() - interval '1 month') IS NOT NULL AS ok \g /dev/null
SELECT count(*) FROM usage_create_partitions(1) \g /dev/null
SQL

echo "  loading $EVENTS events over 35 days"
load_ms=$(ms load "$EVENTS" '35 days')
psql -X -q -c "VACUUM ANALYZE usage_log"

echo "  full rollup"
full_ms=$(ms psql -X -q -c "CALL usage_rollup()")

echo "  one minute of traffic ($MINUTE_EVENTS events) rolled up while inserts continue at 5,000 events/s"
load "$MINUTE_EVENTS" '1 minute'
# The writers keep going during the rollup: 100 transactions/s of 50 events.
cat > "$SQLDIR/stream.sql" <<'SQL'
INSERT INTO usage_log (occurred_at, event_id, total_tokens, input_tokens, output_tokens, input_cost_nano_usd,
    output_cost_nano_usd, total_cost_nano_usd, latency_ms, model_id, endpoint_id, price_id, provider_id,
    request_type_id, success, user_id)
SELECT now(), nextval('usage_event_id_seq'), 300, 250, 50, 625000, 500000, 1125000, 400 + g, 1 + g % 6, 1 + g % 4, 1,
       1 + (g % 6) / 2, 1, true, 'user-' || (random() * 5000)::int
FROM generate_series(1, 50) g;
SQL
"$PGBENCH" -n -f "$SQLDIR/stream.sql" -R 100 -T 30 -c 2 >/dev/null 2>&1 &
stream=$!
sleep 2
incr_during_ms=$(ms psql -X -q -c "CALL usage_rollup()")
incr_ms=$(ms psql -X -q -c "CALL usage_rollup()")
kill "$stream" 2>/dev/null || true
wait "$stream" 2>/dev/null || true
psql -X -q -c "CALL usage_rollup()"
psql -X -q -c "VACUUM ANALYZE usage_log, usage_rollup_hourly, usage_rollup_daily, usage_rollup_platform_hourly, usage_rollup_platform_daily, usage_rollup_user_cum, usage_rollup_user_totals"

echo "  a fresh tail of 2,000 events the reports must include"
load 2000 '1 minute'
psql -X -q -c "ANALYZE usage_log"

user=$(psql -X -At -c "SELECT user_id FROM usage_log WHERE event_id = 1")
# The heaviest user too: their raw tail is found among all their events.
heavy=$(psql -X -At -c "SELECT user_id FROM usage_rollup_user_totals ORDER BY requests DESC, user_id LIMIT 1")
P="now() - interval '30 days', now()"
declare -A fast naive
fast[top_users]="SELECT * FROM usage_top_users($P, 20);"
naive[top_users]="SELECT user_id, count(*), sum(total_tokens), sum(total_cost_nano_usd) / 1e9 FROM usage_log WHERE occurred_at >= now() - interval '30 days' AND occurred_at < now() GROUP BY user_id ORDER BY 4 DESC LIMIT 20;"
fast[user_summary]="SELECT * FROM usage_user_summary('$user', $P);"
naive[user_summary]="SELECT count(*), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(total_cost_nano_usd) / 1e9, percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) FROM usage_log WHERE user_id = '$user' AND occurred_at >= now() - interval '30 days' AND occurred_at < now();"
fast[user_summary_heaviest]="SELECT * FROM usage_user_summary('$heavy', $P);"
naive[user_summary_heaviest]="${naive[user_summary]//"'$user'"/"'$heavy'"}"
fast[timeseries_30d]="SELECT * FROM usage_timeseries('day', now() - interval '30 days', now());"
naive[timeseries_30d]="SELECT date_trunc('day', occurred_at, 'UTC'), count(*), sum(total_tokens), sum(total_cost_nano_usd) / 1e9 FROM usage_log WHERE occurred_at >= date_trunc('day', now() - interval '30 days', 'UTC') GROUP BY 1 ORDER BY 1;"
fast[system_summary]="SELECT * FROM usage_system_summary($P);"
naive[system_summary]="SELECT count(*), count(DISTINCT user_id), avg(success::int), sum(total_tokens), sum(total_cost_nano_usd) / 1e9, percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) FROM usage_log WHERE occurred_at >= now() - interval '30 days' AND occurred_at < now();"
fast[by_model]="SELECT * FROM usage_by_model($P);"
naive[by_model]="SELECT model_id, count(*), sum(total_tokens), sum(total_cost_nano_usd) / 1e9 FROM usage_log WHERE occurred_at >= now() - interval '30 days' AND occurred_at < now() GROUP BY 1 ORDER BY 4 DESC;"
fast[totals]="SELECT * FROM usage_totals();"
naive[totals]="SELECT count(*), sum(total_tokens), sum(total_cost_nano_usd) / 1e9 FROM usage_log;"

latency() { # sql file -> average latency in ms
    "$PGBENCH" -n -f "$1" -t "$2" 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p'
}

# A 10M run keeps its own file, so the 1M figures stay next to it.
name=reports
if [ "$EVENTS" != 1000000 ]; then
    if [ $((EVENTS % 1000000)) = 0 ]; then name="reports_$((EVENTS / 1000000))m"; else name="reports_$EVENTS"; fi
fi
md="$RESULTS/$name.md"
json="$RESULTS/$name.json"
{
    echo "# Reports benchmark ($STAMP)"
    echo
    echo "$EVENTS events over 35 days; reports over 30 days from rollups + raw tail vs a naive GROUP BY over the raw ledger."
    echo
    echo "| step | ms |"
    echo "|---|---:|"
    echo "| load $EVENTS events | $load_ms |"
    echo "| full rollup of $EVENTS events | $full_ms |"
    echo "| rollup of $MINUTE_EVENTS events (1 min at 5,000/s) while inserts continue at 5,000/s | $incr_during_ms |"
    echo "| next rollup (the events inserted meanwhile) | $incr_ms |"
    echo
    echo "| report | rollups + tail (ms) | naive GROUP BY (ms) | speed-up |"
    echo "|---|---:|---:|---:|"
} > "$md"
printf '{"stamp": "%s", "events": %s, "load_ms": %s, "full_rollup_ms": %s, "rollup_during_minute_ms": %s, "rollup_minute_rest_ms": %s, "reports": {' \
    "$STAMP" "$EVENTS" "$load_ms" "$full_ms" "$incr_during_ms" "$incr_ms" > "$json"
sep=""
for r in top_users user_summary user_summary_heaviest timeseries_30d system_summary by_model totals; do
    echo "${fast[$r]}" > "$SQLDIR/fast.sql"; echo "${naive[$r]}" > "$SQLDIR/naive.sql"
    f=$(latency "$SQLDIR/fast.sql" "$TRANSACTIONS")
    n=$(latency "$SQLDIR/naive.sql" 3)
    x=$(awk -v a="$f" -v b="$n" 'BEGIN{printf "%.2f", b / a}')
    echo "  $r: $f ms vs naive $n ms (${x}x)"
    echo "| $r | $f | $n | ${x}x |" >> "$md"
    printf '%s"%s": {"fast_ms": %s, "naive_ms": %s, "ratio": %s}' "$sep" "$r" "$f" "$n" "$x" >> "$json"
    sep=", "
done
echo "}}" >> "$json"
cat "$md"
