#!/usr/bin/env bash
# The platform on a realistic stream from the 31 councils (called by `infra/stack demo` once the stack
# is up, topics exist and migrations are applied).
#
#   LGMA_DEMO_SECONDS   how long the simulator publishes (default 120; 0 = until Ctrl-C)
#   LGMA_DEMO_RATE      events per second (default 400)
#   LGMA_DEMO_INVALID   fraction of deliberately broken events (default 0.02)
#   LGMA_DEMO_SCALE     fraction of the national stock, caseload and activity simulated (default 0.05)
#   LGMA_DEMO_DRAIN     seconds to wait for ingest to read everything before reconciling (default 180)
#
# Ends with the reconciliation of every council topic (lgma-ingest reconcile) and exits non-zero
# when a published event is not accounted for (lost, doubled, or still unread after the wait).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="$ROOT/infra/stack"
PUB="$ROOT/target/debug/lgma-publisher"
SECONDS_TO_RUN="${LGMA_DEMO_SECONDS:-120}"
RATE="${LGMA_DEMO_RATE:-400}"
INVALID="${LGMA_DEMO_INVALID:-0.02}"
CH="${LGMA_CLICKHOUSE_URL:-http://127.0.0.1:8123}"
API_PORT="${LGMA_API_PORT:-8080}"

say() { printf '\033[1m[demo]\033[0m %s\n' "$*" >&2; }
ch() { curl -sf "$CH/?user=lgma_reader&password=${LGMA_CH_READER_PASSWORD:-reader-local}&database=lgma" --data-binary "$1"; }

say "registering the council schemas in the registry"
"$PUB" register --config "$ROOT/infra/config/publisher.toml"

bash "$STACK" up ingest

# A fresh analyst token for the dashboard (only its SHA-256 is written to disk).
DATA="${LGMA_DATA:-$ROOT/.data}"
mkdir -p "$DATA/api"
TOKEN="demo-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '[[tokens]]\nname = "demo-dashboard"\nsha256 = "%s"\nrole = "analyst"\n' \
    "$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)" >"$DATA/api/demo-tokens.toml"
bash "$STACK" down-one api >/dev/null 2>&1 || true
LGMA_API_TOKENS_FILE="$DATA/api/demo-tokens.toml" bash "$STACK" up api
DASHBOARD="http://127.0.0.1:${API_PORT}/#token=${TOKEN}"

# Only the platform's own topics: tests and benchmarks on the same data folder use suffixed names.
OWN="match(topic, '^lgma\\\\.[a-z]+\\\\.[a-z-]+\$')"
# The dashboard's figures cover every stream in the database: say so when tests or benchmarks left
# suffixed streams in this data folder (adults in EA, planning decisions... would include theirs).
others="$(ch "SELECT count() FROM lgma.ingest_events WHERE NOT $OWN" 2>/dev/null || echo 0)"
if [[ "$others" =~ ^[0-9]+$ ]] && ((others > 0)); then
    say "warning: this data folder also holds ${others} events of test or benchmark streams (suffixed topics);"
    say "         the dashboard's figures include them. For the demo's figures alone: infra/stack down; rm -rf ${DATA}; infra/stack demo"
fi

duration_args=()
if [[ "$SECONDS_TO_RUN" != 0 ]]; then duration_args=(--duration "$SECONDS_TO_RUN"); fi
say "publishing a simulated stream: a simulated day per second, at most ${RATE} events/s, ${INVALID} broken, 31 councils (Ctrl-C stops the publisher)"
say "dashboard: ${DASHBOARD}"
say "metrics:   http://127.0.0.1:${LGMA_INGEST_OPS_PORT:-9181}/metrics (ingest), http://127.0.0.1:${API_PORT}/metrics (api)"
# First a snapshot at full speed (the stock, the caseload and two years of history, at
# LGMA_DEMO_SCALE of the national volumes), then the stream at a simulated day per second, timed to
# end today so the dashboard's last 24 months are the simulated ones.
"$PUB" simulate --config "$ROOT/infra/config/publisher.toml" --rate "$RATE" --speed-up 86400 \
    --snapshot --snapshot-scale "${LGMA_DEMO_SCALE:-0.05}" --history-days 730 \
    --start "$(date -u -d "-${SECONDS_TO_RUN} days" +%F)" \
    --invalid-ratio "$INVALID" "${duration_args[@]}" || true

say "events recorded per topic and verdict (ACCEPT / WARN stored; QUARANTINE rejected with reason):"
# Every published event accounted for: the broker's offsets against the offset of record, once
# ingest has read everything (up to LGMA_DEMO_DRAIN seconds).
say "reconciling what the councils published with what the platform recorded (waiting for ingest to catch up)"
set +e
"$ROOT/target/debug/lgma-ingest" reconcile --config "$ROOT/infra/config/ingest.toml" --wait "${LGMA_DEMO_DRAIN:-180}"
RECONCILED=$?
set -e
ch "SELECT topic, verdict, count() AS events FROM ingest_events WHERE $OWN GROUP BY topic, verdict
    ORDER BY topic, verdict FORMAT PrettyCompact" || true
say "quarantine reasons (top 10):"
ch "SELECT arrayJoin(rule_ids) AS rule, count() AS events FROM ingest_quarantine FINAL WHERE $OWN
    GROUP BY rule ORDER BY events DESC LIMIT 10 FORMAT PrettyCompact" || true
cat >&2 <<MSG

The stack keeps running. Look at:
  dashboard       ${DASHBOARD}
  open data       curl http://127.0.0.1:${API_PORT}/v1/open-data
  summaries       curl -H 'Authorization: Bearer ${TOKEN}' http://127.0.0.1:${API_PORT}/v1/summaries/planning/monthly
  ClickHouse      clickhouse-client --port ${LGMA_CH_TCP_PORT:-9000} --user lgma_reader --password "\$LGMA_CH_READER_PASSWORD" -d lgma
  metrics         curl http://127.0.0.1:${LGMA_INGEST_OPS_PORT:-9181}/metrics
Stop everything with: infra/stack down
MSG
if [[ $RECONCILED != 0 ]]; then
    say "NOT every published event is accounted for (see the reconciliation above, lgma.ingest_losses and /v1/reconcile)"
    exit "$RECONCILED"
fi
say "every published event is accounted for: stored or quarantined exactly once, none lost"
