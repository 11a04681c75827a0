#!/usr/bin/env bash
# tessera side by side with dropbear-initramfs on the same qemu machine and LUKS2 root: initramfs
# bytes added, time from reachable to the root's init, round trips, daemon RSS. Prints numbers, passes
# or fails on nothing but errors. Needs root; the dropbear chroot is built once and cached.
# usage: benches/dropbear-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x target/x86_64-unknown-linux-musl/release/tessera-agent ]; then
    scripts/build-agents.sh
fi
cargo build --quiet -p tessera 2>/dev/null || echo "dropbear-compare: the host tool does not build yet; tessera's column will be n/a" >&2
exec cargo run --quiet -p tessera-e2e --example dropbear_compare
