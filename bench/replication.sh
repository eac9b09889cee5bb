#!/usr/bin/env bash
# C1000-V256 PUT on a primary alone, with one async replica and with one
# acknowledging replica (docs/replication.md), plus GET and the same load
# against redis-server (appendonly everysec) for the side-by-side.
# Split arrangement: the primary (or redis-server) alone on CPU 1; the
# replica and the generator on CPU 0. Every setup on fresh directories.
# Usage: bash bench/replication.sh [ROUNDS] > results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
T=target/release/tessera
B=target/release/tessera-bench
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# start NAME CPU ARGS...: starts tessera serve, prints its binary address.
start() {
  local name=$1 cpu=$2; shift 2
  rm -rf "$work/$name"; mkdir -p "$work/$name"
  taskset -c "$cpu" "$T" serve --data-dir "$work/$name/data" --listen 127.0.0.1:0 \
    --http-listen off --resp-listen off --partitions 1 "$@" \
    >"$work/$name/ready" 2>"$work/$name/log" &
  pids+=($!)
  for _ in $(seq 1 600); do
    if grep -q '^tessera ready' "$work/$name/ready" 2>/dev/null; then break; fi
    sleep 0.05
  done
  sed -n 's/.*binary=\([^ ]*\).*/\1/p' "$work/$name/ready"
}
stop_all() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
run() { "$B" --cpus 0 --duration 8 --warmup 2 -q "$@" 2>&1 | grep -E 'ops/s' | head -1; }

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $(git rev-parse --short HEAD)"
for r in $(seq 1 "$ROUNDS"); do
  echo "## round $r"
  p=$(start primary 1); echo "no replica PUT: $(run --addr "$p" --scenario C1000-V256 --op set)"
  echo "no replica GET: $(run --addr "$p" --scenario C1000-V256 --op get)"; stop_all
  p=$(start primary 1); start replica 0 --replica-of "$p" >/dev/null
  echo "async replica PUT: $(run --addr "$p" --scenario C1000-V256 --op set)"; stop_all
  p=$(start primary 1 --min-replicas-to-ack 1); start replica 0 --replica-of "$p" >/dev/null
  echo "acks PUT: $(run --addr "$p" --scenario C1000-V256 --op set)"; stop_all
  rm -rf "$work/redis"; mkdir -p "$work/redis"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  taskset -c 1 redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
    --appendfsync everysec --save '' >"$work/redis/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  echo "redis PUT: $(run --addr "127.0.0.1:$port" --proto resp --scenario C1000-V256 --op set)"
  echo "redis GET: $(run --addr "127.0.0.1:$port" --proto resp --scenario C1000-V256 --op get)"
  stop_all
done
