#!/usr/bin/env bash
# Instructions per request of one Tessera build under callgrind, for A/B
# comparisons of the request path that do not depend on the machine's
# load: `tessera serve --cores 1 --durability wal` under valgrind, 2,000
# requests of warm-up, counters zeroed, then 20,000 pipelined requests
# (redis-benchmark -c 50 -P 16 -r 100000 -d 256), counters dumped; prints
# the whole process's instructions divided by 20,000.
#
#   bash bench/callgrind.sh path/to/tessera OP     (OP: SET, GET, HSET, ...)
#
# Needs valgrind (callgrind_control), redis-benchmark and redis-cli.
set -euo pipefail
bin=$1
op=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" serve \
  --data-dir "$work/data" --cores 1 --durability wal --listen 127.0.0.1:0 \
  --resp-listen "127.0.0.1:$port" --http-listen off >"$work/ready" 2>"$work/log" &
vg=$!
for _ in $(seq 1 600); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.2
done
load=(-p "$port" -c 50 -P 16 -r 100000 -d 256 -t "$op" -q)
redis-benchmark "${load[@]}" -n 2000 >/dev/null
callgrind_control -z "$vg" >/dev/null 2>&1
redis-benchmark "${load[@]}" -n 20000 >/dev/null
callgrind_control -d "$vg" >/dev/null 2>&1
sleep 1
kill -9 "$vg" 2>/dev/null || true
wait "$vg" 2>/dev/null || true
total=0
for f in "$work"/cg.out.*; do
  n=$(grep -m1 '^summary:' "$f" | awk '{print $2}')
  total=$((total + ${n:-0}))
done
echo "$op $((total / 20000)) instructions per request ($bin)"
