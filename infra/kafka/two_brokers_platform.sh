#!/usr/bin/env bash
# The platform on two brokers over shared PostgreSQL storage, losing one (infra/kafka/BROKER.md):
# starts the stack with LGMA_KAFKA_STORAGE=postgres LGMA_KAFKA_BROKERS=2 (and the watchers off, so
# the dead broker stays dead), registers the council schemas, starts ingest, publishes the simulated
# stream for 30 s and SIGKILLs broker 1 12 s in; then a new schema must register through broker 2
# and `lgma-ingest reconcile` must account for every published record (exit 1 otherwise).
# Uses the caller's LGMA_* ports and data folder, like infra/stack; stops nothing at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export LGMA_KAFKA_STORAGE=postgres LGMA_KAFKA_BROKERS=2 LGMA_BROKER_WATCH=0 LGMA_DEV_MODE="${LGMA_DEV_MODE:-1}"
STACK=(bash "$ROOT/infra/stack")
DATA="${LGMA_DATA:-$ROOT/.data}"
"${STACK[@]}" up
"${STACK[@]}" topics >/dev/null
"${STACK[@]}" migrate >/dev/null
# The stack's service settings (addresses, passwords) for the binaries run here.
eval "$(sed -n '/^service_env() {/,/^}/p' "$ROOT/infra/stack")"
KAFKA_PORT="${LGMA_KAFKA_PORT:-9092}"
export TLS=0 LGMA_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT,127.0.0.1:${LGMA_KAFKA_PORT2:-$((KAFKA_PORT + 3))}"
export LGMA_CLICKHOUSE_URL="http://127.0.0.1:${LGMA_CH_HTTP_PORT:-8123}" LGMA_REGISTRY_URL="http://127.0.0.1:${LGMA_REGISTRY_PORT:-8081}"
export LGMA_CH_WRITER_PASSWORD="${LGMA_CH_WRITER_PASSWORD:-writer-local}" LGMA_CH_READER_PASSWORD="${LGMA_CH_READER_PASSWORD:-reader-local}"
service_env
"$ROOT/target/debug/lgma-publisher" register --config "$ROOT/infra/config/publisher.toml"
"${STACK[@]}" up ingest
(sleep 12 && echo "[two-brokers] SIGKILL broker 1 (pid $(cat "$DATA/tansu/tansu.pid"))" && kill -9 "$(cat "$DATA/tansu/tansu.pid")") &
"$ROOT/target/debug/lgma-publisher" simulate --config "$ROOT/infra/config/publisher.toml" --rate 200 --duration 30 --invalid-ratio 0
wait
schema='{"schema":"{\"type\":\"record\",\"name\":\"TwoBrokers\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}"}'
curl -sf -m 60 -XPOST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data "$schema" \
    "$LGMA_REGISTRY_URL/subjects/two-brokers-$RANDOM-value/versions" || { echo "[two-brokers] the registry could not register through broker 2"; exit 1; }
echo
"$ROOT/target/debug/lgma-ingest" reconcile --config "$ROOT/infra/config/ingest.toml" --wait 150
"${STACK[@]}" status
