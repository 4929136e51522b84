#!/usr/bin/env bash
# Runs every test of the workspace against a real PostgreSQL and RabbitMQ.
#   - DATABASE_URL and AMQP_URL set: uses those servers.
#   - else, a Docker engine available: plain `cargo test`, testcontainers starts the servers.
#   - else: installs PostgreSQL and RabbitMQ from the OS packages if missing, starts private
#     instances on loopback, runs the tests, and stops what it started.
# Chromium and chromedriver (for the console's browser test) are installed when missing.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p shared`).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=services.sh
. scripts/services.sh
browser_install

# The end-to-end tests run the service binaries: build them first, so no test waits on a build.
cargo build --workspace --bins --locked

if [ -n "${DATABASE_URL:-}" ] && [ -n "${AMQP_URL:-}" ]; then
  exec cargo test --workspace --locked "$@"
fi
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  exec cargo test --workspace --locked "$@"
fi

trap services_stop EXIT
services_start
cargo test --workspace --locked "$@"
