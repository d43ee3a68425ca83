#!/usr/bin/env bash
# Fuzzes every parser signoff reads hostile input with (Table API answers, the sim's encoded
# queries, justifications, the sanitiser, the config file) for SECONDS each (default 60),
# with the stable-toolchain fuzzer in examples/fuzz.rs. Findings land in fuzz/regressions/,
# which `cargo test` (tests/fuzz_regressions.rs) replays from then on: commit them with the fix.
# Not part of CI: it is bounded, but it is meant to run long.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --example fuzz -- "${2:-all}" "${1:-60}" "${3:-$RANDOM}"
