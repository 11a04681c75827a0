#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian (bookworm) machine, as root.
# Idempotent: a second run only checks. Each step says what it does.
set -euo pipefail

log() { printf '\033[1m[deps]\033[0m %s\n' "$*"; }

# Debian packages: cryptsetup for real LUKS2 images, qemu for the boots, debootstrap for the guests'
# root filesystems, busybox-static for the tiny unlocked root, nut for a real upsd, u-boot for uInitrd,
# prometheus (with promtool) and victoria-metrics (with vmalert) for the monitoring/ tests, systemd
# for systemd-analyze on the sensors service's unit.
APT_PACKAGES=(
    cryptsetup-bin qemu-system-x86 qemu-system-arm qemu-user-static binfmt-support debootstrap
    busybox-static nut-server nut-client u-boot-tools u-boot-qemu zstd cpio xz-utils lz4 gzip
    socat e2fsprogs fakeroot dpkg-dev openssh-client openssh-server ipxe-qemu procps python3 bzip2
    prometheus victoria-metrics systemd
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: qemu's recommends would replace the machine's newer qemu-utils.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "Debian packages present"
fi

# Rust targets: static musl agents for both architectures, and a bare-metal target that proves the
# protocol core needs neither std nor an allocator.
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl thumbv7em-none-eabihf; do
    rustup target list --installed | grep -qx "$t" || { log "rustup target add $t"; rustup target add "$t"; }
done
rustup component list --installed 2>/dev/null | grep -q '^rust-src' || { log "rustup component add rust-src"; rustup component add rust-src; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# Fuzzing runs on the installed nightly (it has its own host std; it cannot add targets).
if rustup toolchain list | grep -q '^nightly' && ! command -v cargo-fuzz >/dev/null 2>&1; then
    log "cargo install cargo-fuzz (once, ~2 min)"
    cargo install --locked cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
    log "cargo install cargo-deb (once, ~2 min)"
    cargo install --locked cargo-deb >/dev/null 2>&1 || cargo install cargo-deb
fi
log "ready"
