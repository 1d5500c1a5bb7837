#!/usr/bin/env bash
# Every loadgen scenario (warm, many, cold, resume, fanout, runtimes) on a release build,
# each against its own fresh `whiskd standalone` (temporary data directory, 127.0.0.1
# only), printed as one dated Markdown block for BENCHMARKS.md and kept in
# target/bench/bench-<UTC time>.md. Figures only: nothing is asserted.
#
#   scripts/bench.sh                                  # all scenarios, the counts below
#   scripts/bench.sh --scenario warm --count 500      # any loadgen flags instead
#   BENCH_IMAGES=0 scripts/bench.sh ...               # do not rebuild the images
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whiskd -p loadgen -p whisk-proxy
if [ "${BENCH_IMAGES:-1}" != 0 ]; then
  sdk/docker-skeleton/buildAndPush.sh whisk/example-c >/dev/null
  images/build-runtimes.sh >/dev/null
fi
if [ $# -eq 0 ]; then
  set -- --scenario all --count 2000 --concurrency 1,4,16 --distinct 100 --many-concurrency 4 \
    --cold-count 10 --factories docker,runc,process --resume-count 30 --idle-ms 300 \
    --rules 10 --fires 20 --kinds nodejs:18,python:3.11
fi
mkdir -p target/bench
OUT="target/bench/bench-$(date -u +%Y-%m-%dT%H%M%SZ).md"
set +e
{
  echo "### $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --abbrev-ref HEAD) $(git rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
  echo
  echo "Command: \`scripts/bench.sh $*\`"
  echo
  target/release/loadgen --whiskd target/release/whiskd "$@"
  status=$?
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  exit $status
} | tee "$OUT"
status=${PIPESTATUS[0]}
echo "(kept in $OUT)" >&2
exit "$status"
