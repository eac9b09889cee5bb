# Shared by the bench scripts. start_pair (bench/resp.sh, bench/churn.sh):
# fresh Tessera and redis-server side by side, each alone on CPU 1 (the
# clients go on CPU 0). start_tessera NAME (bench/cluster.sh,
# bench/migrate.sh): a --cores 1 node in $work/NAME, its ready line read
# with field NAME binary|resp (resp_port NAME: its RESP port).
# Needs: T (the tessera binary), work (a scratch directory), pids=().
# Tessera runs with durability wal; redis-server with appendonly yes,
# appendfsync everysec. start_pair sets tport and rport (RESP ports).
stop_all() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_pair() { # EXTRA_TESSERA_ARGS...
  rm -rf "$work/t" "$work/r"; mkdir -p "$work/t" "$work/r"
  taskset -c 1 "$T" serve --data-dir "$work/t/data" --listen 127.0.0.1:0 --http-listen off \
    --resp-listen 127.0.0.1:0 --durability wal "$@" >"$work/t/ready" 2>"$work/t/log" &
  pids+=($!)
  rport=$(free_port)
  taskset -c 1 redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/r" --appendonly yes \
    --appendfsync everysec --save '' >"$work/r/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q '^tessera ready' "$work/t/ready" 2>/dev/null && redis-cli -p "$rport" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  tport=$(sed -n 's/.*resp=127.0.0.1:\([0-9]*\).*/\1/p' "$work/t/ready")
  # A benchmark against a server that never came up would spin on an
  # empty port forever: stop here instead, with the servers' logs.
  if [ -z "$tport" ] || ! redis-cli -p "$rport" ping >/dev/null 2>&1; then
    echo "start_pair: a server did not become ready within 10 s" >&2
    tail -n 20 "$work/t/log" "$work/r/log" >&2 || true
    stop_all
    return 1
  fi
}
ready_line() { # DIR -> waits for the ready line, prints it
  for _ in $(seq 1 200); do grep -q '^tessera ready' "$1/ready" 2>/dev/null && break; sleep 0.05; done
  cat "$1/ready"
}
start_tessera() { # NAME EXTRA...
  local d="$work/$1"; shift; mkdir -p "$d"
  "$T" serve --data-dir "$d/data" --cores 1 --listen 127.0.0.1:0 --http-listen off \
    --resp-listen 127.0.0.1:0 --durability wal "$@" >"$d/ready" 2>"$d/log" &
  pids+=($!)
  ready_line "$d" >/dev/null
}
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$work/$1/ready"; }
resp_port() { field "$1" resp | cut -d: -f2; }
latency() { # redis-benchmark's last summary on stdin: avg min p50 p95 p99 max (ms)
  tr '\r' '\n' | grep -A2 'latency summary' | tail -1
}
