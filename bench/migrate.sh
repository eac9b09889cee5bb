#!/usr/bin/env bash
# Slot migration under load (issue 20; BENCHMARKS.md "Moving slots"):
#   - a 3-primary Tessera cluster (--cores 1 each), filled with 200,000 keys;
#   - redis-benchmark --cluster SET (C50, no pipelining) without any migration,
#     then the same while `tessera cluster migrate-slots` moves batches of
#     1,000 slots back and forth between shards 0 and 1, for as long as the
#     benchmark runs;
#   - each migration's fence (INFO cluster_migrate_fence_last_ms on the
#     target) and the client's p50/p99/max latency in both runs.
# Every server and client share the machine's CPUs (no taskset).
# Usage: bench/migrate.sh [REQUESTS]   (T=path/to/tessera)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-target/release/tessera}
N=${1:-600000}
work=$(mktemp -d)
pids=()
source bench/lib.sh
trap 'stop_all; rm -rf "$work"' EXIT


for i in 1 2 3; do start_tessera "c$i" --cluster; done
"$T" cluster create "$(field c1 binary)" "$(field c2 binary)" "$(field c3 binary)" >/dev/null
redis-benchmark -p "$(resp_port c1)" --cluster -t set -n 200000 -r 200000 -c 50 -P 16 -d 256 -q \
  >/dev/null 2>&1
bench() { redis-benchmark -p "$(resp_port c1)" --cluster -t set -n "$1" -r 200000 -c 50 -d 256 2>/dev/null; }

echo "== SET C50 without a migration: avg min p50 p95 p99 max (ms)"
bench "$N" | latency

echo "== SET C50 while migrations of 1,000 slots run back and forth"
bench "$N" >"$work/during" &
load=$!
sleep 1
fences=()
r=0
while kill -0 "$load" 2>/dev/null; do
  r=$((r + 1))
  if [ $((r % 2)) -eq 1 ]; then to=1; node=c2; else to=0; node=c1; fi
  "$T" cluster migrate-slots 0-999 --to "$to" --addr "$(field c1 binary)" >/dev/null
  f=$(redis-cli -p "$(resp_port $node)" info | tr -d '\r' | sed -n 's/^cluster_migrate_fence_last_ms://p')
  fences+=("$f")
done
wait "$load" || true
latency <"$work/during"
echo "== fences (ms, fence commit to flip commit), sorted"
printf '%s\n' "${fences[@]}" | sort -n | tr '\n' ' '; echo
printf '%s\n' "${fences[@]}" | sort -n | awk '{a[NR]=$1} END {
  r=int(NR*0.99); if (r < NR*0.99) r++; p50=a[int((NR+1)/2)]; p99=a[r]; print "p50 " p50 " ms, p99 " p99 " ms, max " a[NR] " ms over " NR }'
