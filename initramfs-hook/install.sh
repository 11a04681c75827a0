#!/bin/sh
# Installs (or with --remove, removes) tessera's initramfs-tools hook, boot scripts, keyscript and
# dracut module into a root filesystem (default /). The agent binary goes to
# ROOT/usr/lib/tessera/tessera-agent separately (scripts/build-agents.sh or the .deb).
# usage: initramfs-hook/install.sh [--remove] [ROOT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
remove=
if [ "${1:-}" = --remove ]; then remove=1; shift; fi
root=${1:-/}
it=$root/usr/share/initramfs-tools
files="hooks/tessera:$it/hooks/tessera:755
scripts/init-premount/tessera:$it/scripts/init-premount/tessera:755
scripts/local-bottom/tessera:$it/scripts/local-bottom/tessera:755
conf-hooks.d/tessera:$it/conf-hooks.d/tessera:644
lib/keyscript:$root/usr/lib/tessera/keyscript:755"
if [ -d "$root/usr/lib/dracut/modules.d" ] || [ -n "$remove" ]; then
    for f in "$here"/dracut/95tessera/*; do
        b=$(basename "$f")
        mode=644
        case "$b" in *.sh) mode=755 ;; esac
        files="$files
dracut/95tessera/$b:$root/usr/lib/dracut/modules.d/95tessera/$b:$mode"
    done
fi
echo "$files" | while IFS=: read -r src dest mode; do
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
