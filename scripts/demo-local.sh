#!/usr/bin/env bash
# The local demo (called by scripts/demo.sh): two real LUKS2 volumes, the static tessera-agent as it
# runs in an initramfs, and the admin's tessera tool unlocking them, first over TCP, then over a
# serial line (a pty pair made by socat). Everything lives in target/demo/ and is made afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }

step "build the static agents (musl, release) and the host tool"
scripts/build-agents.sh
cargo build --quiet --release -p tessera
arch=$(uname -m)
agent="$root/target/$arch-unknown-linux-musl/release/tessera-agent"
tessera="$root/target/release/tessera"
file "$agent" 2>/dev/null | sed 's/^[^:]*: /agent binary: /' || true

demo="$root/target/demo"
rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"
export XDG_CONFIG_HOME="$demo/admin-config"
unset SSH_AUTH_SOCK
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

step "two LUKS2 volumes (image files; cheap pbkdf2 so the demo is quick)"
make_volume() {
    truncate -s 4M "$1"
    printf '%s' "$2" | cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --batch-mode --luks2-metadata-size 16k --luks2-keyslots-size 256k "$1" --key-file=- >/dev/null 2>&1
    echo "$1: $(cryptsetup luksDump "$1" | grep -m1 '^Version' | tr -s '\t ' ' ')"
}
make_volume root.img 'root passphrase, correct horse'
make_volume data.img 'data passphrase, battery staple'
mkdir -p secrets
printf '%s\n' 'root passphrase, correct horse' > secrets/root_crypt
printf '%s\n' 'data passphrase, battery staple' > secrets/data_crypt
echo "the admin keeps the passphrases in secrets/ (think: pass, keyringer)"

step "keys: the server's host key (made at flash time) and the admin's signing key"
run "$agent" --gen-host-key host_key
run "$tessera" keygen --file admin_id --comment admin@demo
cp admin_id.pub authorized_keys

step "the server side: agent.conf as the initramfs would carry it"
cat > agent.conf <<CONF
host-id demo-server
host-key $demo/host_key
authorized-keys $demo/authorized_keys
run-dir $demo/run
listen 127.0.0.1:17743
volume root_crypt $demo/root.img test
volume data_crypt $demo/data.img test
CONF
cat agent.conf
"$agent" --config agent.conf 2> agent-tcp.log &
pids+=($!)
sleep 0.5

step "1. over TCP: what is waiting?"
run "$tessera" status 127.0.0.1:17743 --host-key host_key.pub

step "1. over TCP: unlock both volumes with one signed token"
run "$tessera" unlock 127.0.0.1:17743 --identity admin_id --host-key host_key.pub \
    --secret-command "cat $demo/secrets/\$TESSERA_VOLUME"
wait "${pids[0]}" && echo "agent exited 0: every volume is unlocked"
echo "agent log:"; sed 's/^/  /' agent-tcp.log

step "2. over a serial line: socat makes a pty pair (server side <-> admin's USB serial adapter)"
socat -d -d pty,raw,echo=0,link="$demo/ttyS0" pty,raw,echo=0,link="$demo/ttyUSB0" 2> socat.log &
pids+=($!)
for _ in $(seq 50); do [ -e ttyUSB0 ] && [ -e ttyS0 ] && break; sleep 0.1; done
ls -l ttyS0 ttyUSB0 | sed 's/^/  /'
sed -e 's/^listen .*/listen off/' -e "/^volume root_crypt/i serial $demo/ttyS0 115200" agent.conf > agent-serial.conf
cat agent-serial.conf
"$agent" --config agent-serial.conf 2> agent-serial.log &
pids+=($!)
sleep 0.5

step "2. over the serial line: the console shows the agent's prompt; tessera talks through it"
run "$tessera" unlock --serial "$demo/ttyUSB0" --baud 115200 --identity admin_id \
    --secret-command "cat $demo/secrets/\$TESSERA_VOLUME"
wait "${pids[2]}" && echo "agent exited 0: every volume is unlocked"
echo "agent log:"; sed 's/^/  /' agent-serial.log

step "done: the same token format unlocked both volumes over TCP and over serial"
echo "host key pinned in $XDG_CONFIG_HOME/tessera/known_hosts:"
sed 's/^/  /' "$XDG_CONFIG_HOME/tessera/known_hosts"
