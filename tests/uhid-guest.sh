#!/usr/bin/env bash
# Boots a qemu guest (Debian 6.1 kernel, uhid module) whose /init is the statically linked
# host-tool/sensors/examples/uhid_guest.rs, and prints the guest console. tests/tests/uhid_boot.rs
# (tessera-e2e) runs this and checks it.
# The kernel comes from TESSERA_GUEST_KERNEL_DIR (a tree with boot/vmlinuz-* and lib/modules), else
# any debootstrap tree under ~/.cache/tessera, else Debian's linux-image package is downloaded and
# unpacked once into ~/.cache/tessera/sensors-kernel. Nothing here is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HOME}/.cache/tessera"

find_tree() {
    local t
    for t in "${TESSERA_GUEST_KERNEL_DIR:-}" "$cache"/*; do
        [ -n "$t" ] && [ -d "$t/boot" ] || continue
        for k in "$t"/boot/vmlinuz-*-amd64; do
            [ -f "$k" ] || continue
            local kv=${k##*/vmlinuz-}
            [ -f "$t/lib/modules/$kv/kernel/drivers/hid/uhid.ko" ] && { echo "$t $kv"; return 0; }
        done
    done
    return 1
}

if ! tree=$(find_tree); then
    mkdir -p "$cache/sensors-kernel"
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -z "$pkg" ]; then
        apt-get update -qq
        pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    fi
    echo "uhid-guest: downloading $pkg (once)" >&2
    (cd "$cache/sensors-kernel" && apt-get download "$pkg" >/dev/null && dpkg-deb -x ./*.deb . && rm -f ./*.deb)
    tree=$(find_tree)
fi
read -r root kv <<<"$tree"

# Own target dir: the calling `cargo test` may still hold the workspace target dir's lock.
export CARGO_TARGET_DIR="$PWD/target/uhid-guest"
cargo build -q -p tessera-sensors --example uhid_guest --target x86_64-unknown-linux-musl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/modules" "$work/proc" "$work/sys" "$work/dev"
cp "$CARGO_TARGET_DIR"/x86_64-unknown-linux-musl/debug/examples/uhid_guest "$work/init"
for m in hid hid-generic uhid; do
    src="$root/lib/modules/$kv/kernel/drivers/hid/$m.ko"
    if [ -f "$src" ]; then cp "$src" "$work/modules/"; else xz -dc "$src.xz" >"$work/modules/$m.ko"; fi
done
(cd "$work" && find . -mindepth 1 | cpio -o -H newc --quiet >"$work.cpio")
accel=tcg
# KVM in this CI kind of machine hangs at boot; TCG boots this guest in seconds.
timeout 180 qemu-system-x86_64 -machine accel=$accel -m 512 -nographic -no-reboot \
    -kernel "$root/boot/vmlinuz-$kv" -initrd "$work.cpio" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init" </dev/null
rm -f "$work.cpio"
