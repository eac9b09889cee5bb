#!/usr/bin/env bash
# The 3-primary cluster against the single node, on this machine, in one run
# (issue 19; BENCHMARKS.md "Cluster"):
#   - tessera-bench (binary protocol, shard-aware) against a single Tessera
#     node and against a 3-primary Tessera cluster (no replicas);
#   - redis-benchmark --cluster against the Tessera cluster's RESP port and
#     against a 3-node redis-server cluster (appendonly everysec) run the
#     same way.
# Every node runs --cores 1; the machine's CPUs are shared by all servers
# and the clients (no taskset), as the issue's acceptance runs do.
# Usage: bench/cluster.sh [REQUESTS]   (T=path/to/tessera, B=path/to/tessera-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-target/release/tessera}
B=${B:-target/release/tessera-bench}
N=${1:-200000}
work=$(mktemp -d)
pids=()
source bench/lib.sh
trap 'stop_all; rm -rf "$work"' EXIT

rb() { # PORT TEST [--cluster]
  redis-benchmark -p "$1" -t "$2" -n "$N" -c 50 -P 16 -d 256 -r 100000 -q ${3:-} 2>/dev/null \
    | tr '\r' '\n' | grep -E "^$(echo "$2" | tr a-z A-Z): " | tail -1
}
tb() { # ADDR
  "$B" --addr "$1" --scenario C50-V256 --pipeline 16 --requests "$N" 2>&1 | grep -E "PUT|GET" | tail -2
}

echo "== single Tessera node (--cores 1)"
start_tessera single
tb "$(field single binary)"
echo "redis-benchmark SET $(rb "$(field single resp | cut -d: -f2)" set)"
echo "redis-benchmark GET $(rb "$(field single resp | cut -d: -f2)" get)"
stop_all

echo "== 3-primary Tessera cluster (--cores 1 each)"
for i in 1 2 3; do start_tessera "c$i" --cluster; done
"$T" cluster create "$(field c1 binary)" "$(field c2 binary)" "$(field c3 binary)" >/dev/null
tb "$(field c1 binary)"
echo "redis-benchmark --cluster SET $(rb "$(field c1 resp | cut -d: -f2)" set --cluster)"
echo "redis-benchmark --cluster GET $(rb "$(field c1 resp | cut -d: -f2)" get --cluster)"
stop_all

echo "== 3-node redis-server cluster (appendonly everysec)"
ports=()
for i in 1 2 3; do
  # Redis's cluster bus listens on port + 10000: keep that under 65536.
  p=$(free_port); while [ "$p" -gt 55000 ]; do p=$(free_port); done
  ports+=("$p"); mkdir -p "$work/r$i"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$work/r$i" --cluster-enabled yes \
    --cluster-config-file nodes.conf --appendonly yes --appendfsync everysec --save '' \
    >"$work/r$i/log" 2>&1 &
  pids+=($!)
done
for p in "${ports[@]}"; do
  for _ in $(seq 1 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
redis-cli --cluster create "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}" \
  --cluster-yes >/dev/null
for _ in $(seq 1 100); do
  redis-cli -p "${ports[0]}" cluster info | grep -q cluster_state:ok && break; sleep 0.1
done
echo "redis-benchmark --cluster SET $(rb "${ports[0]}" set --cluster)"
echo "redis-benchmark --cluster GET $(rb "${ports[0]}" get --cluster)"
