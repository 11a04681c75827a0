//! Scenario bodies shared by the amd64 and arm64 test files: each boots a locked machine with
//! tessera in its initramfs, unlocks it one way, and checks the marker line the unlocked root
//! prints (which mappings are open, that /run/tessera was scrubbed and no agent survived).
#![allow(dead_code)]

use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::pty::PtyBridge;
use tessera_e2e::scenario::{
    agent_conf, shared_keys, tessera_files, Scenario, DATA_PASSPHRASE, PASSPHRASE,
};
use tessera_e2e::tools::{unlock, Target};
use tessera_e2e::{LuksImage, Machine, Nic, MARKER, PROMPT};

pub const PROMPT_WAIT: Duration = Duration::from_secs(300);
pub const UNLOCK_WAIT: Duration = Duration::from_secs(120);
pub const TOOL_WAIT: Duration = Duration::from_secs(180);
pub const HOST_ID: &str = "e2e-host";

pub fn ok<T>(r: tessera_e2e::error::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The marker line of a clean unlock: the listed mappings open, nothing of tessera left behind.
pub fn assert_clean_unlock(line: &str, mappings: &str) {
    assert!(
        line.contains(&format!("mapper={mappings}")),
        "wrong mappings: {line}"
    );
    assert!(
        line.contains("run-tessera=absent"),
        "/run/tessera was not scrubbed: {line}"
    );
    assert!(
        line.contains("agents=0"),
        "the agent outlived the initramfs: {line}"
    );
}

pub struct Booted {
    pub s: Scenario,
    pub m: Machine,
    pub keys: tessera_e2e::tools::Keys,
    pub root: LuksImage,
}

/// Boots a machine whose initramfs has tessera serving `volumes` by `keyscript`, with the agent owning
/// the serial console, and waits for the agent's prompt.
pub fn boot(name: &str, arch: Arch, nic: Nic, data: bool, extra: &str) -> Booted {
    let s = ok(Scenario::new(name, arch, Flavor::InitramfsTools));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let data_img = if data { Some(ok(s.data_image())) } else { None };
    let mut volumes = vec![("cryptroot", &root)];
    let mut disks = vec![&root];
    if let Some(d) = data_img.as_ref() {
        volumes.push(("cryptdata", d));
        disks.push(d);
    }
    let conf = agent_conf(HOST_ID, Some(arch.console()), &volumes, "keyscript");
    let files = ok(tessera_files(arch, &keys, conf));
    let initrd = ok(s.initrd(&disks, Some(files)));
    let m = ok(s.boot(&initrd, &disks, nic, extra));
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), PROMPT_WAIT));
    Booted { s, m, keys, root }
}

fn tool_ok(run: &tessera_e2e::tools::ToolRun, m: &Machine) {
    assert!(
        run.success,
        "tessera unlock failed (exit {:?}):\nstdout: {}\nstderr: {}\nconsole: {}",
        run.code,
        run.stdout,
        run.stderr,
        m.log_path().display()
    );
}

pub fn network_unlock(arch: Arch, name: &str) {
    let mut b = boot(name, arch, Nic::User, false, "");
    let port = b.m.port.unwrap();
    let run = ok(unlock(
        &b.keys,
        &Target::Tcp(port),
        &format!("{PASSPHRASE}\n"),
        &["--wait", "120"],
        TOOL_WAIT,
    ));
    tool_ok(&run, &b.m);
    let line = ok(b.m.expect_unlocked(UNLOCK_WAIT));
    assert_clean_unlock(&line, "cryptroot,");
}

pub fn serial_unlock(arch: Arch, name: &str, nic: Nic, extra: &str) {
    let mut b = boot(name, arch, nic, false, extra);
    let run = {
        let pty = ok(PtyBridge::attach(&b.m));
        ok(unlock(
            &b.keys,
            &Target::Serial(pty.path.clone()),
            &format!("{PASSPHRASE}\n"),
            &[],
            TOOL_WAIT,
        ))
    };
    tool_ok(&run, &b.m);
    let line = ok(b.m.expect_unlocked(UNLOCK_WAIT));
    assert_clean_unlock(&line, "cryptroot,");
}

pub fn typed_with_agent(arch: Arch, name: &str) {
    let mut b = boot(name, arch, Nic::User, false, "");
    // The agent answers on the network: it is the one reading the console, not askpass.
    ok(b.m.wait_port_answers(Duration::from_secs(120)));
    std::thread::sleep(Duration::from_millis(500));
    ok(b.m.type_line(PASSPHRASE));
    let line = ok(b.m.expect_unlocked(UNLOCK_WAIT));
    assert_clean_unlock(&line, "cryptroot,");
    assert!(
        !b.m.transcript().contains(PASSPHRASE),
        "the typed passphrase was echoed on the console"
    );
}

pub fn root_and_data(arch: Arch, name: &str) {
    let mut b = boot(name, arch, Nic::User, true, "");
    let port = b.m.port.unwrap();
    let secrets = format!("{PASSPHRASE}\n{DATA_PASSPHRASE}\n");
    let run = ok(unlock(
        &b.keys,
        &Target::Tcp(port),
        &secrets,
        &["--wait", "120"],
        TOOL_WAIT,
    ));
    tool_ok(&run, &b.m);
    let line = ok(b.m.expect_unlocked(UNLOCK_WAIT));
    assert_clean_unlock(&line, "cryptdata,cryptroot,");
}

pub fn wrong_then_right(arch: Arch, name: &str) {
    let mut b = boot(name, arch, Nic::User, false, "");
    let port = b.m.port.unwrap();
    let wrong = ok(unlock(
        &b.keys,
        &Target::Tcp(port),
        "not-the-passphrase\n",
        &["--wait", "120"],
        TOOL_WAIT,
    ));
    assert!(
        !wrong.success,
        "a wrong secret was reported as unlocked: {}",
        wrong.stdout
    );
    let said = format!("{}{}", wrong.stdout, wrong.stderr).to_lowercase();
    assert!(
        said.contains("wrong"),
        "the tool did not say the secret was wrong: {said}"
    );
    // The wrong secret must not have reached cryptroot (no try burned, root still locked).
    ok(b.m.assert_absent(MARKER, Duration::from_secs(3)));
    assert!(
        !b.m.transcript().contains("bad password"),
        "a wrong secret reached cryptsetup in cryptroot"
    );
    let right = ok(unlock(
        &b.keys,
        &Target::Tcp(port),
        &format!("{PASSPHRASE}\n"),
        &["--wait", "60"],
        TOOL_WAIT,
    ));
    tool_ok(&right, &b.m);
    let line = ok(b.m.expect_unlocked(UNLOCK_WAIT));
    assert_clean_unlock(&line, "cryptroot,");
}

/// tessera=off on the kernel command line: no agent, the keyscript falls back to askpass.
pub fn disabled_agent_typed(arch: Arch, name: &str) {
    let mut b = boot(name, arch, Nic::None, false, "tessera=off");
    assert!(
        b.m.transcript().contains("tessera: disabled"),
        "the boot script did not say it was disabled"
    );
    std::thread::sleep(Duration::from_millis(500));
    ok(b.m.type_line(PASSPHRASE));
    let line = ok(b.m.expect_unlocked(UNLOCK_WAIT));
    assert!(
        line.contains("mapper=cryptroot,") && line.contains("agents=0"),
        "{line}"
    );
}
