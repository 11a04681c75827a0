#!/bin/sh
# Brings up the one interface named in `ip=CLIENT::GW:MASK::DEV:off` (the static form) with busybox
# ip, waiting up to 60 s for the device; `down` flushes it again before switch-root. Any other ip=
# form is left alone (use dracut's network modules for DHCP).
ip_arg=
for x in $(cat /proc/cmdline); do
    case "$x" in ip=*) ip_arg=${x#ip=} ;; esac
done
[ -n "$ip_arg" ] || exit 0
IFS=: read -r client _server gw mask _host dev _auto <<EOF2
$ip_arg
EOF2
case "$client" in *.*.*.*) ;; *) exit 0 ;; esac
[ -n "$dev" ] || dev=eth0
bits=0
for o in $(echo "$mask" | busybox tr . ' '); do
    case "$o" in 255) bits=$((bits + 8)) ;; 254) bits=$((bits + 7)) ;; 252) bits=$((bits + 6)) ;;
    248) bits=$((bits + 5)) ;; 240) bits=$((bits + 4)) ;; 224) bits=$((bits + 3)) ;;
    192) bits=$((bits + 2)) ;; 128) bits=$((bits + 1)) ;; esac
done
if [ "$1" = down ]; then
    busybox ip addr flush dev "$dev" 2>/dev/null
    busybox ip link set dev "$dev" down 2>/dev/null
    exit 0
fi
i=0
while [ ! -e "/sys/class/net/$dev" ] && [ $i -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
done
busybox ip link set dev lo up
busybox ip link set dev "$dev" up || exit 0
busybox ip addr add "$client/${bits:-24}" dev "$dev"
[ -n "$gw" ] && busybox ip route add default via "$gw" dev "$dev"
exit 0
