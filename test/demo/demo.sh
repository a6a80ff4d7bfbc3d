#!/usr/bin/env bash
# make demo / make demo-stop: a private cluster in ./.pgdata with the
# extension and 30 days of realistic traffic. Re-running adds nothing twice:
# every demo event carries a deterministic request id.
set -euo pipefail
TL_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$TL_ROOT/test/lib/bootstrap.sh"
. "$TL_ROOT/test/lib/cluster.sh"
DEMO="$TL_ROOT/.pgdata"

stop() {
    if [ -d "$DEMO" ]; then
        export TL_PGROOT="$DEMO/pgroot"
        tl_cluster_stop "$DEMO"
        echo "demo cluster stopped (data kept in $DEMO; rm -rf it to start over)"
    fi
}

start() {
    tl_bootstrap_packages
    if [ ! -d "$DEMO" ]; then
        # The postgres OS user must reach the data; a checkout under a private
        # home directory gets its cluster in /var/tmp, linked from ./.pgdata.
        if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$TL_ROOT"; then
            local real; real="$(mktemp -d /var/tmp/tokenledger-demo.XXXXXX)"
            chmod 755 "$real"; ln -s "$real" "$DEMO"
        else
            mkdir -p "$DEMO"
        fi
    fi
    tl_stage_root "$DEMO/pgroot"
    tl_build_install
    if [ ! -d "$DEMO/data" ]; then
        echo "==> creating the demo cluster in $DEMO"
        tl_cluster_init "$DEMO" tokenledger
    fi
    if [ -f "$DEMO/data/postmaster.pid" ] && tl_run_pg "$(tl_pg_bindir)/pg_ctl" -D "$DEMO/data" status >/dev/null 2>&1; then
        # Pick up a rebuilt library.
        tl_run_pg "$(tl_pg_bindir)/pg_ctl" -D "$DEMO/data" -m fast -w restart -l "$DEMO/server.log" >/dev/null
        tl_cluster_env "$DEMO"
    else
        tl_cluster_start "$DEMO"
    fi
    psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "CREATE EXTENSION IF NOT EXISTS pg_cron" \
        -c "CREATE EXTENSION IF NOT EXISTS tokenledger" -c "ALTER EXTENSION tokenledger UPDATE"
    echo "==> loading 30 days of traffic through usage_log_insert"
    psql -X -q -v ON_ERROR_STOP=1 -f "$TL_ROOT/test/demo/workload.sql"
    echo "==> maintenance (partitions, strays moved into place, rollup) and pg_cron jobs"
    psql -X -q -v ON_ERROR_STOP=1 -c "CALL usage_maintenance()" \
        -c "SELECT jobname, schedule, command FROM usage_schedule()"
    psql -X -v ON_ERROR_STOP=1 -f "$TL_ROOT/test/demo/report.sql"
    cat <<MSG

Connect with:
    psql -h $PGHOST -p $PGPORT -U postgres tokenledger
Stop with:
    make demo-stop
MSG
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
