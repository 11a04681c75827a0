#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, then lint, the bare-metal core build,
# every cargo test (unit, property, real processes, qemu boots), and a bounded fuzz run per target.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m== %s\033[0m (%s)\n' "$*" "$(date +%T)"; }

step "install dependencies"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "protocol core for bare metal (thumbv7em-none-eabihf: no std, no alloc)"
cargo build --quiet -p tessera-core --target thumbv7em-none-eabihf

step "protocol vectors re-derived by an independent Python implementation"
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography
python3 agent/core/tests/vectors_independent.py

step "static agents (x86_64 and aarch64 musl) and the host tool for the boot tests"
scripts/build-agents.sh
# cargo test builds no binary of another package: the boots and the process tests run
# target/debug/tessera and target/debug/tessera-agent, the monitoring tests tessera-sensors.
cargo build --quiet -p tessera -p tessera-agent -p tessera-sensors

step "cargo test --workspace"
cargo test --workspace --no-fail-fast 2>&1 | tee target/test.log
grep -E '^test result:' target/test.log | awk '{p+=$4; f+=$6; i+=$8} END {printf "all test binaries: %d passed, %d failed, %d ignored\n", p, f, i}'

if [ -x scripts/fuzz.sh ]; then
    step "fuzz targets (bounded)"
    scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
step "done"
