#!/usr/bin/env bash
# Start, stop and report the private TimescaleDB cluster and Mosquitto broker.
#   scripts/services.sh start|stop|restart|status [pg|mqtt]
# Data live under $FOREWARN_RUN_DIR (default ./.run); ports $FOREWARN_PG_PORT (54329) and
# $FOREWARN_MQTT_PORT (18839), so the machine's own servers are never touched.
source "$(dirname "$0")/lib.sh"

ACTION="${1:-status}"
WHICH="${2:-all}"
mkdir -p "$RUN_DIR"

pg_home() {
  # The cluster runs as `postgres`; if it cannot reach the run directory (e.g. a clone under a
  # private home), keep the data in a per-clone directory it can reach.
  local dir="$RUN_DIR/pg"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$RUN_DIR" 2>/dev/null; then
    dir="/var/tmp/forewarn-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)/pg"
  fi
  echo "$dir"
}
PG_HOME="$(pg_home)"
PG_DATA="$PG_HOME/data"
PG_SOCK="$PG_HOME/sock"
PG_LOG="$PG_HOME/postgres.log"
MQ_HOME="$RUN_DIR/mosquitto"

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }
pg_ours() { [ -f "$PG_DATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_start() {
  [ -x "$PG_BIN/postgres" ] || die "PostgreSQL $PG_VERSION is not installed: run scripts/setup.sh"
  if pg_ours; then say "TimescaleDB already running on port $PG_PORT"; return; fi
  if pg_ready; then
    say "port $PG_PORT already has a PostgreSQL server (another checkout?): using it"
    return
  fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "creating private PostgreSQL cluster in $PG_DATA"
    mkdir -p "$PG_HOME"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_HOME"
    as_pg mkdir -p "$PG_SOCK"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat <<CONF | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
# --- Forewarn private cluster ---
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCK'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 300
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_level = minimal
max_wal_senders = 0
max_wal_size = 4GB
checkpoint_timeout = 15min
max_locks_per_transaction = 256
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
CONF
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null \
    || die "PostgreSQL did not start; see $PG_LOG"
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtc \
    "select 1 from pg_database where datname='forewarn'" | grep -q 1 \
    || "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres forewarn
  say "TimescaleDB running: postgresql://postgres@127.0.0.1:$PG_PORT/forewarn"
}

pg_stop() {
  if pg_ours; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    say "TimescaleDB stopped"
  fi
}

mq_pid() { cat "$MQ_HOME/mosquitto.pid" 2>/dev/null || true; }
mq_ours() { local p; p="$(mq_pid)"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
mq_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; }

mq_start() {
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || die "Mosquitto is not installed: run scripts/setup.sh"
  if mq_ours; then say "Mosquitto already running on port $MQTT_PORT"; return; fi
  if mq_ready; then say "port $MQTT_PORT already has a broker (another checkout?): using it"; return; fi
  mkdir -p "$MQ_HOME/data"
  "$ROOT/scripts/mosquitto-conf.sh" "$MQ_HOME" "$MQTT_PORT" > "$MQ_HOME/mosquitto.conf"
  /usr/sbin/mosquitto -d -c "$MQ_HOME/mosquitto.conf"
  for _ in $(seq 50); do mq_ready && break; sleep 0.1; done
  mq_ready || die "Mosquitto did not start; see $MQ_HOME/mosquitto.log"
  say "Mosquitto running: mqtt://127.0.0.1:$MQTT_PORT"
}

mq_stop() {
  if mq_ours; then
    local p; p="$(mq_pid)"; kill "$p"
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    say "Mosquitto stopped"
  fi
}

status() {
  if pg_ready; then echo "timescaledb  up    127.0.0.1:$PG_PORT  data $PG_DATA"
  else echo "timescaledb  down  127.0.0.1:$PG_PORT"; fi
  if mq_ready; then echo "mosquitto    up    127.0.0.1:$MQTT_PORT  data $MQ_HOME"
  else echo "mosquitto    down  127.0.0.1:$MQTT_PORT"; fi
}

case "$ACTION:$WHICH" in
  start:all) pg_start; mq_start ;;
  start:pg) pg_start ;;
  start:mqtt) mq_start ;;
  stop:all) mq_stop; pg_stop ;;
  stop:pg) pg_stop ;;
  stop:mqtt) mq_stop ;;
  restart:*) "$0" stop "$WHICH"; "$0" start "$WHICH" ;;
  status:*) status ;;
  *) die "usage: $0 start|stop|restart|status [pg|mqtt]" ;;
esac
