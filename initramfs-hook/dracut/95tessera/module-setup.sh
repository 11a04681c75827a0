#!/bin/bash
# tessera dracut module (systemd initrd): tessera-agent as a service, a small static network setup
# from `ip=` (no dracut network module needed), and a bridge that answers systemd's ask-password
# requests for the volumes the agent serves, from the agent's per-volume FIFOs
# (/run/tessera/NAME.key, docs/interfaces.md). A person can still type at systemd's console prompt.
# Without /etc/tessera/agent.conf and an agent binary the module is left out.

tessera_agent() {
    local a
    for a in /usr/lib/tessera/tessera-agent /usr/sbin/tessera-agent; do
        [[ -x $a ]] && { echo "$a"; return 0; }
    done
    return 1
}

check() {
    [[ -r /etc/tessera/agent.conf ]] && tessera_agent >/dev/null || return 1
    return 0
}

depends() {
    echo systemd crypt
    return 0
}

installkernel() {
    local NIC_MODULES=
    [[ -r /etc/tessera/initramfs.conf ]] && . /etc/tessera/initramfs.conf
    [[ -n $NIC_MODULES ]] && instmods $NIC_MODULES
    return 0
}

install() {
    local conf=/etc/tessera/agent.conf f
    inst_simple "$(tessera_agent)" /usr/sbin/tessera-agent
    inst_simple "$conf"
    [[ -r /etc/tessera/initramfs.conf ]] && inst_simple /etc/tessera/initramfs.conf
    for f in $(awk '$1 == "host-key" || $1 == "authorized-keys" { print $2 }' "$conf"); do
        inst_simple "$f"
        chmod 0600 "$initdir$f"
    done
    chmod 0700 "$initdir/etc/tessera"
    # The agent tests each secret with `cryptsetup open --test-passphrase` before handing it on;
    # systemd-cryptsetup alone does not bring the binary.
    inst_multiple cryptsetup busybox awk sed cat sleep
    inst_simple /usr/lib/systemd/systemd-reply-password
    inst_script "$moddir/tessera-network.sh" /usr/lib/tessera/tessera-network.sh
    inst_script "$moddir/tessera-askpassword.sh" /usr/lib/tessera/tessera-askpassword.sh
    local u
    for u in tessera-agent.service tessera-network.service tessera-askpassword.service; do
        inst_simple "$moddir/$u" "$systemdsystemunitdir/$u"
        mkdir -p "$initdir$systemdsystemunitdir/sysinit.target.wants"
        ln_r "$systemdsystemunitdir/$u" "$systemdsystemunitdir/sysinit.target.wants/$u"
    done
}
