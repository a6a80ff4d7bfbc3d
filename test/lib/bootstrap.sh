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

TL_SYSTEM_PG=/usr/lib/postgresql/15

# The binaries of the staged tree when there is one (see tl_stage_root).
tl_pg_bindir() { echo "${TL_PGROOT:+$TL_PGROOT}$TL_SYSTEM_PG/bin"; }

# A private copy of the PostgreSQL 15 tree to install the extension into,
# so tests never write to system directories and parallel checkouts don't
# overwrite each other's build. PostgreSQL finds its share and lib
# directories relative to its binary, so the copy runs as is. Binaries are
# copied; libraries and share files are symlinked.
tl_stage_root() {
    local root="$1" sharedir
    sharedir="$("$TL_SYSTEM_PG/bin/pg_config" --sharedir)"
    rm -rf "$root"
    mkdir -p "$root$TL_SYSTEM_PG" "$root$(dirname "$sharedir")"
    cp -a "$TL_SYSTEM_PG/bin" "$root$TL_SYSTEM_PG/bin"
    cp -as "$TL_SYSTEM_PG/lib" "$root$TL_SYSTEM_PG/lib"
    cp -as "$sharedir" "$root$sharedir"
    rm -f "$root$TL_SYSTEM_PG/lib/tokenledger.so" "$root$sharedir"/extension/tokenledger*
    chmod -R a+rX "$root"
    export TL_PGROOT="$root"
}

tl_build_install() {
    local pgc="$TL_SYSTEM_PG/bin/pg_config"
    echo "==> building the extension (warnings are errors) and installing it into ${TL_PGROOT:-the system}"
    make -s -C "$TL_ROOT/extension" PG_CONFIG="$pgc" >/dev/null || return 1
    if [ -n "${TL_PGROOT:-}" ]; then
        make -s -C "$TL_ROOT/extension" PG_CONFIG="$pgc" DESTDIR="$TL_PGROOT" install >/dev/null
    else
        tl_as_root make -s -C "$TL_ROOT/extension" PG_CONFIG="$pgc" install >/dev/null
    fi
}
