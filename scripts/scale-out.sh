#!/usr/bin/env bash
# The scaled-out layout of deploy/docker-compose.yml as plain processes on this machine:
# PostgreSQL and nats-server (JetStream) on loopback, two `whiskd controller` and two
# `whiskd invoker`, each with its own data directory under $DIR (default /tmp/rwhisk-scale).
#
#   scripts/scale-out.sh start     # builds whiskd (debug unless PROFILE=release), starts all
#   scripts/scale-out.sh status    # GET /invokers of each controller
#   scripts/scale-out.sh stop      # SIGTERM everything (drains), then the servers
#
# Controllers listen on 127.0.0.1:3233 and :3234, invokers serve /metrics on :9233 and
# :9234, PostgreSQL on :55432, NATS on :54222. Logs are $DIR/*/whiskd.log.
set -euo pipefail

DIR=${DIR:-/tmp/rwhisk-scale}
PROFILE=${PROFILE:-debug}
PG_PORT=${PG_PORT:-55432}
NATS_PORT=${NATS_PORT:-54222}
say() { printf '==> %s\n' "$*"; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

start() {
  mkdir -p "$DIR"
  if [ "$PROFILE" = release ]; then
    (cd "$repo" && cargo build --release -p whiskd -p whisk-proxy)
  else
    (cd "$repo" && cargo build -p whiskd -p whisk-proxy)
  fi
  whiskd="$repo/target/$PROFILE/whiskd"

  say "PostgreSQL on 127.0.0.1:$PG_PORT"
  if [ ! -d "$DIR/pg" ]; then
    mkdir -p "$DIR/pg" && chown postgres "$DIR/pg" && chmod 700 "$DIR/pg"
    runuser -u postgres -- "$pg_bin/initdb" -D "$DIR/pg" -U postgres -A trust >/dev/null
  fi
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pg/server.log" -w \
    -o "-h 127.0.0.1 -p $PG_PORT -k /tmp" start >/dev/null
  runuser -u postgres -- "$pg_bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc \
    "SELECT 1 FROM pg_database WHERE datname='whisk'" | grep -q 1 ||
    runuser -u postgres -- "$pg_bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres whisk

  say "nats-server on 127.0.0.1:$NATS_PORT"
  mkdir -p "$DIR/nats"
  nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$DIR/nats" >"$DIR/nats/server.log" 2>&1 &
  echo $! >"$DIR/nats/pid"
  sleep 1

  export RWHISK_STORE="postgres://postgres@127.0.0.1:$PG_PORT/whisk"
  export RWHISK_BUS="nats://127.0.0.1:$NATS_PORT"
  export RWHISK_SIGNING_KEY_FILE="$DIR/signing.key"
  export RWHISK_CONTROLLERS=2
  for n in 0 1; do
    mkdir -p "$DIR/controller$n"
    "$whiskd" controller --id "$n" --data-dir "$DIR/controller$n" \
      --http-addr "127.0.0.1:$((3233 + n))" --no-https \
      >>"$DIR/controller$n/whiskd.log" 2>&1 &
    echo $! >"$DIR/controller$n/pid"
    # The first controller makes the guest subject; start the second after it.
    for _ in $(seq 100); do
      curl -fsS "http://127.0.0.1:$((3233 + n))/ping" >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
  for n in 0 1; do
    mkdir -p "$DIR/invoker$n"
    "$whiskd" invoker --id "$n" --data-dir "$DIR/invoker$n" \
      --metrics-addr "127.0.0.1:$((9233 + n))" \
      --container-api-host "http://127.0.0.1:3233" \
      ${RWHISK_CONTAINER_FACTORY:+--container-factory "$RWHISK_CONTAINER_FACTORY"} \
      >>"$DIR/invoker$n/whiskd.log" 2>&1 &
    echo $! >"$DIR/invoker$n/pid"
  done
  sleep 2
  status
  say "guest key: $(cat "$DIR/controller0/guest.key" 2>/dev/null || echo '(made earlier; see whiskd admin)')"
}

status() {
  for n in 0 1; do
    printf 'controller%s /invokers: ' "$n"
    curl -fsS "http://127.0.0.1:$((3233 + n))/invokers" || printf 'not answering'
    echo
  done
}

stop() {
  for role in invoker0 invoker1 controller0 controller1; do
    if [ -f "$DIR/$role/pid" ]; then
      pid=$(cat "$DIR/$role/pid")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      rm -f "$DIR/$role/pid"
    fi
  done
  if [ -f "$DIR/nats/pid" ]; then kill -TERM "$(cat "$DIR/nats/pid")" 2>/dev/null || true; rm -f "$DIR/nats/pid"; fi
  if [ -d "$DIR/pg" ]; then runuser -u postgres -- "$pg_bin/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true; fi
  say "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
