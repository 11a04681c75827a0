#!/usr/bin/env bash
# Builds the Debian packages with cargo-deb into ${OUT:-target/debian}:
#   tessera-agent_VERSION_amd64.deb, tessera-agent_VERSION_arm64.deb  (static musl agent + hook)
#   tessera_VERSION_amd64.deb   (host tool + both agents and the hook files for tessera flash)
#   tessera_VERSION_arm64.deb   (the same, host tool built static for musl aarch64; HOST_ARM64=0 skips it)
# and checks each one's contents with dpkg-deb -c. Needs cargo-deb (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/debian}
mkdir -p "$OUT"
command -v cargo-deb >/dev/null || { echo "package.sh: cargo-deb is missing; run scripts/install-deps.sh" >&2; exit 1; }
# Every hook file the manifest lists (the .deb asset lists are checked against it by
# agent/conf/tests/manifest.rs).
grep -v '^[[:space:]]*\(#\|$\)' initramfs-hook/MANIFEST | while read -r f _; do
    [ -f "initramfs-hook/$f" ] || { echo "package.sh: initramfs-hook/$f is missing (initramfs-hook/MANIFEST)" >&2; exit 1; }
done

scripts/build-agents.sh
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    cargo deb --quiet -p tessera-agent --target "$t" --no-build --no-strip -o "$OUT/"
done
for a in x86_64 aarch64; do
    mkdir -p "target/deb-agents/$a"
    cp "target/$a-unknown-linux-musl/release/tessera-agent" "target/deb-agents/$a/tessera-agent"
done
cargo build --quiet --release -p tessera -p tessera-sensors
cargo deb --quiet -p tessera --no-build --no-strip -o "$OUT/"
if [ "${HOST_ARM64:-1}" = 1 ]; then
    cargo build --quiet --release -p tessera -p tessera-sensors --target aarch64-unknown-linux-musl
    cargo deb --quiet -p tessera --target aarch64-unknown-linux-musl --no-build --no-strip -o "$OUT/"
fi
for deb in "$OUT"/*.deb; do
    printf '%-48s %9d bytes  %s\n' "$(basename "$deb")" "$(stat -c %s "$deb")" "$(dpkg-deb -f "$deb" Architecture)"
done
