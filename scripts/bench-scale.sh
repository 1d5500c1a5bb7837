#!/usr/bin/env bash
# Warm blocking invokes (loadgen's warm scenario: a no-op whisk/example-c action) on four
# layouts, one after another on this machine, for BENCHMARKS.md:
#   standalone on the embedded store and bus; standalone on PostgreSQL + NATS JetStream;
#   1 controller + 1 invoker and 2 controllers + 2 invokers as processes on PostgreSQL +
#   NATS (loadgen talks to controller 0; the balancer spreads nothing for one action, so
#   2+2 measures the cost of the extra processes and the halved slot share).
#
#   scripts/bench-scale.sh [loadgen flags, e.g. --count 500 --concurrency 1,4]
# (whiskd CPU per activation is that of the process loadgen talks to: the standalone or
# controller 0.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whiskd -p loadgen -p whisk-proxy
sdk/docker-skeleton/buildAndPush.sh whisk/example-c >/dev/null
W=target/release/whiskd
DIR=$(mktemp -d /tmp/rwhisk-bench-scale.XXXXXX)
chmod 755 "$DIR"
PG_PORT=${PG_PORT:-55532}
NATS_PORT=${NATS_PORT:-54322}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
wait_http() { for _ in $(seq 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

mkdir -p "$DIR/pg" && chown postgres "$DIR/pg" && chmod 700 "$DIR/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$DIR/pg" -U postgres -A trust >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pg/log" -w -o "-h 127.0.0.1 -p $PG_PORT -k /tmp" start >/dev/null
nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$DIR/nats" >"$DIR/nats.log" 2>&1 &
NATS_PID=$!
trap 'kill $NATS_PID 2>/dev/null; cleanup' EXIT
THROTTLES=(--invocations-per-minute 100000000 --concurrent-invocations 100000)
db=0
fresh_db() {
  db=$((db + 1))
  runuser -u postgres -- "$pg_bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "bench$db"
  STORE="postgres://postgres@127.0.0.1:$PG_PORT/bench$db"
}
BUS="nats://127.0.0.1:$NATS_PORT"

run() { # label dir-with-guest.key port pid-of-the-process-loadgen-talks-to
  echo "### $1"
  target/release/loadgen --apihost "http://127.0.0.1:$3" --auth "$(cat "$2/guest.key")" \
    --whiskd-pid "$4" --scenario warm --warm-actions skeleton "${@:5}"
  echo
}

# 1. standalone, embedded
$W standalone --data-dir "$DIR/s1" --http-addr 127.0.0.1:3301 --no-https "${THROTTLES[@]}" >"$DIR/s1.log" 2>&1 &
pids+=($!); wait_http http://127.0.0.1:3301/ping
run "standalone, embedded store and bus" "$DIR/s1" 3301 "${pids[0]}" "$@"; stop_all

# 2. standalone, PostgreSQL + NATS
fresh_db
$W standalone --data-dir "$DIR/s2" --http-addr 127.0.0.1:3302 --no-https --store "$STORE" --bus "$BUS" "${THROTTLES[@]}" >"$DIR/s2.log" 2>&1 &
pids+=($!); wait_http http://127.0.0.1:3302/ping
run "standalone, PostgreSQL + NATS JetStream" "$DIR/s2" 3302 "${pids[0]}" "$@"; stop_all

# 3 and 4. n controllers + n invokers
for n in 1 2; do
  fresh_db
  for i in $(seq 0 $((n - 1))); do
    $W controller --id "$i" --controllers "$n" --data-dir "$DIR/c$n$i" --http-addr "127.0.0.1:$((3310 + i))" --no-https \
      --store "$STORE" --bus "$BUS" --signing-key-file "$DIR/key$n" "${THROTTLES[@]}" >"$DIR/c$n$i.log" 2>&1 &
    pids+=($!); wait_http "http://127.0.0.1:$((3310 + i))/ping"
  done
  for i in $(seq 0 $((n - 1))); do
    $W invoker --id "$i" --data-dir "$DIR/i$n$i" --metrics-addr "127.0.0.1:$((9310 + i))" \
      --store "$STORE" --bus "$BUS" --signing-key-file "$DIR/key$n" >"$DIR/i$n$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 100); do
    [ "$(curl -fsS http://127.0.0.1:3310/invokers | grep -o '"up"' | wc -l)" -ge "$n" ] && break; sleep 0.2
  done
  run "$n controller(s) + $n invoker(s), PostgreSQL + NATS JetStream" "$DIR/c${n}0" 3310 "${pids[0]}" "$@"
  stop_all
done
