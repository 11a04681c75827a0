//! arm64 boots (`-M virt -cpu cortex-a53`, console ttyAMA0) of a real Debian bookworm initramfs built
//! under qemu-user: the LUKS2 root must open and the root's init must print the marker.

use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::scenario::{Scenario, PASSPHRASE};
use tessera_e2e::{Nic, PROMPT};

const PROMPT_WAIT: Duration = Duration::from_secs(300);
const UNLOCK_WAIT: Duration = Duration::from_secs(120);

fn ok<T>(r: tessera_e2e::error::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Debian as shipped on arm64: the passphrase typed on ttyAMA0 opens the root.
#[test]
fn arm64_stock_cryptroot_typed_passphrase_boots() {
    let s = ok(Scenario::new(
        "arm64-stock-typed",
        Arch::Arm64,
        Flavor::InitramfsTools,
    ));
    let root = ok(s.root_image());
    let initrd = ok(s.initrd(&[&root], None));
    let mut m = ok(s.boot(&initrd, &[&root], Nic::None, ""));
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), PROMPT_WAIT));
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line(PASSPHRASE));
    let line = ok(m.expect_unlocked(UNLOCK_WAIT));
    assert!(line.contains("mapper=cryptroot,"), "{line}");
}
