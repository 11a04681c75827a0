//! dracut (systemd initrd) on amd64 with tessera's module 95tessera. Needs scripts/build-agents.sh
//! and the host tool.

use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::scenario::{Scenario, PASSPHRASE};
use tessera_e2e::Nic;

fn ok<T>(r: tessera_e2e::error::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// dracut with tessera's module: `tessera unlock` over the network answers systemd's ask-password.
#[test]
fn dracut_network_unlock() {
    use tessera_e2e::scenario::{agent_conf, shared_keys, tessera_files};
    use tessera_e2e::tools::{unlock, Target};
    let s = ok(Scenario::new("dracut-network", Arch::Amd64, Flavor::Dracut));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    // No `serial`: systemd's console prompt keeps the console (docs/interfaces.md, dracut).
    let conf = agent_conf("e2e-dracut", None, &[("cryptroot", &root)], "keyscript");
    let initrd = ok(s.initrd(&[&root], Some(ok(tessera_files(Arch::Amd64, &keys, conf)))));
    let mut m = ok(s.boot(&initrd, &[&root], Nic::User, ""));
    ok(m.wait_for("passphrase for disk", Duration::from_secs(200)));
    let port = m.port.unwrap();
    let run = ok(unlock(
        &keys,
        &Target::Tcp(port),
        &format!("{PASSPHRASE}\n"),
        &["--wait", "120"],
        Duration::from_secs(180),
    ));
    assert!(
        run.success,
        "tessera unlock failed: {}\n{}",
        run.stdout, run.stderr
    );
    let line = ok(m.expect_unlocked(Duration::from_secs(120)));
    assert!(
        line.contains("mapper=cryptroot,") && line.contains("run-tessera=absent"),
        "{line}"
    );
}
