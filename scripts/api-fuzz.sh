#!/usr/bin/env bash
# Property-based API testing with schemathesis against ingress's own /openapi.json: no 5xx, and
# no request or response outside what the document says. Needs
# DATABASE_URL and AMQP_URL (scripts/services.sh starts private servers) and the debug
# binaries (`cargo build --bins`). Usage: scripts/api-fuzz.sh [max examples per operation]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL}" "${AMQP_URL:?set AMQP_URL}"
# Pinned: a new release brings new checks and generators, which should arrive as a change here.
ST_VERSION=4.32.5
st --version 2>/dev/null | grep -q "$ST_VERSION" || pip install --quiet "schemathesis==$ST_VERSION"
bin="${CARGO_TARGET_DIR:-target}/debug"
port=18811
export TOPOLOGY_PREFIX="fuzz$$." RUST_LOG=warn
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
INGRESS_ADDR="127.0.0.1:$port" STAFF_TOKENS=fuzz:fuzz-token COMMAND_WAIT_MS=300 "$bin/ingress" & pids+=($!)
METRICS_ADDR=127.0.0.1:0 "$bin/worker" & pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
# Every check schemathesis has, both ways: no 5xx; only documented status codes, content
# types and headers; every response body matching its schema; every request the document
# allows is accepted (no 4xx but the documented 401/404/409) and every one it forbids is
# refused with a 4xx; a missing token is refused, an undocumented method answered 405. So the
# document is an exact description of the API that clients can be generated from.
st run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer fuzz-token" \
  --checks all \
  --max-examples "${1:-50}" --seed 20261203 --workers 1 --no-color
