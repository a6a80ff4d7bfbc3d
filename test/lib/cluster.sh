# A private, throwaway PostgreSQL cluster: its own data directory, its own
# socket directory, no TCP listener, pg_cron preloaded. It never touches a
# system cluster. When run as root, the cluster runs as the postgres OS user.
#
# Usage (after sourcing): tl_cluster_init DIR DBNAME; tl_cluster_start DIR;
# tl_cluster_stop DIR. Connection settings are exported as PGHOST/PGPORT/
# PGUSER/PGDATABASE by tl_cluster_env DIR.

tl_run_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

tl_pick_port() {
    # The cluster listens only on its own socket directory, so the port is a
    # name, not a TCP port; a random high one keeps socket names distinct.
    echo $(( 40000 + RANDOM % 20000 ))
}

tl_cluster_env() {
    local dir="$1"
    export PGHOST="$dir/socket" PGPORT="$(cat "$dir/port")" PGUSER=postgres
    export PGDATABASE="$(cat "$dir/dbname")"
}

tl_cluster_init() {
    local dir="$1" db="$2" port bindir
    bindir="$(tl_pg_bindir)"
    port="$(tl_pick_port)"
    mkdir -p "$dir/socket"
    echo "$port" > "$dir/port"; echo "$db" > "$dir/dbname"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$dir"; chmod 755 "$dir"; fi
    tl_run_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; return 1; }
    tl_run_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
# tokenledger private cluster
listen_addresses = ''
port = $port
unix_socket_directories = '$dir/socket'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$db'
cron.use_background_workers = on
max_worker_processes = 32
max_connections = 100
max_prepared_transactions = 10
shared_buffers = 512MB
fsync = on
synchronous_commit = on
log_min_messages = warning
logging_collector = off
timezone = 'UTC'
CONF
}

tl_cluster_start() {
    local dir="$1"
    tl_run_pg "$(tl_pg_bindir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log"; return 1; }
    tl_cluster_env "$dir"
    psql -X -q -d postgres -c "CREATE DATABASE \"$PGDATABASE\"" 2>/dev/null || true
}

tl_cluster_stop() {
    local dir="$1"
    [ -f "$dir/data/postmaster.pid" ] || return 0
    tl_run_pg "$(tl_pg_bindir)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}
