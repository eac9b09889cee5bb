#!/usr/bin/env bash
# Installs Tessera as a systemd service on this machine:
#   /usr/bin/tessera                       the binary (built here if missing)
#   /etc/systemd/system/tessera.service    the unit (Type=notify, watchdog, hardening)
#   /etc/tessera/tessera.toml              the commented default config (kept if present)
#   /usr/share/doc/tessera/                README and operations docs
#   user and group `tessera` (system, no shell, no home)
#   /var/lib/tessera                       created by systemd (StateDirectory=)
#   /var/backups/tessera                   the backup-root of the default config
# Then: systemctl enable --now tessera
#
# Usage: sudo tools/install.sh [--binary PATH] [--prefix DIR] [--no-systemctl]
#   --prefix DIR     install under DIR instead of / (for packaging and tests)
#   --no-systemctl   do not run systemctl daemon-reload
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
prefix=""
systemctl=1
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --prefix) prefix="$2"; shift 2 ;;
        --no-systemctl) systemctl=0; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "$binary" ]; then
    binary=target/release/tessera
    if [ ! -x "$binary" ]; then
        make build
    fi
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }

install -D -m 0755 "$binary" "$prefix/usr/bin/tessera"
install -D -m 0644 tools/tessera.service "$prefix/etc/systemd/system/tessera.service"
if [ -e "$prefix/etc/tessera/tessera.toml" ]; then
    echo "install.sh: keeping the existing $prefix/etc/tessera/tessera.toml" >&2
else
    install -D -m 0644 tools/tessera.toml "$prefix/etc/tessera/tessera.toml"
fi
install -D -m 0644 README.md "$prefix/usr/share/doc/tessera/README.md"
install -D -m 0644 docs/operations.md "$prefix/usr/share/doc/tessera/operations.md"
install -D -m 0644 docs/protocol.md "$prefix/usr/share/doc/tessera/protocol.md"

if [ -z "$prefix" ]; then
    if ! getent group tessera >/dev/null; then
        groupadd --system tessera
    fi
    if ! getent passwd tessera >/dev/null; then
        useradd --system --gid tessera --no-create-home --home-dir /var/lib/tessera \
            --shell /usr/sbin/nologin --comment "Tessera key-value database" tessera
    fi
    install -d -m 0750 -o tessera -g tessera /var/backups/tessera
    if [ "$systemctl" = 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        echo "install.sh: installed; start it with: systemctl enable --now tessera" >&2
    else
        echo "install.sh: installed; systemd is not running here, so nothing was reloaded" >&2
    fi
fi
