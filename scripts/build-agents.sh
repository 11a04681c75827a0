#!/usr/bin/env bash
# Builds the static tessera-agent for x86_64 and aarch64 (musl, release profile) and prints their sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    cargo build --quiet --release -p tessera-agent --target "$t"
    printf 'tessera-agent %-28s %8d bytes\n' "$t" "$(stat -c %s "target/$t/release/tessera-agent")"
done
