#!/usr/bin/env bash
# The benchmark from one command: builds the release binaries, starts private PostgreSQL and
# RabbitMQ (unless DATABASE_URL and AMQP_URL are set), and runs `kyte-sim bench` with any
# arguments given (e.g. `scripts/bench.sh --rate 300 --duration-secs 60`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins
bin="${CARGO_TARGET_DIR:-target}/release"
if [ -z "${DATABASE_URL:-}" ] || [ -z "${AMQP_URL:-}" ]; then
  # shellcheck source=services.sh
  . scripts/services.sh
  trap services_stop EXIT
  services_start
fi
"$bin/kyte-sim" bench "$@"
