#!/usr/bin/env bash
# Pricing benchmark (part of make bench): on a private throwaway cluster,
#  1. insert throughput of usage_log_insert with pricing on (a priced model,
#     and an unknown model that stays unpriced) against a plain prepared
#     INSERT of the same values into a bare table of the same shape,
#     interleaved in the same run (pgbench, prepared protocol);
#  2. usage_cost calls per second (pgbench, and a set-based loop);
#  3. usage_reprice over BENCH_EVENTS events (default 1,000,000): seconds.
# Results: test/bench/results/pricing.md and pricing.json.
# Knobs: BENCH_SECONDS (per pgbench run, default 10), BENCH_CLIENTS (default 8),
#        BENCH_ROUNDS (interleaved rounds, default 2), BENCH_EVENTS.
set -euo pipefail
TL_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$TL_ROOT/test/lib/bootstrap.sh"
. "$TL_ROOT/test/lib/cluster.sh"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
CLIENTS="${BENCH_CLIENTS:-8}"
ROUNDS="${BENCH_ROUNDS:-2}"
EVENTS="${BENCH_EVENTS:-1000000}"
RESULTS="$TL_ROOT/test/bench/results"
mkdir -p "$RESULTS"

WORK="$(mktemp -d /tmp/tokenledger-bench-pricing.XXXXXX)"
chmod 755 "$WORK"
trap 'tl_cluster_stop "$WORK/cluster"; rm -rf "$WORK"' EXIT
tl_stage_root "$WORK/root"
tl_build_install >/dev/null
tl_cluster_init "$WORK/cluster" tl_bench
tl_cluster_start "$WORK/cluster"
BINDIR="$(tl_pg_bindir)"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d tl_bench)

"${PSQL[@]}" <<'SQL'
CREATE EXTENSION tokenledger;
-- The baseline: a bare table of the ledger's shape, no indexes beyond the ledger's.
CREATE TABLE bench_plain (LIKE usage_log INCLUDING DEFAULTS) PARTITION BY RANGE (occurred_at);
CREATE TABLE bench_plain_default PARTITION OF bench_plain DEFAULT;
CREATE INDEX ON bench_plain (event_id);
CREATE INDEX ON bench_plain (user_id, occurred_at);
CREATE INDEX ON bench_plain (session_id) WHERE session_id IS NOT NULL;
CREATE SEQUENCE bench_plain_seq;
SQL

mkdir -p "$WORK/scripts"
cat > "$WORK/scripts/plain.sql" <<'SQL'
\set u random(1, 500)
INSERT INTO bench_plain (occurred_at, event_id, total_tokens, input_cost_nano_usd, output_cost_nano_usd, cache_read_cost_nano_usd,
    cache_write_cost_nano_usd, reasoning_cost_nano_usd, total_cost_nano_usd, input_tokens, output_tokens,
    cache_read_tokens, model_id, price_id, provider_id, request_type_id, service_tier, user_id)
VALUES (now(), nextval('bench_plain_seq'), 1500, 3000000, 3000000, 0, 0, 0, 6000000, 1200, 300, 0, 1, 1, 1, 1, 's', 'user-' || :u);
SQL
cat > "$WORK/scripts/priced.sql" <<'SQL'
\set u random(1, 500)
SELECT usage_log_insert('user-' || :u, 'gpt-4o', 1200, 300, provider => 'openai');
SQL
cat > "$WORK/scripts/unpriced.sql" <<'SQL'
\set u random(1, 500)
SELECT usage_log_insert('user-' || :u, 'acme-unknown-model', 1200, 300, provider => 'acme');
SQL
cat > "$WORK/scripts/cost.sql" <<'SQL'
\set n random(1, 300000)
SELECT total_cost_nano_usd FROM usage_cost('claude-sonnet-4-5', :n, 300, 1000, 0, 0, 0, now(), 'anthropic');
SQL

tps() {  # script -> transactions per second
    "$BINDIR/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" -f "$WORK/scripts/$1.sql" tl_bench 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
declare -A SUM=([plain]=0 [priced]=0 [unpriced]=0 [off]=0)
for r in $(seq 1 "$ROUNDS"); do
    for s in plain priced off unpriced; do
        if [ "$s" = off ]; then
            # The same priced insert with pricing switched off: the pricing cost alone.
            t=$(PGOPTIONS="-c tokenledger.price_at_insert=off" tps priced)
        else
            t=$(tps "$s")
        fi
        echo "round $r $s: $t tps"
        SUM[$s]=$(echo "${SUM[$s]} + $t" | bc -l)
    done
done
OFF=$(echo "${SUM[off]} / $ROUNDS" | bc -l)
PLAIN=$(echo "${SUM[plain]} / $ROUNDS" | bc -l)
PRICED=$(echo "${SUM[priced]} / $ROUNDS" | bc -l)
UNPRICED=$(echo "${SUM[unpriced]} / $ROUNDS" | bc -l)
COST_TPS=$(tps cost)

# Set-based: usage_cost on 200,000 rows in one statement (no client round trip).
LOOP_S=$("${PSQL[@]}" -t -A <<'SQL'
\o /dev/null
SELECT usage_cost('gpt-4o', 1, at => '2025-01-01 00:00+00');  -- fills the cache
SELECT clock_timestamp() AS t0 \gset
SELECT count(c.total_cost_nano_usd) FROM generate_series(1, 200000) g,
       LATERAL usage_cost('gemini-2.5-pro', g, 1000, 500, 0, 0, 0, '2025-08-01 00:00+00', 'google') c;
\o
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SQL
)
LOOP_CPS=$(echo "200000 / $LOOP_S" | bc -l)

# In one session, no client round trips: 20,000 usage_log_insert calls with
# pricing on and off, four interleaved rounds in alternating order, best of each (less noise
# from other load than pgbench on a shared machine).
LOOP=$("${PSQL[@]}" -t -A <<'SQL'
CREATE TEMP TABLE t (mode text, s float8);
DO $$
DECLARE t0 timestamptz; r int; m text;
BEGIN
  FOR r IN 1 .. 4 LOOP
    -- Alternate the order so neither mode always runs first.
    FOREACH m IN ARRAY CASE WHEN r % 2 = 1 THEN ARRAY['on', 'off'] ELSE ARRAY['off', 'on'] END LOOP
      PERFORM set_config('tokenledger.price_at_insert', m, true);
      t0 := clock_timestamp();
      PERFORM usage_log_insert('loop-user', 'gpt-4o', 1200, 300, 500, provider => 'openai') FROM generate_series(1, 20000);
      INSERT INTO t VALUES (m, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
  END LOOP;
END $$;
SELECT min(s) FILTER (WHERE mode = 'on') || ' ' || min(s) FILTER (WHERE mode = 'off') FROM t;
SQL
)
LOOP_ON=${LOOP% *}; LOOP_OFF=${LOOP#* }
LOOP_OVERHEAD=$(echo "($LOOP_ON / $LOOP_OFF - 1) * 100" | bc -l)
LOOP_US=$(echo "($LOOP_ON - $LOOP_OFF) / 20000 * 1000000" | bc -l)

# CPU profile (when perf is available): tl_price_event's share of
# usage_log_insert, which no other load on the machine can blur.
PROFILE_SHARE="n/a"
if command -v perf >/dev/null 2>&1; then
    "${PSQL[@]}" -t -A -c "SELECT pg_backend_pid()" -c "SELECT pg_sleep(1)" \
        -c "SELECT count(usage_log_insert('prof-user', 'gpt-4o', 1200, 300, 500, provider => 'openai')) FROM generate_series(1, 100000)" \
        > "$WORK/prof.out" 2>&1 &
    PROF_JOB=$!
    for _ in $(seq 1 50); do [ -s "$WORK/prof.out" ] && break; sleep 0.1; done
    PROF_PID=$(head -1 "$WORK/prof.out")
    timeout 6 perf record -F 999 -g -p "$PROF_PID" -o "$WORK/perf.data" >/dev/null 2>&1 || true
    if [ -s "$WORK/perf.data" ]; then
        PROFILE_SHARE=$(perf report -i "$WORK/perf.data" --children --stdio -g none 2>/dev/null | awk '
            $NF == "usage_log_insert" { total = $1 + 0 }
            $NF == "tl_price_event"   { part = $1 + 0 }
            END { if (total > 0) printf "%.2f", 100 * part / total; else print "n/a" }')
    fi
    wait "$PROF_JOB" || true
fi

# usage_reprice over EVENTS events spread over 30 days, written unpriced
# straight into the ledger (the insert path is measured above).
"${PSQL[@]}" <<SQL
TRUNCATE usage_log;
INSERT INTO usage_models (name) VALUES ('gpt-4o'), ('claude-sonnet-4-0'), ('gemini-2.5-flash'), ('o3') ON CONFLICT DO NOTHING;
INSERT INTO usage_log (occurred_at, event_id, total_tokens, input_tokens, output_tokens, cache_read_tokens, model_id, request_type_id, user_id)
SELECT timestamptz '2025-07-01 00:00+00' + (g % 2592000) * interval '1 second', nextval('usage_event_id_seq'),
       (100 + g % 5000) + (50 + g % 900) + g % 3000, 100 + g % 5000, 50 + g % 900, g % 3000,
       (SELECT model_id FROM usage_models WHERE name = (ARRAY['gpt-4o', 'claude-sonnet-4-0', 'gemini-2.5-flash', 'o3'])[1 + g % 4]),
       1, 'user-' || (g % 500)
FROM generate_series(1, $EVENTS) g;
ANALYZE usage_log;
SQL
REPRICE=$("${PSQL[@]}" -t -A <<'SQL'
SELECT clock_timestamp() AS t0 \gset
\o /dev/null
SELECT * FROM usage_reprice('2025-07-01 00:00+00', '2025-08-01 00:00+00');
\o
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) || ' ' ||
       (SELECT events_changed FROM price_reprice_runs ORDER BY run_id DESC LIMIT 1);
SQL
)
REPRICE_S=${REPRICE% *}; REPRICE_N=${REPRICE#* }

RATIO=$(echo "$PRICED / $PLAIN" | bc -l)
RATIO_U=$(echo "$UNPRICED / $PLAIN" | bc -l)
RATIO_OFF=$(echo "$OFF / $PLAIN" | bc -l)
OVERHEAD=$(echo "($OFF / $PRICED - 1) * 100" | bc -l)
f() { printf '%.*f' "$1" "$2"; }
DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
cat > "$RESULTS/pricing.md" <<MD
# Pricing benchmark ($DATE)

pgbench, prepared protocol, $CLIENTS clients, ${SECONDS_PER_RUN}s per run, $ROUNDS interleaved rounds; $(nproc) CPU cores.

| Measure | Value |
|---|---|
| plain INSERT (baseline) | $(f 0 "$PLAIN") events/s |
| usage_log_insert, priced model (gpt-4o via alias) | $(f 0 "$PRICED") events/s |
| usage_log_insert, unknown model (unpriced) | $(f 0 "$UNPRICED") events/s |
| usage_log_insert, same calls, tokenledger.price_at_insert = off | $(f 0 "$OFF") events/s |
| pricing overhead, pgbench (off / on − 1) | $(f 1 "$OVERHEAD") % |
| pricing overhead, one session, 20,000 inserts, best of 4 (on / off − 1) | $(f 1 "$LOOP_OVERHEAD") % ($(f 2 "$LOOP_US") µs per event) |
| tl_price_event share of usage_log_insert CPU time (perf profile) | $PROFILE_SHARE % |
| insert without pricing / plain INSERT | $(f 3 "$RATIO_OFF") |
| priced insert / plain INSERT | $(f 3 "$RATIO") |
| unpriced insert / plain INSERT | $(f 3 "$RATIO_U") |
| usage_cost calls/s (pgbench, one call per transaction) | $(f 0 "$COST_TPS") |
| usage_cost calls/s (set-based, 200,000 in one statement) | $(f 0 "$LOOP_CPS") |
| usage_reprice over $REPRICE_N events | $REPRICE_S s |
MD
cat > "$RESULTS/pricing.json" <<JSON
{"date": "$DATE", "clients": $CLIENTS, "seconds_per_run": $SECONDS_PER_RUN, "rounds": $ROUNDS,
 "plain_insert_eps": $(f 1 "$PLAIN"), "priced_insert_eps": $(f 1 "$PRICED"), "unpriced_insert_eps": $(f 1 "$UNPRICED"), "pricing_off_insert_eps": $(f 1 "$OFF"), "pricing_overhead_pct": $(f 2 "$OVERHEAD"), "pricing_overhead_pct_loop": $(f 2 "$LOOP_OVERHEAD"), "pricing_us_per_event_loop": $(f 3 "$LOOP_US"),
 "priced_ratio": $(f 4 "$RATIO"), "unpriced_ratio": $(f 4 "$RATIO_U"),
 "usage_cost_calls_per_s_pgbench": $(f 1 "$COST_TPS"), "usage_cost_calls_per_s_set": $(f 1 "$LOOP_CPS"),
 "pricing_cpu_share_pct": "$PROFILE_SHARE", "reprice_events": $REPRICE_N, "reprice_seconds": $REPRICE_S}
JSON
cat "$RESULTS/pricing.md"
