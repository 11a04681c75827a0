#!/usr/bin/env bash
# Runs every cargo-fuzz target in the repository for a bounded time (default 20 s each) and prints
# how many executions each ran. A crash fails the script and leaves the input under <crate>/fuzz/artifacts.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
if ! rustup toolchain list | grep -q '^nightly' || ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: needs the nightly toolchain and cargo-fuzz (scripts/install-deps.sh installs cargo-fuzz)" >&2
    exit 1
fi
status=0
for dir in $(find . -path ./target -prune -o -type f -path '*/fuzz/Cargo.toml' -print | sort); do
    crate=$(dirname "$(dirname "$dir")")
    for target in $(cd "$crate" && cargo +nightly fuzz list); do
        log="$PWD/target/fuzz-$(basename "$crate")-$target.log"
        mkdir -p target
        if (cd "$crate" && cargo +nightly fuzz run "$target" -- -max_total_time="$secs" >"$log" 2>&1); then
            execs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1)
            printf 'fuzz %-12s %-18s %10s executions in %ss, no crash\n' "$(basename "$crate")" "$target" "${execs:-?}" "$secs"
        else
            printf 'fuzz %-12s %-18s CRASH or build failure: see %s\n' "$(basename "$crate")" "$target" "$log"
            status=1
        fi
    done
done
exit $status
