#!/usr/bin/env bash
# cmake --install gives a usable package: a consumer project builds against
# it with find_package (shared and static) and with pkg-config, and runs.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"; src="$2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
version="$(sed -nE "s/^default_version *= *'([0-9.]+)'.*/\1/p" "$src/extension/tokenledger.control")"
cmake -S "$src/client/tests/package" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DTL_EXPECT_VERSION="$version" >/dev/null
cmake --build "$tmp/consumer" -j2 >/dev/null
user="package-test-$$-$RANDOM"
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/consumer/consumer_shared" "$user-shared" | grep -Eq '^[0-9]+$'
"$tmp/consumer/consumer_static" "$user-static" | grep -Eq '^[0-9]+$'
libdir="$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1)"
PKG_CONFIG_PATH="$libdir" c++ -std=c++17 "$src/client/tests/package/consumer.cpp" -o "$tmp/consumer_pc" \
    $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs tokenledger)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/consumer_pc" "$user-pc" | grep -Eq '^[0-9]+$'
n="$(psql -X -A -t -c "SELECT count(*) FROM usage_log WHERE starts_with(user_id, '$user')")"
[ "$n" = 3 ] || { echo "expected 3 rows from the consumers, found $n"; exit 1; }
echo "package ok"
