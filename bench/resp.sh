#!/usr/bin/env bash
# redis-benchmark against Tessera's RESP port and against redis-server, same
# run (issue 5): C1000, C50 and C50 pipelined 16, V256, SET then GET.
# Split arrangement: each server alone on CPU 1, redis-benchmark on CPU 0.
# Tessera: durability wal (every write in the WAL, synced once a second);
# redis-server: appendonly yes, appendfsync everysec. Both fresh each round.
# Usage: bash bench/resp.sh [ROUNDS] > results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
T=${T:-target/release/tessera}
work=$(mktemp -d)
pids=()
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap 'stop_all; rm -rf "$work"' EXIT
bench() { # PORT ARGS...
  local port=$1; shift
  taskset -c 0 redis-benchmark -h 127.0.0.1 -p "$port" -r 100000 -d 256 -q -t set,get "$@" 2>&1 \
    | tr '\r' '\n' | grep 'requests per second' | tr '\n' ' '
}
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(git rev-parse --short HEAD), $(redis-server --version | cut -d' ' -f3)"
for r in $(seq 1 "$ROUNDS"); do
  echo "## round $r"
  start_pair
  for load in "-c 1000 -n 400000" "-c 50 -n 400000" "-c 50 -P 16 -n 2000000"; do
    # shellcheck disable=SC2086
    echo "tessera $load: $(bench "$tport" $load)"
    # shellcheck disable=SC2086
    echo "redis   $load: $(bench "$rport" $load)"
  done
  stop_all
done
