#!/usr/bin/env bash
# The benchmark in one command (see BENCHMARKS.md):
#
#   bash infra/bench.sh [lgma-bench options]     e.g. --events 1000000, --skip-python, --help
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

mkdir -p .data/bench
log "running lgma-bench $*"
exec target/release/lgma-bench --out .data/bench/latest.md "$@"
