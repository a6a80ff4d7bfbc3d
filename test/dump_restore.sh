#!/usr/bin/env bash
# pg_dump keeps what users recorded: the ledger, dimensions, request ids and
# the event id sequence survive a dump and restore into a fresh database,
# and recording continues there without reusing ids or double counting.
# Runs against the cluster of run_tests.sh (PG* variables set); exit 0 = pass.
set -euo pipefail
BINDIR="$1"
src=tl_dump_src; dst=tl_dump_dst
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" \
    -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
psql -X -q -v ON_ERROR_STOP=1 -d $src <<'SQL'
CREATE EXTENSION tokenledger;
SELECT count(usage_log_insert('user-' || n % 7, 'model-' || n % 3, provider => 'p' || n % 2,
        endpoint => 'e', request_id => 'r' || n, input_tokens => n, output_tokens => 2 * n,
        occurred_at => '2026-01-01'::timestamptz + n * interval '1 hour'))
FROM generate_series(1, 500) n;
SQL
summary="SELECT count(*), sum(total_tokens), count(DISTINCT model), count(DISTINCT provider), max(event_id) FROM usage_events"
before=$(psql -X -At -d $src -c "$summary")
"$BINDIR/pg_dump" -Fc -d $src -f "$TMPDIR/tl.dump"
"$BINDIR/pg_restore" -d $dst --exit-on-error "$TMPDIR/tl.dump"
after=$(psql -X -At -d $dst -c "$summary")
[ "$before" = "$after" ] || { echo "dump/restore changed the ledger: '$before' became '$after'"; exit 1; }
# Retries of restored request ids still deduplicate, and new ids continue upwards.
check=$(psql -X -At -d $dst \
    -c "SELECT usage_log_insert('user-1', 'model-1', request_id => 'r7') = (SELECT event_id FROM usage_log WHERE request_id = 'r7')" \
    -c "SELECT usage_log_insert('user-1', 'model-1') > (SELECT max(event_id) FROM usage_log)" \
    -c "SELECT count(*) FROM usage_log" | paste -sd'|')
[ "$check" = "t|t|501" ] || { echo "after restore: dedup/sequence check gave '$check', expected 't|t|501'"; exit 1; }
psql -X -q -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
echo "dump/restore: ledger identical ($after), dedup and ids continue"
