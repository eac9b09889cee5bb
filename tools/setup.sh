#!/usr/bin/env bash
# Installs what building Tessera needs on a fresh Debian machine that has only
# the Rust toolchain: a C/C++ toolchain and libclang (RocksDB's bindgen),
# ccache (so RocksDB's C++ compiles once for every cargo profile), pkg-config,
# and redis-server + redis-tools (the benchmark's side-by-side and the tests
# that drive a real redis-server), and systemd (systemd-analyze verify checks
# the service unit), python3-venv (the redis-py client tests make a
# virtualenv); and cargo-deb (the Debian package).
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
for pkg in build-essential libclang-dev ccache pkg-config redis-server redis-tools systemd python3-venv; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        need+=("$pkg")
    fi
done
for tool in cargo rustc; do
    command -v "$tool" >/dev/null || { echo "setup: $tool not found; install the Rust toolchain (rustup)" >&2; exit 1; }
done
# cargo-deb builds the Debian package (`make deb`, and a test checks it).
if ! command -v cargo-deb >/dev/null; then
    echo "setup: installing cargo-deb" >&2
    cargo install cargo-deb --locked --quiet
fi
if [ "${#need[@]}" -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "setup: installing ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
# The package may start a system redis on 6379; nothing here uses it.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
    $SUDO systemctl stop redis-server || true
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
