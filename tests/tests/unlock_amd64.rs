//! amd64 (q35, ttyS0): a LUKS2 root unlocked through tessera in a real Debian initramfs, every way
//! the issue lists. Needs scripts/build-agents.sh and the host tool (target/debug/tessera).

mod common;
use common::*;
use tessera_e2e::chroot::Arch;
use tessera_e2e::Nic;

/// `tessera unlock HOST:PORT` over qemu user networking (hostfwd to the agent's 7743).
#[test]
fn amd64_network_unlock() {
    network_unlock(Arch::Amd64, "amd64-network");
}

/// `tessera unlock --serial` on the very tty that carries the kernel console and the prompt.
#[test]
fn amd64_serial_unlock_on_console_tty() {
    serial_unlock(Arch::Amd64, "amd64-serial", Nic::User, "");
}

/// A person types the passphrase on the console while the agent owns that tty.
#[test]
fn amd64_typed_passphrase_with_agent_running() {
    typed_with_agent(Arch::Amd64, "amd64-typed-agent");
}

/// Root and a data volume, both secrets in one token.
#[test]
fn amd64_root_and_data_in_one_token() {
    root_and_data(Arch::Amd64, "amd64-root-data");
}

/// A wrong secret is reported and burns none of cryptroot's tries; the right one then unlocks.
#[test]
fn amd64_wrong_secret_then_right() {
    wrong_then_right(Arch::Amd64, "amd64-wrong-right");
}

/// No NIC at all and `ip=dhcp`: networking waits in the background, the serial unlock still works.
#[test]
fn amd64_no_network_serial_still_works() {
    serial_unlock(Arch::Amd64, "amd64-no-net-serial", Nic::None, "ip=dhcp");
}

/// `tessera=off`: the hook is in the image but the agent stays out; typing at askpass still works.
#[test]
fn amd64_disabled_agent_falls_back_to_askpass() {
    disabled_agent_typed(Arch::Amd64, "amd64-disabled");
}

/// A valid token for another host (its id, boot and key), replayed here: refused, root stays locked.
#[test]
fn amd64_token_for_another_host_refused() {
    other_host_refused(Arch::Amd64, "amd64-other-host");
}
