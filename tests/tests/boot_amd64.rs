//! amd64 boots of a real Debian bookworm initramfs under qemu (TCG): the LUKS2 root must open and the
//! root's init must print the marker, or (negative cases) must not.

use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::initrd::TesseraFiles;
use tessera_e2e::scenario::{agent_conf, Scenario, PASSPHRASE};
use tessera_e2e::{Nic, MARKER, PROMPT};

const PROMPT_WAIT: Duration = Duration::from_secs(240);
const UNLOCK_WAIT: Duration = Duration::from_secs(120);

fn ok<T>(r: tessera_e2e::error::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Debian as shipped (no tessera): the passphrase typed on the serial console opens the root.
#[test]
fn stock_cryptroot_typed_passphrase_boots() {
    let s = ok(Scenario::new(
        "amd64-stock-typed",
        Arch::Amd64,
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

/// A wrong passphrase typed on the stock console must not open the root (cryptroot asks again).
#[test]
fn stock_cryptroot_wrong_passphrase_stays_locked() {
    let s = ok(Scenario::new(
        "amd64-stock-wrong",
        Arch::Amd64,
        Flavor::InitramfsTools,
    ));
    let root = ok(s.root_image());
    let initrd = ok(s.initrd(&[&root], None));
    let m = ok(s.boot(&initrd, &[&root], Nic::None, ""));
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), PROMPT_WAIT));
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line("not-the-passphrase"));
    ok(m.wait_for("bad password", UNLOCK_WAIT));
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), UNLOCK_WAIT));
    ok(m.assert_absent(MARKER, Duration::from_secs(5)));
}

/// The hook installed and configured but no agent binary: the image still asks on the console.
#[test]
fn hook_without_agent_still_asks_on_console() {
    let s = ok(Scenario::new(
        "amd64-hook-no-agent",
        Arch::Amd64,
        Flavor::InitramfsTools,
    ));
    let root = ok(s.root_image());
    let conf = agent_conf(
        "e2e-noagent",
        Some("ttyS0"),
        &[("cryptroot", &root)],
        "keyscript",
    );
    let tessera = TesseraFiles {
        agent: None,
        agent_conf: conf,
        files: vec![],
    };
    let initrd = ok(s.initrd(&[&root], Some(tessera)));
    let mut m = ok(s.boot(&initrd, &[&root], Nic::None, ""));
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), PROMPT_WAIT));
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line(PASSPHRASE));
    let line = ok(m.expect_unlocked(UNLOCK_WAIT));
    assert!(line.contains("run-tessera=absent agents=0"), "{line}");
}
