//! dracut (systemd initrd) on amd64: the same LUKS2 root, opened by systemd-cryptsetup.

use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::scenario::{Scenario, PASSPHRASE};
use tessera_e2e::Nic;

fn ok<T>(r: tessera_e2e::error::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Debian with dracut as shipped: the passphrase typed at systemd's console prompt opens the root.
#[test]
fn dracut_stock_typed_passphrase_boots() {
    let s = ok(Scenario::new(
        "dracut-stock-typed",
        Arch::Amd64,
        Flavor::Dracut,
    ));
    let root = ok(s.root_image());
    let initrd = ok(s.initrd(&[&root], None));
    let mut m = ok(s.boot(&initrd, &[&root], Nic::None, ""));
    ok(m.wait_for("passphrase for disk", Duration::from_secs(200)));
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line(PASSPHRASE));
    let line = ok(m.expect_unlocked(Duration::from_secs(120)));
    assert!(line.contains("mapper=cryptroot,"), "{line}");
}
