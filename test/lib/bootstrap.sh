# Installs the Debian packages the project needs, only those missing.
# Works as root (CI) or through sudo. Sourced by the entry scripts.

TL_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-cron \
postgresql-15-pgtap pgtap libpq-dev catch2 cmake g++ make nlohmann-json3-dev"

tl_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

tl_bootstrap_packages() {
    local missing="" p
    for p in $TL_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "==> installing Debian packages:$missing"
    # Debian's postgresql-common would create and start a system cluster;
    # we never want one, so tell it not to.
    tl_as_root mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | tl_as_root tee /etc/postgresql-common/createcluster.d/tokenledger.conf >/dev/null
    tl_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    tl_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

tl_pg_bindir() { echo "/usr/lib/postgresql/15/bin"; }

tl_build_install() {
    local pgc; pgc="$(tl_pg_bindir)/pg_config"
    echo "==> building and installing the extension"
    make -s -C "$TL_ROOT/extension" PG_CONFIG="$pgc" >/dev/null
    tl_as_root make -s -C "$TL_ROOT/extension" PG_CONFIG="$pgc" install >/dev/null
}
