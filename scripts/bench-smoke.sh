#!/usr/bin/env bash
# Every loadgen scenario with tiny counts against a debug whiskd: checks that each one
# runs end to end (starting its whiskd, its floors, its cleanup) in a few minutes. Not
# part of `make test` (it needs dockerd, the images, and takes longer than CI's budget
# for it); the figures it prints mean nothing.
#
#   scripts/bench-smoke.sh [extra loadgen flags]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p whiskd -p loadgen -p whisk-proxy
target/debug/loadgen --whiskd target/debug/whiskd --scenario all --count 40 --warmup 2 \
  --concurrency 1,4 --distinct 5 --cold-count 2 --resume-count 3 --idle-ms 200 \
  --rules 3 --fires 3 --kinds python:3.11 --max-seconds 60 "$@"
