#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time on the nightly toolchain.
#
#   fuzz/run.sh                                     # each target for 60 s
#   FUZZ_SECONDS=20 fuzz/run.sh idmap_parse proc_map
#
# Installs the nightly toolchain and cargo-fuzz if missing. Fails on the
# first target that crashes; the reproducer is in fuzz/artifacts/<target>/
# (`cargo +nightly fuzz run <target> <file>` replays it) and the fuzzer's
# output in fuzz/target/<target>.log.
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build
mkdir -p target
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log="target/$target.log"
    if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $target FAILED; reproducer in fuzz/artifacts/$target/, log in fuzz/$log" >&2
        exit 1
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    echo "fuzz: $target: ${runs:-?} executions in ${seconds}s, no failure"
done
