#!/usr/bin/env bash
# Collections under churn (issue 16), Tessera against redis-server in one run:
#  1. bench/churn.py: one redis-py client fills a key with 200,000 members and
#     pops for five seconds (ZPOPMIN, ZPOPMAX, SPOP, LPOP, RPOP), then a
#     100-member sorted set used as a queue (ZADD + ZPOPMIN) and a hash of
#     100 fields churned by HDEL + HSET + HGETALL; operations per second.
#  2. redis-benchmark pops at -c 50 after 300,000 pushes (-r 100000 members).
# Split arrangement: each server alone on CPU 1 (Tessera with one reactor),
# the clients on CPU 0. Tessera: durability wal; redis-server: appendonly yes,
# appendfsync everysec. Both fresh.
# Usage: bash bench/churn.sh [TESSERA_BINARY] > results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-target/release/tessera}
venv=target/redis-py-venv
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q redis; }
"$venv/bin/python" -c 'import redis' 2>/dev/null || "$venv/bin/pip" install -q redis
work=$(mktemp -d)
pids=()
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap 'stop_all; rm -rf "$work"' EXIT
start() { start_pair --cores 1; }
rb() { # PORT ARGS...
  local port=$1; shift
  taskset -c 0 redis-benchmark -h 127.0.0.1 -p "$port" -q "$@" 2>&1 | tr '\r' '\n' \
    | grep -E 'requests per second|ERR|error' | tail -1
}
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(git rev-parse --short HEAD), $($T --version 2>/dev/null || echo tessera), redis $(redis-server --version | cut -d' ' -f3)"
start
echo "## redis-py, one client"
taskset -c 0 "$venv/bin/python" bench/churn.py tessera="$tport" redis="$rport"
stop_all
echo "## redis-benchmark -c 50 pops after 300,000 pushes"
for pair in "lpush rpop" "lpush lpop" "zadd zpopmin" "sadd spop"; do
  set -- $pair
  start
  for who in tessera redis; do
    port=$tport; [ $who = redis ] && port=$rport
    rb "$port" -t "$1" -n 300000 -r 100000 -c 50 >/dev/null
    echo "$who $2 -c 50 -n 30000: $(timeout 120 bash -c "$(declare -f rb); rb $port -t $2 -n 30000 -c 50" || echo 'did not finish in 120 s')"
  done
  stop_all
done
