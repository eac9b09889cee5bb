#!/usr/bin/env bash
# Builds the Debian package tessera_<version>_<arch>.deb with dpkg-deb (no
# extra packaging tool): the binary, the systemd unit, the default config
# (a conffile), the docs, and maintainer scripts that create the tessera
# user (tools/debian/). Data directories are never removed by the package.
#
# Usage: tools/build-deb.sh [--binary PATH] [--out DIR]
#   --binary PATH  the tessera binary to package [default: target/release/tessera, built if missing]
#   --out DIR      where the .deb goes [default: target/debian]
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out=target/debian
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    binary=target/release/tessera
    [ -x "$binary" ] || make build
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$binary" "$stage/usr/bin/tessera"
install -D -m 0644 tools/tessera.service "$stage/lib/systemd/system/tessera.service"
install -D -m 0644 tools/tessera.toml "$stage/etc/tessera/tessera.toml"
for doc in README.md docs/operations.md docs/protocol.md docs/http.md; do
    install -D -m 0644 "$doc" "$stage/usr/share/doc/tessera/$(basename "$doc")"
done
install -d "$stage/DEBIAN"
install -m 0755 tools/debian/postinst tools/debian/prerm tools/debian/postrm "$stage/DEBIAN/"
echo /etc/tessera/tessera.toml > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: tessera
Version: $version
Architecture: $arch
Maintainer: Tessera developers <tessera@localhost>
Section: database
Priority: optional
Installed-Size: $size
Depends: libc6, adduser | passwd
Description: persistent, thread-per-core key-value database
 Tessera runs one pinned io_uring reactor per core, each owning its own
 RocksDB partitions, and serves a shard-aware binary protocol and HTTP.
 Installs the tessera binary, a hardened Type=notify systemd unit with a
 watchdog, and the default configuration in /etc/tessera/tessera.toml.
CONTROL
mkdir -p "$out"
deb="$out/tessera_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
