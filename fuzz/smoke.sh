#!/usr/bin/env bash
# Coverage-guided fuzzing smoke run on stable Rust: libFuzzer (from libfuzzer-sys) with the same
# sanitizer-coverage flags cargo-fuzz passes, minus the nightly-only sanitizers.
# Usage: fuzz/smoke.sh [SECONDS_PER_TARGET]   (cargo +nightly fuzz run TARGET works too)
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-20}
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target keeps RUSTFLAGS away from build scripts.
cargo build --release --target "$host" --target-dir target/smoke
for t in replay_case simd_vs_scalar; do
    mkdir -p "corpus/$t"
    "target/smoke/$host/release/$t" -max_total_time="$secs" -rss_limit_mb=2048 "corpus/$t" 2>&1 | tail -n 1
done
