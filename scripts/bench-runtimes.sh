#!/usr/bin/env bash
# Start-up paths of the native kinds, per kind: raw `docker run` of the runtime image to its
# first byte, a cold start without a stem cell, a start from a stem cell, and warm invokes,
# all measured in one run against a fresh whiskd standalone (one stem cell per kind) in a
# temporary data directory. Then the warm /run rate of actionloop against exec-per-run in
# the runtime images (runtimes/bench-warm-run.py --docker; BENCH_WARM_RUN=0 skips it).
# Figures go to BENCHMARKS.md; nothing is asserted.
#
#   scripts/bench-runtimes.sh [--cold-count 20] [--count 300] [--kinds nodejs:18]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whiskd -p loadgen
images/build-runtimes.sh >/dev/null
DATA=$(mktemp -d /tmp/rwhisk-bench.XXXXXX)
PORT=${BENCH_PORT:-3298}
target/release/whiskd standalone --data-dir "$DATA" --http-addr 127.0.0.1:$PORT --https-addr 127.0.0.1:0 \
  --invocations-per-minute 100000000 --concurrent-invocations 100000 \
  --stem-cells nodejs:18=1,python:3.11=1 >"$DATA/whiskd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$PORT/ping >/dev/null 2>&1 && break; sleep 0.1; done
target/release/loadgen --scenario runtimes --apihost http://127.0.0.1:$PORT \
  --auth "$(cat "$DATA/guest.key")" --invoker-label "$(cat "$DATA/instance")-0" "$@"
if [ "${BENCH_WARM_RUN:-1}" != 0 ]; then
  echo
  echo "warm /run, actionloop against exec-per-run, in the runtime images:"
  runtimes/bench-warm-run.py --docker --requests 1000 --seconds 10
fi
