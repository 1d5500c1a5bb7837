#!/usr/bin/env bash
# Soak: runs whiskd standalone in a temporary data directory under mixed load (blocking and
# non-blocking invokes, activation lists, trigger fires, web action calls) for SOAK_SECONDS
# (default 300), sampling whiskd's RSS and the data directory's size every SOAK_SAMPLE
# seconds. Activation retention is short (SOAK_RETENTION seconds), so the background purge
# runs. Fails when, after the warm-up (the first third, and at least until records older
# than SOAK_RETENTION have been purged twice, so the store holds a full retention window
# before the baseline is taken), the median sample of RSS or of
# the data directory lies above the largest warm-up sample by more than SOAK_GROWTH_PCT
# percent plus a slack (SOAK_RSS_SLACK_MB, SOAK_DISK_SLACK_MB). The median, since the
# write-ahead logs make the directory's size swing between checkpoints.
#
# Loopback only; every loop stops at the deadline and after SOAK_MAX_REQUESTS requests.
# Needs dockerd and the whisk/dockerskeleton image (make images). Samples are written to
# $SOAK_OUT (default: a CSV in the temporary directory, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_SAMPLE=${SOAK_SAMPLE:-3}
SOAK_RETENTION=${SOAK_RETENTION:-10}
SOAK_GROWTH_PCT=${SOAK_GROWTH_PCT:-25}
SOAK_RSS_SLACK_MB=${SOAK_RSS_SLACK_MB:-32}
SOAK_DISK_SLACK_MB=${SOAK_DISK_SLACK_MB:-2}
SOAK_MAX_REQUESTS=${SOAK_MAX_REQUESTS:-200000}
PORT=${SOAK_PORT:-3297}
WHISKD=${WHISKD:-target/debug/whiskd}
[ -x "$WHISKD" ] || cargo build -p whiskd

WORK=$(mktemp -d /tmp/rwhisk-soak.XXXXXX)
DATA=$WORK/data
OUT=${SOAK_OUT:-$WORK/samples.csv}
mkdir -p "$DATA"
"$WHISKD" standalone --data-dir "$DATA" \
  --http-addr "127.0.0.1:$PORT" --https-addr 127.0.0.1:0 --stem-cells 0 \
  --activation-retention-secs "$SOAK_RETENTION" --purge-interval-secs 2 \
  --invocations-per-minute 1000000 --fires-per-minute 1000000 --concurrent-invocations 1000 \
  >"$WORK/whiskd.log" 2>&1 &
PID=$!
LOOPS=()
cleanup() {
  for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null || true; done
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

API=http://127.0.0.1:$PORT
for _ in $(seq 1 200); do curl -fsS "$API/ping" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$API/ping" >/dev/null || { echo "whiskd did not start:" >&2; cat "$WORK/whiskd.log" >&2; exit 1; }
AUTH=$(cat "$DATA/guest.key")
NS=$API/api/v1/namespaces/_
call() { curl -sS -o /dev/null -w '%{http_code}' -u "$AUTH" "$@"; }
must() {
  local code
  code=$(call "$@")
  [[ $code == 2* ]] || { echo "setup request failed ($code): $*" >&2; exit 1; }
}

SCRIPT='#!/bin/sh
echo "{\"ok\":true,\"args\":$1}"'
ACTION=$(python3 -c 'import json,sys; print(json.dumps({"exec":{"kind":"blackbox","image":"openwhisk/dockerskeleton","code":sys.argv[1]}}))' "$SCRIPT")
WEB=$(python3 -c 'import json,sys; print(json.dumps({"exec":{"kind":"blackbox","image":"openwhisk/dockerskeleton","code":sys.argv[1]},"annotations":[{"key":"web-export","value":True}]}))' "$SCRIPT")
must -X PUT -H 'Content-Type: application/json' -d "$ACTION" "$NS/actions/soak"
must -X PUT -H 'Content-Type: application/json' -d "$WEB" "$NS/actions/soakweb"
must -X PUT -H 'Content-Type: application/json' -d '{}' "$NS/triggers/soakt"
must -X PUT -H 'Content-Type: application/json' -d '{"trigger":"/_/soakt","action":"/_/soak"}' "$NS/rules/soakr"
# Warm the container before the clock starts.
must -X POST -H 'Content-Type: application/json' -d '{}' "$NS/actions/soak?blocking=true"

START=$(date +%s)
DEADLINE=$((START + SOAK_SECONDS))
# One load loop: runs its request until the deadline or SOAK_MAX_REQUESTS, counting answers.
loop() {
  local name=$1
  shift
  local n=0 bad=0 code
  while [ "$(date +%s)" -lt "$DEADLINE" ] && [ "$n" -lt "$SOAK_MAX_REQUESTS" ]; do
    code=$(call --max-time 70 "$@" || true)
    n=$((n + 1))
    [[ $code == 2* ]] || bad=$((bad + 1))
  done
  echo "$name $n $bad" >"$WORK/loop-$name"
}
loop blocking -X POST -H 'Content-Type: application/json' -d '{"n":1}' "$NS/actions/soak?blocking=true" &
LOOPS+=($!)
loop nonblocking -X POST -H 'Content-Type: application/json' -d '{"n":2}' "$NS/actions/soak" &
LOOPS+=($!)
loop list "$NS/activations?limit=50" &
LOOPS+=($!)
loop listdocs "$NS/activations?limit=20&docs=true" &
LOOPS+=($!)
loop fire -X POST -H 'Content-Type: application/json' -d '{"n":3}' "$NS/triggers/soakt" &
LOOPS+=($!)
loop web "$API/api/v1/web/guest/default/soakweb.json?n=4" &
LOOPS+=($!)

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
disk_kb() { du -sk "$DATA" | cut -f1; }
echo "seconds,rss_kb,data_kb,activations" >"$OUT"
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
  sleep "$SOAK_SAMPLE"
  kill -0 "$PID" 2>/dev/null || { echo "whiskd died:" >&2; tail -50 "$WORK/whiskd.log" >&2; exit 1; }
  count=$(curl -sS -u "$AUTH" "$NS/activations?count=true" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("activations", -1))' 2>/dev/null || echo -1)
  echo "$(($(date +%s) - START)),$(rss_kb),$(disk_kb),$count" >>"$OUT"
done
for p in "${LOOPS[@]}"; do wait "$p" 2>/dev/null || true; done
LOOPS=()

echo "== samples (seconds, whiskd RSS kB, data directory kB, activation records)"
cat "$OUT"
echo "== requests per loop (name, sent, not 2xx)"
cat "$WORK"/loop-*
python3 - "$OUT" "$SOAK_SECONDS" "$SOAK_GROWTH_PCT" "$SOAK_RSS_SLACK_MB" "$SOAK_DISK_SLACK_MB" "$SOAK_RETENTION" "$SOAK_SAMPLE" <<'EOF'
import csv, sys
path, seconds, growth, rss_slack, disk_slack = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
retention, sample = int(sys.argv[6]), int(sys.argv[7])
# The store grows until it holds a whole retention window (purges run every 2 s): a
# baseline taken earlier would call that growth.
warm_up = max(seconds / 3, retention + 2 * 2 + sample)
rows = [(int(r["seconds"]), int(r["rss_kb"]), int(r["data_kb"])) for r in csv.DictReader(open(path))]
warm = [r for r in rows if r[0] <= warm_up]
after = [r for r in rows if r[0] > warm_up]
if not warm or not after:
    sys.exit("too few samples: raise SOAK_SECONDS or lower SOAK_SAMPLE")
failed = False
for name, i, slack in (("RSS", 1, rss_slack), ("data directory", 2, disk_slack)):
    base = max(r[i] for r in warm)
    bound = base * (1 + growth / 100) + slack * 1024
    values = sorted(r[i] for r in after)
    median = values[len(values) // 2]
    print(f"{name}: warm-up max {base} kB; after warm-up median {median} kB, max {values[-1]} kB, last {after[-1][i]} kB; bound {bound:.0f} kB")
    if median > bound:
        print(f"FAIL: {name} grew past its bound", file=sys.stderr)
        failed = True
sys.exit(1 if failed else 0)
EOF
bad_total=$(awk '{s += $3} END {print s + 0}' "$WORK"/loop-*)
sent_total=$(awk '{s += $2} END {print s + 0}' "$WORK"/loop-*)
echo "soak: $sent_total requests, $bad_total not 2xx, in $SOAK_SECONDS s"
# A few refusals (the blocking wait, a throttle) are load; most failing is a broken server.
[ "$bad_total" -le $((sent_total / 10)) ] || { echo "FAIL: too many failed requests" >&2; tail -30 "$WORK/whiskd.log" >&2; exit 1; }
echo "soak passed"
