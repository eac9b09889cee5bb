#!/usr/bin/env bash
# What TLS costs per request (issue 21): redis-benchmark C1000 SET and GET
# (256-byte values) against Tessera's plaintext and TLS RESP listeners and
# against redis-server's plaintext and TLS ports, in the same run. Each
# server is alone on CPU 1 (one Tessera reactor; redis-server with AOF
# everysec), the client on CPU 0. Prints requests per second and
# whole-process CPU per request from /proc (utime + stime, read before a
# run and 2 s after it). Certificates: a P-256 CA and server certificate
# made with openssl in the work directory. redis-benchmark reconnects
# nothing: the handshakes happen once per connection, before the timing.
#
#   bash bench/tls.sh [WORKDIR]
#   T=path/to/tessera  LOAD="-c 1000"  N=1000000  OPS="set get"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
T=${T:-$here/../target/release/tessera}
# A scratch directory of its own is removed at the end; one given is kept.
owned=""
if [ -n "${1:-}" ]; then work=$1; else work=$(mktemp -d); owned=$work; fi
LOAD=${LOAD:--c 1000}
N=${N:-1000000}
OPS=${OPS:-set get}
pids=()
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
trap 'stop_all; [ -z "$owned" ] || rm -rf "$owned"' EXIT
c="$work/certs"
rm -rf "$c"; mkdir -p "$c"
(
  cd "$c"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.crt -days 2 -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
    -out server.csr -subj "/CN=bench" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" >san.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
    -days 2 -extfile san.ext 2>/dev/null
)
# Tessera: plaintext and TLS RESP listeners on the same reactor.
rm -rf "$work/t" "$work/r"; mkdir -p "$work/t" "$work/r"
taskset -c 1 "$T" serve --data-dir "$work/t/data" --cores 1 --listen 127.0.0.1:0 \
  --http-listen off --resp-listen 127.0.0.1:0 --resp-tls-listen 127.0.0.1:0 --durability wal \
  --tls-cert-file "$c/server.crt" --tls-key-file "$c/server.key" >"$work/t/ready" 2>"$work/t/log" &
pids+=($!)
tpid=$!
ready_line "$work/t" >/dev/null
tport=$(sed -n 's/.* resp=127.0.0.1:\([0-9]*\).*/\1/p' "$work/t/ready")
ttls=$(sed -n 's/.*resp-tls=127.0.0.1:\([0-9]*\).*/\1/p' "$work/t/ready")
rport=$(free_port)
rtls=$(free_port)
taskset -c 1 redis-server --port "$rport" --tls-port "$rtls" --bind 127.0.0.1 --dir "$work/r" \
  --tls-cert-file "$c/server.crt" --tls-key-file "$c/server.key" --tls-ca-cert-file "$c/ca.crt" \
  --tls-auth-clients no --appendonly yes --appendfsync everysec --save '' \
  --maxclients 10000 >"$work/r/log" 2>&1 &
pids+=($!)
rpid=$!
for _ in $(seq 1 200); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
run() { # PORT PID OP TLS_FLAGS... -> "req/s cpu_us_per_req"
  local port=$1 pid=$2 op=$3 before after rps
  shift 3
  before=$(cpu "$pid")
  rps=$(taskset -c 0 redis-benchmark -p "$port" "$@" -r 100000 -d 256 $LOAD -n "$N" -t "$op" -q \
    | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
  sleep 2
  after=$(cpu "$pid")
  echo "$rps $(awk -v a="$after" -v b="$before" -v n="$N" 'BEGIN { printf "%.2f", (a - b) * 1e6 / n }')"
}
tls=(--tls --cacert "$c/ca.crt")
echo "load: $LOAD -n $N, 256-byte values   tessera: $T"
printf '%-4s %-6s %12s %8s %12s %8s\n' op conn tessera cpu_us redis cpu_us
for op in $OPS; do
  read -r a b < <(run "$tport" "$tpid" "$op")
  read -r x y < <(run "$rport" "$rpid" "$op")
  printf '%-4s %-6s %12s %8s %12s %8s\n' "$op" plain "$a" "$b" "$x" "$y"
  read -r a b < <(run "$ttls" "$tpid" "$op" "${tls[@]}")
  read -r x y < <(run "$rtls" "$rpid" "$op" "${tls[@]}")
  printf '%-4s %-6s %12s %8s %12s %8s\n' "$op" tls "$a" "$b" "$x" "$y"
done
