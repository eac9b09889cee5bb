#!/usr/bin/env bash
# The side-by-side with redis-server, in one command:
#   bench/compare.sh                      # both CPU arrangements, writes BENCHMARKS.md
#   bench/compare.sh --duration 4         # extra flags go to `tessera-bench compare`
#
# Installs what it needs (build deps via tools/setup.sh; redis-server and
# redis-tools from Debian), builds tessera and tessera-bench (release, through
# ccache), then runs `tessera-bench compare` twice:
#   split:  servers on the last CPU, load generators on the others (taskset);
#   shared: servers and generators on every CPU (Tessera runs one reactor per CPU).
# Each run starts redis-server (AOF everysec) and tessera (durability wal) in
# temp dirs on 127.0.0.1, alternates the tools per row, and stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export CC="ccache gcc" CXX="ccache g++"
cargo build --release --workspace
bin=target/release/tessera-bench
cpus=$(nproc)
"$bin" compare --section split "$@"
if [ "$cpus" -gt 1 ]; then
    all="0-$((cpus - 1))"
    "$bin" compare --section shared --server-cpus "$all" --client-cpus "$all" "$@"
fi
