#!/bin/sh
# The systemd side of the hand-off: for each ask-password request whose Id names a device (or whose
# message names a volume) that tessera-agent serves by `keyscript`, read the agent's FIFO for that
# volume and reply on the request's socket with systemd-reply-password ("+secret"). Exits when the
# agent has gone.
conf=/etc/tessera/agent.conf
reply=/usr/lib/systemd/systemd-reply-password
handled=" "
i=0
while [ ! -e /run/tessera/agent.pid ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
while [ -e /run/tessera/agent.pid ]; do
    for ask in /run/systemd/ask-password/ask.*; do
        [ -e "$ask" ] || continue
        case "$handled" in *" $ask "*) continue ;; esac
        id=$(sed -n 's/^Id=//p' "$ask")
        msg=$(sed -n 's/^Message=//p' "$ask")
        socket=$(sed -n 's/^Socket=//p' "$ask")
        name=$(awk -v id="$id" -v msg="$msg" '
            $1 == "volume" && $4 == "keyscript" &&
            (id == "cryptsetup:" $3 || index(msg, "(" $2 ")")) { print $2; exit }' "$conf")
        [ -n "$name" ] && [ -p "/run/tessera/$name.key" ] && [ -n "$socket" ] || continue
        handled="$handled$ask "
        (cat "/run/tessera/$name.key" | "$reply" 1 "$socket") &
    done
    sleep 0.2
done
