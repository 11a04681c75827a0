//! arm64 (`-M virt -cpu cortex-a53`, console ttyAMA0): network, serial and typed unlock through
//! tessera in a real Debian initramfs built under qemu-user. Needs scripts/build-agents.sh and the
//! host tool (target/debug/tessera).

mod common;
use common::*;
use tessera_e2e::chroot::Arch;
use tessera_e2e::Nic;

#[test]
fn arm64_network_unlock() {
    network_unlock(Arch::Arm64, "arm64-network");
}

#[test]
fn arm64_serial_unlock_on_console_tty() {
    serial_unlock(Arch::Arm64, "arm64-serial", Nic::User, "");
}

#[test]
fn arm64_typed_passphrase_with_agent_running() {
    typed_with_agent(Arch::Arm64, "arm64-typed-agent");
}
