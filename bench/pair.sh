#!/usr/bin/env bash
# Issue 18's same-run side-by-side: redis-benchmark against a fresh Tessera
# (one reactor, --durability wal) and a fresh redis-server (AOF everysec),
# each alone on CPU 1, the client on CPU 0. For every op it prints both
# servers' requests per second and whole-process CPU per request (utime +
# stime of every thread from /proc/PID/stat, read before the run and 2 s
# after it, so the flushes and compactions a run causes count).
#
#   bash bench/pair.sh [WORKDIR]
#   T=path/to/tessera  LOAD="-c 50 -P 16"  N=2000000  OPS="set get ..."
#
# The ops run in order on one server, so the pops pop what the pushes
# pushed (redis-benchmark's collection commands all use one key each).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
T=${T:-$here/../target/release/tessera}
# A scratch directory of its own is removed at the end; one given is kept.
owned=""
if [ -n "${1:-}" ]; then work=$1; else work=$(mktemp -d); owned=$work; fi
LOAD=${LOAD:--c 50 -P 16}
N=${N:-2000000}
OPS=${OPS:-set get hset sadd zadd lpush rpop spop zpopmin}
pids=()
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
trap 'stop_all; [ -z "$owned" ] || rm -rf "$owned"' EXIT
start_pair
tpid=${pids[0]}
rpid=${pids[1]}
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
run() { # PORT PID OP -> "req/s cpu_us_per_req"
  local before after rps
  before=$(cpu "$2")
  rps=$(taskset -c 0 redis-benchmark -p "$1" -r 100000 -d 256 $LOAD -n "$N" -t "$3" -q \
    | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
  sleep 2
  after=$(cpu "$2")
  echo "$rps $(awk -v a="$after" -v b="$before" -v n="$N" 'BEGIN { printf "%.2f", (a - b) * 1e6 / n }')"
}
echo "load: $LOAD -n $N   tessera: $T"
printf '%-8s %12s %10s %12s %10s %7s %7s\n' op tessera cpu_us redis cpu_us ratio cpu_x
for op in $OPS; do
  read -r trps tcpu < <(run "$tport" "$tpid" "$op")
  read -r rrps rcpu < <(run "$rport" "$rpid" "$op")
  printf '%-8s %12s %10s %12s %10s %7.2f %7.2f\n' "$op" "$trps" "$tcpu" "$rrps" "$rcpu" \
    "$(echo "$trps / $rrps" | bc -l)" "$(echo "$tcpu / $rcpu" | bc -l)"
done
