#!/usr/bin/env bash
# Starts or stops `whiskd standalone` in the background for make quick-start / destroy.
# The pid and log live in $DATA_DIR (default ~/.rwhisk).
set -euo pipefail
DATA_DIR=${DATA_DIR:-$HOME/.rwhisk}
BIN=${WHISKD:-target/release/whiskd}
PID_FILE=$DATA_DIR/whiskd.pid
LOG_FILE=$DATA_DIR/whiskd.log
HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:3233}

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    mkdir -p "$DATA_DIR"
    if running; then
      echo "whiskd is already running (pid $(cat "$PID_FILE"))"
    else
      echo "starting whiskd standalone (data: $DATA_DIR, log: $LOG_FILE) ..."
      nohup "$BIN" standalone --data-dir "$DATA_DIR" --http-addr "$HTTP_ADDR" >>"$LOG_FILE" 2>&1 &
      echo $! >"$PID_FILE"
    fi
    for _ in $(seq 1 100); do
      if curl -fsS "http://$HTTP_ADDR/ping" >/dev/null 2>&1; then
        echo "whiskd is up at http://$HTTP_ADDR (https on 127.0.0.1:3443)"
        exit 0
      fi
      running || { echo "whiskd exited; last log lines:" >&2; tail -20 "$LOG_FILE" >&2; exit 1; }
      sleep 0.1
    done
    echo "whiskd did not answer /ping; see $LOG_FILE" >&2
    exit 1
    ;;
  stop)
    if running; then
      pid=$(cat "$PID_FILE")
      echo "stopping whiskd (pid $pid) ..."
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    else
      echo "whiskd is not running"
    fi
    rm -f "$PID_FILE"
    ids=$(docker ps -aq --filter label=rwhisk.invoker 2>/dev/null || true)
    if [ -n "$ids" ]; then
      echo "removing action containers ..."
      docker rm -f $ids >/dev/null
    fi
    echo "ok: rwhisk stopped"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
