#!/usr/bin/env bash
# Growing, shrinking and replacing nodes under load (issue 20; BENCHMARKS.md
# "Growing, shrinking and replacing under load"), the bigger version of
# tests/cluster_grow.rs:
#   - seven --cluster nodes (--cores 1 each); c1-c3 form 3 primaries, filled
#     with KEYS keys of 256 bytes over every slot (tessera-bench);
#   - a redis-py RedisCluster writer (tests/redis_py/migrate_load.py:
#     unique-key SETs and INCRs of 20 counters, every acknowledged reply
#     kept) runs throughout and is verified at the end;
#   - redis-benchmark --cluster SET C50 runs of 100,000 requests: three
#     before any change (the baseline), then back to back while
#     add-node c4, add-node c5, rebalance, remove-node c4, remove-node c5,
#     add-node c6 --replica-of 0, replace-node c1 c7 run one after another;
#   - every fence, from the targets' logs ("slot migration: fence N ms").
# Every server and client share the machine's CPUs (no taskset).
# Usage: bench/resize.sh [KEYS]   (T=path/to/tessera, B=path/to/tessera-bench; SHOW_OPS=1 prints what each op said,
# VERIFY_EACH=1 reads every acknowledged SET back after each op, KEEP=1 keeps
# the nodes' directories and logs)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-target/release/tessera}
B=${B:-target/release/tessera-bench}
KEYS=${1:-1000000}
work=$(mktemp -d)
pids=()
source bench/lib.sh
trap 'touch "$work/stop" "$work/stop-bench"; stop_all; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
# redis-py: the tests' virtualenv (made by `make test`), else python3's own.
PY=target/redis-py-venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" -c 'import redis' 2>/dev/null || { echo "redis-py is missing: run make test once, or pip install redis" >&2; exit 1; }

for i in 1 2 3 4 5 6 7; do start_tessera "c$i" --cluster; done
"$T" cluster create "$(field c1 binary)" "$(field c2 binary)" "$(field c3 binary)" >/dev/null
entry=$(resp_port c2) # c2 stays a primary throughout
# tessera-bench spreads key:N over every slot (redis-benchmark --cluster
# puts each node's keys under one hash tag, so in one slot).
"$B" --addr "$(field c2 binary)" --op set -r "$KEYS" --dist sequential -n "$KEYS" \
  -c 50 -P 16 -d 256 --warmup 0 --quiet >/dev/null
echo "== $KEYS keys of 256 bytes on 3 primaries"

"$PY" tests/redis_py/migrate_load.py 127.0.0.1 "$entry" load "$work/acked" "$work/stop" \
  >"$work/load.out" 2>&1 &
pids+=($!)
load=$!
bench() { redis-benchmark -p "$entry" --cluster -t set -n 100000 -r "$KEYS" -c 50 -d 256 2>/dev/null | latency; }

echo "== SET C50 without a change: avg min p50 p95 p99 max (ms), per run of 100,000"
for _ in 1 2 3; do bench; done

echo "== the same, back to back while the cluster grows, shrinks and replaces a node"
(while [ ! -e "$work/stop-bench" ]; do bench; done) >"$work/during" &
runs=$!
a=$(field c2 binary)
op() { # LABEL ARGS...: runs tessera cluster ARGS, prints its time
  local label=$1 t0; shift; t0=$(date +%s.%N)
  "$T" cluster "$@" --addr "$a" >"$work/op.out" 2>&1 || { cat "$work/op.out"; exit 1; }
  cat "$work/op.out" >>"$work/ops.log"
  [ -z "${VERIFY_EACH:-}" ] || echo "     acknowledged SETs after it: $("$PY" tests/redis_py/migrate_load.py 127.0.0.1 "$entry" verify-sets "$work/acked" 2>&1 | tail -1)"
  awk -v l="$label" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "   %-28s %6.1f s\n", l, b - a }'
}
op "add-node c4" add-node "$(field c4 binary)"
op "add-node c5" add-node "$(field c5 binary)"
op "rebalance (3 -> 5)" rebalance
op "remove-node c4" remove-node "$(field c4 binary)"
op "remove-node c5" remove-node "$(field c5 binary)"
op "add-node c6 --replica-of 0" add-node "$(field c6 binary)" --replica-of 0
op "replace-node c1 c7" replace-node "$(field c1 binary)" "$(field c7 binary)"
touch "$work/stop-bench"
wait "$runs" || true
cat "$work/during"
[ -z "${SHOW_OPS:-}" ] || cat "$work/ops.log"
touch "$work/stop"
wait "$load" || true
echo "== the redis-py writer: $(head -1 "$work/load.out"); $(wc -l <"$work/acked") acknowledged replies"
"$PY" tests/redis_py/migrate_load.py 127.0.0.1 "$entry" verify "$work/acked"
echo "== fences (ms, fence commit to flip commit), sorted"
cat "$work"/c*/log | sed -n 's/.*slot migration: fence \([0-9]*\) ms.*/\1/p' | sort -n >"$work/fences"
tr '\n' ' ' <"$work/fences"; echo
awk '{a[NR]=$1} END { if (NR == 0) { print "no fences"; exit 1 }
  p99=int(NR*0.99); if (p99 < NR*0.99) p99++  # nearest rank
  print "p50 " a[int((NR+1)/2)] " ms, p99 " a[p99] " ms, max " a[NR] " ms over " NR }' "$work/fences"
