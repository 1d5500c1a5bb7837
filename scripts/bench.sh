#!/usr/bin/env bash
# Runs the load generator against a fresh whiskd standalone in a temporary data directory
# and prints whiskd's latency beside the container's own /run. Figures go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whiskd -p loadgen
sdk/docker-skeleton/buildAndPush.sh whisk/example-c >/dev/null
DATA=$(mktemp -d /tmp/rwhisk-bench.XXXXXX)
PORT=${BENCH_PORT:-3299}
target/release/whiskd standalone --data-dir "$DATA" --http-addr 127.0.0.1:$PORT --https-addr 127.0.0.1:0 \
  --invocations-per-minute 100000000 --concurrent-invocations 100000 \
  >"$DATA/whiskd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$PORT/ping >/dev/null 2>&1 && break; sleep 0.1; done
target/release/loadgen --apihost http://127.0.0.1:$PORT --auth "$(cat "$DATA/guest.key")" "$@"
