#!/usr/bin/env bash
# Runs the whole system in the foreground: with Docker, through compose; without, it installs
# PostgreSQL and RabbitMQ from the OS packages if missing, starts private instances on
# loopback, builds the binaries and starts ingress, two workers, the notifier and kyte-sim.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${KYTE_NO_DOCKER:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 \
   && docker compose version >/dev/null 2>&1; then
  [ -f .env ] || cp .env.example .env
  echo "==> docker compose up --build (ingress on http://localhost:8000, staff token in .env)"
  exec docker compose up --build
fi

set -a
# shellcheck source=/dev/null
. ./.env.example
[ -f .env ] && . ./.env
set +a
export LOG_FORMAT="${LOG_FORMAT:-text}"

# shellcheck source=services.sh
. scripts/services.sh
pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  services_stop
}
trap stop_all INT TERM EXIT

profile="${KYTE_PROFILE:-release}"
echo "==> building ($profile)"
if [ "$profile" = release ]; then cargo build --release --locked --bins; else cargo build --locked --bins; fi
bin="${CARGO_TARGET_DIR:-target}/$profile"

services_start
export KYTE_WEBHOOK_URL="http://127.0.0.1:9000/webhooks"

"$bin/kyte-sim" serve --addr 127.0.0.1:9000 & pids+=($!)
METRICS_ADDR=127.0.0.1:9101 "$bin/notifier" & pids+=($!)
METRICS_ADDR=127.0.0.1:9100 "$bin/worker" & pids+=($!)
METRICS_ADDR=127.0.0.1:9102 "$bin/worker" & pids+=($!)
INGRESS_ADDR=127.0.0.1:8000 "$bin/ingress" & pids+=($!)

for _ in $(seq 1 120); do
  curl -fsS http://127.0.0.1:8000/readyz >/dev/null 2>&1 && break
  sleep 0.5
done
token="${STAFF_TOKENS#*:}"; token="${token%%,*}"
cat <<INFO

==> kyte-relay is running
    ingress      http://127.0.0.1:8000   (staff console at /, OpenAPI at /openapi.json)
    staff token  $token
    kyte-sim     http://127.0.0.1:9000/received   (webhooks Kyte received)
    metrics      http://127.0.0.1:9100/metrics (worker), :9101 (notifier), :8000/metrics (ingress)
    try it       STAFF_TOKEN=$token KYTE_INBOUND_SECRET=\$KYTE_INBOUND_SECRET $bin/kyte-sim scenario
    Ctrl-C stops everything.

INFO
wait -n "${pids[@]}"
echo "==> a service exited; stopping the rest"
