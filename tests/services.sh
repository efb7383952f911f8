#!/usr/bin/env bash
# Start (or stop) the real services the test suite talks to, on loopback only, in a
# private folder: PostgreSQL, Redis, clamd (with the repository's test signatures) and
# moto's standalone S3 server. Each service is started only if its program is
# installed (.ci/run installs them from Debian packages); an already running one is
# reused. The variables the tests read are written to var/test-services/env.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$(pwd)
RUN_DIR=${SECUREDRIVE_TEST_SERVICES_DIR:-/tmp/securedrive-test-services}
ENV_FILE=$ROOT/var/test-services/env
PG_PORT=55432 REDIS_PORT=56379 CLAMD_PORT=53310 S3_PORT=55000
PG_PASSWORD=securedrive-test-only

mkdir -p "$RUN_DIR" "$(dirname "$ENV_FILE")"
chmod 755 "$RUN_DIR"

log() { printf 'test services: %s\n' "$*" >&2; }

as_db_user() {
  # PostgreSQL refuses to run as root: use the 'postgres' account the package creates.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$bin" ] && [ -x "$bin/initdb" ] || { log "PostgreSQL not installed"; return 1; }
  local data=$RUN_DIR/pg
  if ! port_open $PG_PORT; then
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres "$data" "$RUN_DIR"
      printf '%s\n' "$PG_PASSWORD" > "$RUN_DIR/pgpass"
      [ "$(id -u)" = 0 ] && chown postgres "$RUN_DIR/pgpass"
      as_db_user "$bin/initdb" -D "$data" -U securedrive --pwfile="$RUN_DIR/pgpass" \
        --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    # Durability is traded for speed: this cluster only ever holds test data.
    as_db_user "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start -o \
      "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $RUN_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  fi
  wait_for 30 port_open $PG_PORT
  echo "SECUREDRIVE_TEST_DATABASE_URL=postgres://securedrive:$PG_PASSWORD@127.0.0.1:$PG_PORT/securedrive"
}

start_redis() {
  command -v redis-server >/dev/null || { log "Redis not installed"; return 1; }
  if ! port_open $REDIS_PORT; then
    redis-server --port $REDIS_PORT --bind 127.0.0.1 --daemonize yes --dir "$RUN_DIR" \
      --appendonly yes --save '' --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log"
  fi
  wait_for 15 port_open $REDIS_PORT
  echo "SECUREDRIVE_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

start_clamd() {
  local clamd
  clamd=$(command -v clamd || ls /usr/sbin/clamd 2>/dev/null || true)
  [ -n "$clamd" ] || { log "clamd not installed"; return 1; }
  if ! port_open $CLAMD_PORT; then
    # Only the repository's small signature database: nothing is downloaded.
    rm -rf "$RUN_DIR/clamav-db" && mkdir -p "$RUN_DIR/clamav-db"
    cp tests/clamav/*.ndb "$RUN_DIR/clamav-db/"
    cat > "$RUN_DIR/clamd.conf" <<CONF
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
DatabaseDirectory $RUN_DIR/clamav-db
PidFile $RUN_DIR/clamd.pid
LogFile $RUN_DIR/clamd.log
Foreground no
StreamMaxLength 64M
MaxFileSize 64M
MaxScanSize 256M
AlertExceedsMax yes
CONF
    "$clamd" --config-file="$RUN_DIR/clamd.conf"
  fi
  wait_for 60 port_open $CLAMD_PORT
  echo "SECUREDRIVE_TEST_CLAMD_ADDRESS=tcp://127.0.0.1:$CLAMD_PORT"
}

start_s3() {
  local moto=$ROOT/.venv/bin/moto_server
  [ -x "$moto" ] || { log "moto not installed (make install-dev)"; return 1; }
  if ! port_open $S3_PORT; then
    nohup "$moto" -H 127.0.0.1 -p $S3_PORT > "$RUN_DIR/moto.log" 2>&1 &
    echo $! > "$RUN_DIR/moto.pid"
  fi
  wait_for 30 port_open $S3_PORT
  echo "SECUREDRIVE_TEST_S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT"
}

start_oidc_provider() {
  # Not a daemon: the tests start panva's oidc-provider themselves, once they know the
  # live server's address (tests/oidc_helpers.py). Here its pinned packages are installed.
  command -v node >/dev/null && command -v npm >/dev/null || { log "node/npm not installed"; return 1; }
  if [ ! -d tests/oidc_provider/node_modules/oidc-provider ] \
     || [ tests/oidc_provider/package-lock.json -nt tests/oidc_provider/node_modules ]; then
    (cd tests/oidc_provider && npm ci --no-audit --no-fund --ignore-scripts >/dev/null) \
      || { log "npm ci in tests/oidc_provider failed"; return 1; }
  fi
  echo "SECUREDRIVE_TEST_OIDC_PROVIDER=$ROOT/tests/oidc_provider"
}

find_chromium() {
  local chromium
  chromium=$(command -v chromium || command -v chromium-browser || true)
  [ -n "$chromium" ] || { log "Chromium not installed"; return 1; }
  echo "SECUREDRIVE_TEST_CHROMIUM=$chromium"
}

stop_all() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -f "$RUN_DIR/pg/postmaster.pid" ] && as_db_user "$bin/pg_ctl" -D "$RUN_DIR/pg" -m fast stop >/dev/null || true
  for name in redis clamd moto; do
    [ -f "$RUN_DIR/$name.pid" ] && kill "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null || true
    rm -f "$RUN_DIR/$name.pid"
  done
  rm -f "$ENV_FILE"
}

case "${1:-start}" in
  start)
    {
      for service in start_postgres start_redis start_clamd start_s3 start_oidc_provider find_chromium; do
        $service || log "$service: unavailable (tests needing it skip locally, fail under CI=true)"
      done
    } > "$ENV_FILE.new"
    mv "$ENV_FILE.new" "$ENV_FILE"
    log "environment in $ENV_FILE:"; sed 's/:[^:@]*@/:***@/' "$ENV_FILE" >&2
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
