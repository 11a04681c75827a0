#!/usr/bin/env bash
# The demo (README command 1): installs what is missing, builds the agents and the host tool, boots a
# locked Debian server in qemu and unlocks it with `tessera unlock` over the network, then boots it
# again and unlocks it over its serial console. Needs root (debootstrap, chroot); the first run
# builds a cached Debian chroot (~1 min), later runs take about a minute in all.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m== %s\033[0m (%s)\n' "$*" "$(date +%T)"; }

step "install dependencies"
scripts/install-deps.sh
step "build the static agents and the host tool"
scripts/build-agents.sh
cargo build --quiet -p tessera
step "boot the locked demo server in qemu and unlock it"
cargo run --quiet -p tessera-e2e --example demo
