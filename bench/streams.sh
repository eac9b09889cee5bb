#!/usr/bin/env bash
# Streams (issue 22): redis-benchmark against Tessera's RESP port and
# redis-server, same run, split arrangement (each server alone on CPU 1,
# the clients on CPU 0). Per round and server: XADD alone (C50, and C50
# pipelined 16), then a producer (XADD) and a consumer group reader
# (XREADGROUP ... COUNT 1 STREAMS s >, each call one delivery recorded as
# pending) running at once, C50 each. Tessera: durability wal; redis-server:
# appendonly yes, appendfsync everysec.
# Usage: T=target/release/tessera bash bench/streams.sh [ROUNDS] > results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
N=${N:-200000}
T=${T:-target/release/tessera}
work=$(mktemp -d)
pids=()
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap 'stop_all; rm -rf "$work"' EXIT
rps() { tr '\r' '\n' | grep 'requests per second' | tail -1 | sed 's/.*: //'; }
one() { # PORT ARGS... (the command last)
  local port=$1; shift
  taskset -c 0 redis-benchmark -h 127.0.0.1 -p "$port" -q "$@" 2>&1 | rps
}
both() { # PORT: producer and reader at once
  local port=$1
  redis-cli -p "$port" XGROUP CREATE q g '$' MKSTREAM >/dev/null
  taskset -c 0 redis-benchmark -h 127.0.0.1 -p "$port" -q -c 50 -n "$N" \
    XADD q '*' f __rand_int__ 2>&1 | rps >"$work/prod" &
  local p=$!
  taskset -c 0 redis-benchmark -h 127.0.0.1 -p "$port" -q -c 50 -n "$N" \
    XREADGROUP GROUP g c COUNT 1 STREAMS q '>' 2>&1 | rps >"$work/cons"
  wait "$p"
  echo "producer $(cat "$work/prod") reader $(cat "$work/cons") pending $(redis-cli -p "$port" XPENDING q g | head -1)"
}
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(git rev-parse --short HEAD), $T, $(redis-server --version | cut -d' ' -f3)"
for r in $(seq 1 "$ROUNDS"); do
  echo "## round $r"
  start_pair
  for s in tessera redis; do
    port=$tport; [ "$s" = redis ] && port=$rport
    echo "$s XADD C50: $(one "$port" -c 50 -n "$N" XADD s1 '*' f __rand_int__)"
    echo "$s XADD C50 P16: $(one "$port" -c 50 -P 16 -n "$((N * 4))" XADD s2 '*' f __rand_int__)"
    echo "$s XADD + XREADGROUP C50 each: $(both "$port")"
  done
  stop_all
done
