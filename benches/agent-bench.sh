#!/usr/bin/env bash
# Agent benchmarks (numbers, not pass/fail): static binary sizes (plain stable and build-std, x86_64
# and aarch64), RSS while waiting, bytes on the wire for one- and two-volume unlocks (and what they
# cost at 115200 baud), and the median loopback exchange time without any KDF.
# usage: benches/agent-bench.sh [ROUNDS]   (default 200 exchanges)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds="${1:-200}"
work="$root/target/bench"
rm -rf "$work"; mkdir -p "$work"
say() { printf '%-58s %s\n' "$1" "$2"; }

echo "== sizes (stripped, static musl)"
scripts/build-agents.sh >/dev/null
for t in x86_64 aarch64; do
    say "tessera-agent $t plain stable (bytes)" "$(stat -c %s "target/$t-unknown-linux-musl/release/tessera-agent")"
done
# build-std: std rebuilt for size; RUSTFLAGS replaces .cargo/config.toml's, so repeat those.
for t in x86_64 aarch64; do
    hdr="--no-eh-frame-hdr"; [ "$t" = x86_64 ] && hdr="-Wl,--no-eh-frame-hdr"
    RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -C force-unwind-tables=no -C link-arg=$hdr --cfg sha2_backend_soft=\"compact\"" \
        cargo build --quiet --release -p tessera-agent --target "$t-unknown-linux-musl" \
        --target-dir target/buildstd -Z build-std=std,panic_abort
    f="target/buildstd/$t-unknown-linux-musl/release/tessera-agent"
    say "tessera-agent $t build-std (bytes)" "$(stat -c %s "$f")"
    say "tessera-agent $t build-std, zstd -19 (bytes)" "$(zstd -19 -q -c "$f" | wc -c)"
done

echo "== a waiting agent (x86_64 static, TCP + serial pty)"
cargo build --quiet --release -p tessera
# The timing client is built for speed (the release profile is for size): the exchange time is then
# mostly the agent's (static, opt-level z, as shipped).
CARGO_PROFILE_RELEASE_OPT_LEVEL=3 cargo build --quiet --release -p tessera-agent --example exchange_bench \
    --target-dir target/bench-client
agent="target/x86_64-unknown-linux-musl/release/tessera-agent"
tessera="target/release/tessera"
cd "$work"
export XDG_CONFIG_HOME="$work/xdg"; unset SSH_AUTH_SOCK
for v in a b; do
    truncate -s 4M $v.img
    printf 'pass-%s' $v | cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --batch-mode --luks2-metadata-size 16k --luks2-keyslots-size 256k $v.img --key-file=- >/dev/null 2>&1
done
"$root/$agent" --gen-host-key host_key >/dev/null
"$root/$tessera" keygen --file admin >/dev/null
cp admin.pub authorized_keys
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
socat pty,raw,echo=0,link="$work/ttyS0" pty,raw,echo=0,link="$work/ttyUSB0" 2>/dev/null & pids+=($!)
for _ in $(seq 50); do [ -e ttyS0 ] && break; sleep 0.1; done
conf() { # $1 port, then volume lines
    printf 'host-id bench\nhost-key %s/host_key\nauthorized-keys %s/authorized_keys\nrun-dir %s/run-%s\nlisten 127.0.0.1:%s\n' \
        "$work" "$work" "$work" "$1" "$1"
    shift; printf '%s\n' "$@"
}
conf 17801 "serial $work/ttyS0 115200" "volume va $work/a.img test" "volume vb $work/b.img test" > rss.conf
"$root/$agent" --config rss.conf 2>/dev/null & pid=$!; pids+=($pid)
sleep 1
say "RSS while waiting, TCP + serial (KiB)" "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
say "RSS high-water mark so far (KiB)" "$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"

echo "== bytes on the wire (tessera unlock --json counts them)"
wire() { # label, args...
    local label=$1; shift
    local j; j=$("$root/$tessera" unlock "$@" --identity admin --host-key host_key.pub --json --secret-stdin)
    local s r; s=$(sed -E 's/.*"bytes_sent":([0-9]+).*/\1/' <<<"$j"); r=$(sed -E 's/.*"bytes_received":([0-9]+).*/\1/' <<<"$j")
    say "$label: sent / received / total (bytes)" "$s / $r / $((s + r))"
    say "$label: at 115200 baud 8N1 (ms)" "$(( (s + r) * 10 * 1000 / 115200 ))"
}
conf 17802 "volume va $work/a.img test" > one.conf
"$root/$agent" --config one.conf 2>/dev/null & pids+=($!); sleep 0.3
printf 'pass-a\n' | wire "TCP, one volume" 127.0.0.1:17802
conf 17803 "volume va $work/a.img test" "volume vb $work/b.img test" > two.conf
"$root/$agent" --config two.conf 2>/dev/null & pids+=($!); sleep 0.3
printf 'pass-a\npass-b\n' | wire "TCP, two volumes" 127.0.0.1:17803
printf 'pass-a\npass-b\n' | wire "serial, two volumes (with prompts + hello)" --serial "$work/ttyUSB0"

echo "== loopback exchange without KDF (token for a volume that is not waiting)"
# /dev/mapper/control always exists, so a volume named `control` is "unlocked by someone else":
# the agent answers without running cryptsetup. The second volume keeps the agent waiting.
conf 17804 "volume control /dev/null cryptsetup" "volume vb $work/b.img test" > nokdf.conf
"$root/$agent" --config nokdf.conf 2>/dev/null & pids+=($!); sleep 0.3
"$root/target/bench-client/release/examples/exchange_bench" 127.0.0.1:17804 admin control "$rounds" | sed 's/^/  /'
