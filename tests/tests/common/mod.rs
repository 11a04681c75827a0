//! Scenario bodies shared by the amd64 and arm64 test files: each boots a locked machine with
//! tessera in its initramfs, unlocks it one way, and checks the marker line the unlocked root
//! prints (which mappings are open, that /run/tessera was scrubbed and no agent survived).
#![allow(dead_code)]

use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor, QemuArch};
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

/// A token made for another host (its own host id, boot id and ephemeral key), signed by an admin the
/// guest does authorize, replayed at the guest: the agent must refuse it and the root stay locked;
/// the admin's own token for this host then unlocks.
pub fn other_host_refused(arch: Arch, name: &str) {
    use std::io::{Read, Write};
    use tessera_core::agent::{Agent, AgentConfig};
    use tessera_core::message::{VolumeInfo, VolumeState};
    use tessera_core::testkit;

    let s = ok(Scenario::new(name, arch, Flavor::InitramfsTools));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let conf = agent_conf(
        HOST_ID,
        Some(arch.console()),
        &[("cryptroot", &root)],
        "keyscript",
    );
    let mut files = ok(tessera_files(arch, &keys, conf));
    // Authorize the core's published test admin too: the refusal must come from the host binding.
    let mut line = [0u8; tessera_core::openssh::ENCODED_LEN];
    let test_admin =
        tessera_core::openssh::encode(&testkit::public_key(&testkit::ADMIN_SEED), &mut line);
    for (n, bytes) in files.files.iter_mut() {
        if n == "authorized_keys" {
            bytes.extend_from_slice(format!("{test_admin} tessera-testkit\n").as_bytes());
        }
    }
    let initrd = ok(s.initrd(&[&root], Some(files)));
    let mut m = ok(s.boot(&initrd, &[&root], Nic::User, ""));
    ok(m.wait_for(&format!("{PROMPT} cryptroot"), PROMPT_WAIT));
    ok(m.wait_port_answers(Duration::from_secs(120)));

    // The other host: same volume name and secret, its own id and boot.
    let mut admins = heapless::Vec::new();
    let _ = admins.push(testkit::public_key(&testkit::ADMIN_SEED));
    let mut volumes = heapless::Vec::new();
    let _ = volumes.push(VolumeInfo {
        name: testkit::name("cryptroot"),
        state: VolumeState::Waiting,
    });
    let other = Agent::new(AgentConfig {
        host_key: [0x77; 32],
        host_id: testkit::name("other-host"),
        boot_id: [0x88; 16],
        ephemeral_secret: [0x99; 32],
        admins,
        volumes,
    });
    let mut challenge = [0u8; 2048];
    let n = other
        .write_challenge(&mut challenge)
        .expect("the other host's challenge");
    let mut token = [0u8; 2048];
    let vol = testkit::name("cryptroot");
    let secrets: [(&tessera_core::name::Name, &[u8]); 1] = [(&vol, PASSPHRASE.as_bytes())];
    let t = testkit::unlock_frame(&challenge[..n], &testkit::ADMIN_SEED, &secrets, &mut token)
        .expect("a token for the other host");

    let mut conn = std::net::TcpStream::connect(("127.0.0.1", m.port.unwrap()))
        .expect("connecting to the agent");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut first = [0u8; 2048];
    let _ = conn.read(&mut first);
    conn.write_all(&token[..t]).expect("sending the token");
    let mut answer = Vec::new();
    let _ = conn.take(4096).read_to_end(&mut answer);
    ok(m.assert_absent(MARKER, Duration::from_secs(10)));
    assert!(
        !m.transcript().contains("bad password"),
        "the other host's secret reached cryptsetup"
    );

    let run = ok(unlock(
        &keys,
        &Target::Tcp(m.port.unwrap()),
        &format!("{PASSPHRASE}\n"),
        &["--wait", "60"],
        TOOL_WAIT,
    ));
    tool_ok(&run, &m);
    let line = ok(m.expect_unlocked(UNLOCK_WAIT));
    assert_clean_unlock(&line, "cryptroot,");
}
