#!/usr/bin/env bash
# The benchmark in one command (see BENCHMARKS.md):
#
#   bash infra/bench.sh [lgma-bench options]     e.g. --events 1000000, --skip-python, --help
#   bash infra/bench.sh --memory-broker [...]     the same against a second tansu on in-memory
#                                                 storage (not durable; port LGMA_BENCH_MEMORY_PORT,
#                                                 default 19092), started and stopped here: what
#                                                 ingest does when the broker's sqlite is not the limit
#
# Builds the release binaries (lgma-ingest, lgma-bench) and the debug registry the stack runs,
# makes sure the local stack is up with topics and migrations, then runs lgma-bench against it.
# Everything it writes goes to unique topics and scratch ClickHouse databases it drops afterwards.
# Prerequisite on a fresh machine: `bash infra/stack install` (ClickHouse, tansu, Python venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

if [[ ! -x target/debug/lgma-registry ]]; then
    log "building the debug binaries the stack runs (infra/stack build)"
    bash infra/stack build
fi
log "building release binaries: lgma-ingest, lgma-bench"
cargo build --release -q -p lgma-ingest -p lgma-bench

bash infra/stack up
bash infra/stack topics >/dev/null
bash infra/stack migrate >/dev/null

args=()
memory_broker=0
for a in "$@"; do
    if [[ $a == --memory-broker ]]; then memory_broker=1; else args+=("$a"); fi
done

mkdir -p .data/bench
if [[ $memory_broker == 1 ]]; then
    # The registry, ClickHouse and the stack's own broker stay as they are; only the bench's topics
    # (source, enriched, DLQ) live on this broker. Its folder holds its PID file and log only.
    data="${LGMA_DATA:-$ROOT/.data}"
    port="${LGMA_BENCH_MEMORY_PORT:-19092}"
    dir="$data/tansu-memory"
    tansu="${LGMA_TOOLS:-/opt/lgma}/tansu/bin/tansu"
    port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
    if port_open; then
        log "port $port is in use: set LGMA_BENCH_MEMORY_PORT"
        exit 1
    fi
    mkdir -p "$dir"
    : >"$dir/.env" # tansu reads a .env in its working directory
    (cd "$dir" && exec env -u STORAGE_ENGINE "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$dir/tansu.log" 2>&1) &
    echo $! >"$dir/tansu.pid"
    trap 'kill "$(cat "$dir/tansu.pid")" 2>/dev/null; rm -f "$dir/tansu.pid"' EXIT
    for _ in $(seq 50); do
        port_open && break
        sleep 0.1
    done
    log "tansu on in-memory storage at 127.0.0.1:$port (log $dir/tansu.log)"
    args+=(--bootstrap "127.0.0.1:$port")
    export LGMA_BENCH_BROKER_DIR=tansu-memory # lgma-bench reads the broker's PID file there
fi
log "running lgma-bench ${args[*]}"
target/release/lgma-bench --out .data/bench/latest.md "${args[@]}"
