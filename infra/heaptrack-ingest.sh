#!/usr/bin/env bash
# lgma-ingest under heaptrack, as a drop-in `--ingest-bin` for lgma-bench (BENCHMARKS.md, "what holds it"):
#
#   bash infra/bench.sh --ingest-bin infra/heaptrack-ingest.sh --events 300000 --skip-python ...
#   heaptrack_print -f .data/bench/heaptrack/lgma-ingest.<pid>.zst --print-peaks 1 | less
#
# The process keeps its pid (exec), so lgma-bench still reads its RSS and CPU and stops it with
# SIGTERM as usual; heaptrack's interpreter writes the profile when it exits. (The figures of such a
# run include heaptrack's overhead: use it for what holds the memory, not for the targets.)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${LGMA_HEAPTRACK_BIN:-$ROOT/target/release/lgma-ingest}"
LIB=/usr/lib/heaptrack
OUT="$ROOT/.data/bench/heaptrack"

[[ -x "$BIN" ]] || { echo "heaptrack-ingest: $BIN not found (cargo build --release -p lgma-ingest)" >&2; exit 2; }
[[ -f "$LIB/libheaptrack_preload.so" ]] || { echo "heaptrack-ingest: heaptrack is not installed" >&2; exit 2; }
mkdir -p "$OUT"

fifo="$(mktemp -u /tmp/heaptrack-ingest.XXXXXX)"
mkfifo "$fifo"
# The interpreter reads the raw trace from the fifo; the file is named after this (= ingest's) pid.
"$LIB/libexec/heaptrack_interpret" < "$fifo" | zstd -q -o "$OUT/lgma-ingest.$$.zst" &
# Opened by the preloaded library at start; removed from the file system right after.
( sleep 5; rm -f "$fifo" ) &
LD_PRELOAD="$LIB/libheaptrack_preload.so" DUMP_HEAPTRACK_OUTPUT="$fifo" exec "$BIN" "$@"
