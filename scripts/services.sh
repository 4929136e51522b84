#!/usr/bin/env bash
# Private PostgreSQL and RabbitMQ instances on loopback, for tests and the no-Docker quick start.
# Source this file, then call `services_start` (exports DATABASE_URL, AMQP_URL) and `services_stop`.
# Nothing here uses systemd: the servers are started directly and stopped by the pids we started.

KYTE_PG_PORT="${KYTE_PG_PORT:-55432}"
KYTE_AMQP_PORT="${KYTE_AMQP_PORT:-45672}"
KYTE_SERVICES_DIR="${KYTE_SERVICES_DIR:-/tmp/kyte-relay-services}"

_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian/Ubuntu packages when their binaries are missing.
services_install() {
  local need=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)
  [ ${#need[@]} -eq 0 ] && return 0
  echo "==> installing ${need[*]} from the OS packages"
  _as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq "${need[@]}" >/dev/null
}

# The console's browser test drives Debian's Chromium through chromedriver.
browser_install() {
  command -v chromedriver >/dev/null 2>&1 && [ -x /usr/bin/chromium ] && return 0
  echo "==> installing chromium and chromium-driver from the OS packages (browser tests)"
  _as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq chromium chromium-driver >/dev/null
}

_pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

# One node name per port, so several private brokers can run side by side.
_rabbit_node() { echo "kyte$KYTE_AMQP_PORT@localhost"; }

_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A fresh data directory with an initialised Postgres cluster and RabbitMQ's configuration.
services_init() {
  local dir="$KYTE_SERVICES_DIR" port pg
  # Never clobber a running instance (another test run, or scripts/run.sh).
  for port in "$KYTE_PG_PORT" "$KYTE_AMQP_PORT" "$((KYTE_AMQP_PORT + 1))"; do
    if _port_busy "$port"; then
      echo "port $port is in use: is another kyte-relay run going? Stop it, or set KYTE_PG_PORT/KYTE_AMQP_PORT." >&2
      return 1
    fi
  done
  _as_root rm -rf "$dir"
  mkdir -p "$dir"
  chmod 755 "$dir"
  # initdb refuses root, so it runs as the postgres user.
  pg="$(_pg_bin)"
  _as_root mkdir -p "$dir/pg" "$dir/pgsock"
  _as_root chown postgres:postgres "$dir/pg" "$dir/pgsock"
  _as_root runuser -u postgres -- "$pg/initdb" -D "$dir/pg/data" -U postgres -A trust >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log"; return 1; }
  _pg_tls_init "$dir/pgtls" || return 1
  _as_root mkdir -p "$dir/rabbit"
  cat >"$dir/rabbit/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$KYTE_AMQP_PORT
loopback_users = none
log.console = false
CONF
  echo '[].' >"$dir/rabbit/enabled_plugins"
  _as_root chown -R rabbitmq:rabbitmq "$dir/rabbit"
}

# TLS for Postgres, as managed databases require it: a private CA and a server certificate for
# 127.0.0.1 and localhost, so `sslmode=require` and `sslmode=verify-full` can both be tested.
_pg_tls_init() {
  local tls="$1"
  _as_root mkdir -p "$tls"
  {
    _as_root openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kyte-relay test CA" \
      -keyout "$tls/ca.key" -out "$tls/ca.crt" &&
      _as_root openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' | _as_root tee "$tls/san.ext" >/dev/null &&
      _as_root openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 30 -extfile "$tls/san.ext" -out "$tls/server.crt"
  } >"$tls.log" 2>&1 || { cat "$tls.log"; return 1; }
  # Postgres refuses a key that others can read.
  _as_root chown postgres:postgres "$tls/server.key" "$tls/server.crt"
  _as_root chmod 600 "$tls/server.key"
  _as_root chmod 644 "$tls/ca.crt"
}

# Starts (or restarts, keeping its data) the Postgres of KYTE_SERVICES_DIR.
pg_start() {
  local dir="$KYTE_SERVICES_DIR" pg
  pg="$(_pg_bin)"
  _as_root runuser -u postgres -- "$pg/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w -t 60 start \
    -o "-p $KYTE_PG_PORT -k $dir/pgsock -c listen_addresses=127.0.0.1 -c max_connections=600 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on -c ssl_cert_file=$dir/pgtls/server.crt -c ssl_key_file=$dir/pgtls/server.key" \
    >/dev/null || { cat "$dir/pg/postgres.log"; return 1; }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$KYTE_PG_PORT/postgres"
  # The CA that signed the server's certificate (for `sslmode=verify-full&sslrootcert=…`).
  export KYTE_PG_CA="$dir/pgtls/ca.crt"
}

pg_stop() {
  local dir="$KYTE_SERVICES_DIR" pg
  pg="$(_pg_bin)"
  if [ -d "$dir/pg/data" ]; then
    _as_root runuser -u postgres -- "$pg/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

# Starts (or restarts, keeping its queues) the RabbitMQ node of KYTE_SERVICES_DIR. The Debian
# wrapper re-runs itself as the rabbitmq user; boot errors go to a log we can show (-detached
# would hide them).
rabbit_start() {
  local dir="$KYTE_SERVICES_DIR" i
  _as_root rm -f "$dir/rabbit/rabbit.pid"
  (
    # A compose-style RABBITMQ_DEFAULT_USER in the environment would replace the guest user.
    unset RABBITMQ_DEFAULT_USER RABBITMQ_DEFAULT_PASS RABBITMQ_DEFAULT_VHOST
    export RABBITMQ_NODENAME="$(_rabbit_node)" \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_DIST_PORT=$((KYTE_AMQP_PORT + 1)) \
      RABBITMQ_MNESIA_BASE="$dir/rabbit/mnesia" \
      RABBITMQ_LOG_BASE="$dir/rabbit/log" \
      RABBITMQ_PID_FILE="$dir/rabbit/rabbit.pid" \
      RABBITMQ_CONFIG_FILE="$dir/rabbit/rabbitmq.conf" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbit/enabled_plugins"
    exec rabbitmq-server >>"$dir/rabbit/server.log" 2>&1
  ) &
  echo $! >"$dir/rabbit.wrapper.pid"
  for i in $(seq 1 120); do
    [ -s "$dir/rabbit/rabbit.pid" ] && break
    kill -0 "$(cat "$dir/rabbit.wrapper.pid")" 2>/dev/null || { cat "$dir/rabbit/server.log"; return 1; }
    sleep 0.5
  done
  RABBITMQ_NODENAME="$(_rabbit_node)" timeout 120 rabbitmqctl -q -n "$(_rabbit_node)" wait "$dir/rabbit/rabbit.pid" >/dev/null \
    || { cat "$dir/rabbit/server.log"; return 1; }
  export AMQP_URL="amqp://guest:guest@127.0.0.1:$KYTE_AMQP_PORT/%2f"
}

rabbit_stop() {
  local dir="$KYTE_SERVICES_DIR" pid
  if [ -s "$dir/rabbit/rabbit.pid" ]; then
    pid="$(cat "$dir/rabbit/rabbit.pid")"
    _as_root kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  if [ -s "$dir/rabbit.wrapper.pid" ]; then
    kill "$(cat "$dir/rabbit.wrapper.pid")" 2>/dev/null || true
  fi
}

services_start() {
  services_install || return 1
  services_init || return 1
  pg_start || return 1
  rabbit_start || return 1
  echo "==> PostgreSQL on 127.0.0.1:$KYTE_PG_PORT, RabbitMQ on 127.0.0.1:$KYTE_AMQP_PORT (data in $KYTE_SERVICES_DIR)"
}

services_stop() {
  pg_stop
  rabbit_stop
  return 0
}
