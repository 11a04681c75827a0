//! tessera's initramfs-tools hook with the real agent in the image (amd64): what the hook puts into
//! the image, and that a broken agent never takes the console away. Needs scripts/build-agents.sh and
//! the host tool (for the admin key).

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::host::run;
use tessera_e2e::scenario::{agent_conf, shared_keys, tessera_files, Scenario, PASSPHRASE};
use tessera_e2e::{Nic, PROMPT};

/// What the hook puts into the image: the agent, its config, the host key readable by root only, the
/// keyscript, the NIC driver, and `keyscript=` on the served volume in the initramfs' crypttab only.
#[test]
fn hook_puts_agent_config_keys_and_keyscript_into_the_image() {
    let s = ok(Scenario::new(
        "amd64-hook-contents",
        Arch::Amd64,
        Flavor::InitramfsTools,
    ));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let conf = agent_conf(
        "e2e-host",
        Some("ttyS0"),
        &[("cryptroot", &root)],
        "keyscript",
    );
    let initrd = ok(s.initrd(&[&root], Some(ok(tessera_files(Arch::Amd64, &keys, conf)))));
    let list = ok(run(Command::new("sh").arg("-c").arg(format!(
        "gzip -dc '{}' | cpio -itv --quiet",
        initrd.display()
    ))));
    let mode_of = |path: &str| {
        list.lines()
            // bookworm's initramfs is usr-merged: /sbin and /lib are links into /usr.
            .find(|l| l.ends_with(&format!(" {path}")) || l.ends_with(&format!(" usr/{path}")))
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("{path} is not in the image:\n{list}"))
    };
    assert_eq!(mode_of("sbin/tessera-agent"), "-rwxr-xr-x");
    assert_eq!(mode_of("lib/tessera/keyscript"), "-rwxr-xr-x");
    assert_eq!(mode_of("etc/tessera/host_key"), "-rw-------");
    assert_eq!(mode_of("etc/tessera/authorized_keys"), "-rw-------");
    assert_eq!(mode_of("etc/tessera"), "drwx------");
    mode_of("etc/tessera/agent.conf");
    mode_of("scripts/init-premount/tessera");
    mode_of("scripts/local-bottom/tessera");
    assert!(
        list.contains("/virtio_net.ko"),
        "the NIC driver named in initramfs.conf is missing"
    );
    let crypttab = ok(run(Command::new("sh").arg("-c").arg(format!(
        "gzip -dc '{}' | cpio -i --quiet --to-stdout cryptroot/crypttab",
        initrd.display()
    ))));
    assert!(
        crypttab.contains("cryptroot UUID=")
            && crypttab.contains("keyscript=/lib/tessera/keyscript"),
        "crypttab in the image: {crypttab}"
    );
    let host_tab = std::fs::read_to_string(s.chroot.dir.join("etc/crypttab")).unwrap();
    assert!(
        !host_tab.contains("keyscript"),
        "the hook changed /etc/crypttab: {host_tab}"
    );
}

/// The agent is in the image but refuses its config and exits: the keyscript sees no live agent and
/// asks on the console like askpass, so the server still boots with a typed passphrase.
#[test]
fn agent_that_exits_on_a_config_error_leaves_the_console_working() {
    let s = ok(Scenario::new(
        "amd64-agent-config-error",
        Arch::Amd64,
        Flavor::InitramfsTools,
    ));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let mut conf = agent_conf("e2e-host", None, &[("cryptroot", &root)], "keyscript");
    conf.push_str("no-such-key 1\n");
    let initrd = ok(s.initrd(&[&root], Some(ok(tessera_files(Arch::Amd64, &keys, conf)))));
    let mut m = ok(s.boot(&initrd, &[&root], Nic::None, ""));
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), PROMPT_WAIT));
    assert!(
        m.transcript().contains("tessera-agent:"),
        "the agent said nothing about its config"
    );
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line(PASSPHRASE));
    let line = ok(m.expect_unlocked(UNLOCK_WAIT));
    assert!(
        line.contains("mapper=cryptroot,") && line.contains("run-tessera=absent agents=0"),
        "{line}"
    );
}
