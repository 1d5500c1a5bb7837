#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 30) each, starting from
# the seeds in fuzz/corpus/<target> (new inputs go to a temporary directory, so the
# repository stays clean). Exits non-zero when the fuzzer finds a crash; the input that
# crashed is kept in fuzz/artifacts/<target>/ and can be replayed with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz <target> fuzz/artifacts/<target>/<file>
#
# libFuzzer's instrumentation needs flags that only nightly compilers accept (-Zsanitizer);
# the machines have one stable toolchain and no other can be fetched, so the build allows
# them with RUSTC_BOOTSTRAP=1. Installs cargo-fuzz from crates.io if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz ..."
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

for target in $(cargo fuzz list --fuzz-dir fuzz); do
  work=$(mktemp -d /tmp/rwhisk-fuzz.XXXXXX)
  echo "fuzzing $target for ${FUZZ_SECONDS}s ..."
  status=0
  cargo fuzz run --fuzz-dir fuzz "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$FUZZ_SECONDS" -max_len=65536 -print_final_stats=1 || status=$?
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "FAIL: the fuzzer found a crash in $target (see fuzz/artifacts/$target/)" >&2
    exit "$status"
  fi
done
echo "fuzzing passed"
