#!/bin/sh
# Installs (or with --remove, removes) tessera's initramfs-tools hook, boot scripts, keyscript and
# dracut module into a root filesystem (default /), each file where initramfs-hook/MANIFEST says
# (its DEST column; the dracut lines, LOCAL `-`, only where ROOT/usr/lib/dracut/modules.d exists).
# The agent binary goes to ROOT/usr/lib/tessera/tessera-agent separately (scripts/build-agents.sh
# or the .deb).
# usage: initramfs-hook/install.sh [--remove] [ROOT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
remove=
if [ "${1:-}" = --remove ]; then remove=1; shift; fi
root=${1:-/}
dracut=
if [ -d "$root/usr/lib/dracut/modules.d" ] || [ -n "$remove" ]; then dracut=1; fi
grep -v '^[[:space:]]*\(#\|$\)' "$here/MANIFEST" | while read -r src mode dest local; do
    if [ "$local" = - ] && [ -z "$dracut" ]; then continue; fi
    dest=$root$dest
    if [ -n "$remove" ]; then
        rm -f "$dest"
    elif [ -e "$here/$src" ]; then
        mkdir -p "$(dirname "$dest")"
        cp "$here/$src" "$dest"
        chmod "$mode" "$dest"
    fi
done
if [ -n "$remove" ]; then
    rmdir "$root/usr/lib/dracut/modules.d/95tessera" 2>/dev/null || true
fi
