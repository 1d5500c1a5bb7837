#!/usr/bin/env bash
# Start-up paths of the native kinds, per kind: raw `docker run` of the runtime image to its
# first byte, a cold start without a stem cell, a start from a stem cell, and warm invokes,
# all measured in one run against a fresh whiskd standalone (one stem cell per kind) in a
# temporary data directory (loadgen --scenario runtimes, also part of scripts/bench.sh).
# Then the warm /run rate of actionloop against exec-per-run in the runtime images
# (runtimes/bench-warm-run.py --docker; BENCH_WARM_RUN=0 skips it).
# Figures go to BENCHMARKS.md; nothing is asserted.
#
#   scripts/bench-runtimes.sh [--cold-count 20] [--count 300] [--kinds nodejs:18]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whiskd -p loadgen
images/build-runtimes.sh >/dev/null
# loadgen starts its own whiskd standalone (temporary data directory, one stem cell per
# measured kind) and stops it at the end.
target/release/loadgen --whiskd target/release/whiskd --scenario runtimes "$@"
if [ "${BENCH_WARM_RUN:-1}" != 0 ]; then
  echo
  echo "warm /run, actionloop against exec-per-run, in the runtime images:"
  runtimes/bench-warm-run.py --docker --requests 1000 --seconds 10
fi
