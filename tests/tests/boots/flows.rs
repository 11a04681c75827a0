//! How a locked root gets opened, one function per `Path` of the boot table (boots.rs): each boots a
//! machine, opens its root one way (or must fail to), and checks the marker line the unlocked root
//! prints (which mappings are open, that /run/tessera was scrubbed and no agent survived).

use std::process::Command;
use std::time::Duration;
use tessera_e2e::chroot::{Arch, Flavor, QemuArch};
use tessera_e2e::host::run as run_cmd;
use tessera_e2e::initrd::TesseraFiles;
use tessera_e2e::pty::PtyBridge;
use tessera_e2e::scenario::{
    agent_conf, shared_keys, tessera_files, Scenario, DATA_PASSPHRASE, PASSPHRASE,
};
use tessera_e2e::tools::{unlock, Keys, Target};
use tessera_e2e::{LuksImage, Machine, Nic, MARKER, PROMPT};

pub const PROMPT_WAIT: Duration = Duration::from_secs(300);
pub const UNLOCK_WAIT: Duration = Duration::from_secs(120);
pub const TOOL_WAIT: Duration = Duration::from_secs(180);
pub const HOST_ID: &str = "e2e-host";

pub fn ok<T>(r: tessera_e2e::error::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// How the locked root of one boot is opened (or must stay locked).
pub enum Path {
    /// No tessera in the image: the passphrase typed at the stock prompt opens the root.
    StockTyped,
    /// No tessera: a wrong passphrase typed at the stock prompt keeps the root locked.
    StockWrong,
    /// The hook and its config in the image, but no agent binary: the console still asks.
    HookWithoutAgent,
    /// The image's file list and crypttab, as the hook wrote them (nothing is booted).
    HookContents,
    /// The agent refuses its config and exits: the console still asks.
    AgentConfigError,
    /// `tessera unlock HOST:PORT` over qemu user networking.
    Network,
    /// `tessera unlock --serial` on the console tty; the NIC and extra kernel arguments of the boot.
    Serial(Nic, &'static str),
    /// A person types the passphrase while the agent owns the console.
    TypedWithAgent,
    /// Root and a data volume, both secrets in one token.
    RootAndData,
    /// A wrong secret, reported without burning a try, then the right one.
    WrongThenRight,
    /// `tessera=off` on the kernel command line: the keyscript falls back to askpass.
    Disabled,
    /// A valid token for another host, replayed here: refused.
    OtherHost,
}

/// Runs one row of the boot table.
pub fn run(name: &str, arch: Arch, flavor: Flavor, path: Path) {
    match path {
        Path::StockTyped => stock_typed(name, arch, flavor),
        Path::StockWrong => stock_wrong(name, arch, flavor),
        Path::HookWithoutAgent => hook_without_agent(name, arch, flavor),
        Path::HookContents => hook_contents(name, arch, flavor),
        Path::AgentConfigError => agent_config_error(name, arch, flavor),
        Path::Network => network_unlock(name, arch, flavor),
        Path::Serial(nic, extra) => serial_unlock(name, arch, flavor, nic, extra),
        Path::TypedWithAgent => typed_with_agent(name, arch, flavor),
        Path::RootAndData => root_and_data(name, arch, flavor),
        Path::WrongThenRight => wrong_then_right(name, arch, flavor),
        Path::Disabled => disabled_agent_typed(name, arch, flavor),
        Path::OtherHost => other_host_refused(name, arch, flavor),
    }
}

/// The text of the passphrase prompt each initramfs generator shows on the console.
fn prompt(flavor: Flavor) -> String {
    match flavor {
        Flavor::InitramfsTools | Flavor::Dropbear => format!("{PROMPT} cryptroot"),
        // systemd-cryptsetup's ask-password on the console.
        Flavor::Dracut => "passphrase for disk".into(),
    }
}

/// The console the agent is given: initramfs-tools hands it the serial tty; under dracut systemd's
/// console prompt keeps it (docs/interfaces.md, dracut).
fn agent_console(arch: Arch, flavor: Flavor) -> Option<&'static str> {
    match flavor {
        Flavor::InitramfsTools | Flavor::Dropbear => Some(arch.console()),
        Flavor::Dracut => None,
    }
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
    pub m: Machine,
    pub keys: tessera_e2e::tools::Keys,
}

/// Boots a machine whose initramfs has tessera serving `volumes` by `keyscript` (with the agent owning
/// the serial console where the flavor lets it), and waits for the passphrase prompt.
pub fn boot(name: &str, arch: Arch, flavor: Flavor, nic: Nic, data: bool, extra: &str) -> Booted {
    let s = ok(Scenario::new(name, arch, flavor));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let data_img = if data { Some(ok(s.data_image())) } else { None };
    let mut volumes = vec![("cryptroot", &root)];
    let mut disks = vec![&root];
    if let Some(d) = data_img.as_ref() {
        volumes.push(("cryptdata", d));
        disks.push(d);
    }
    let conf = agent_conf(HOST_ID, agent_console(arch, flavor), &volumes, "keyscript");
    let files = ok(tessera_files(arch, &keys, conf));
    let initrd = ok(s.initrd(&disks, Some(files)));
    let m = ok(s.boot(&initrd, &disks, nic, extra));
    ok(m.wait_for(&prompt(flavor), PROMPT_WAIT));
    Booted { m, keys }
}

/// Boots an image without tessera (or with the given files) and waits for the stock prompt.
fn boot_plain(s: &Scenario, root: &LuksImage, tessera: Option<TesseraFiles>) -> Machine {
    let initrd = ok(s.initrd(&[root], tessera));
    let m = ok(s.boot(&initrd, &[root], Nic::None, ""));
    ok(m.wait_for(&prompt(s.chroot.flavor), PROMPT_WAIT));
    m
}

fn stock_typed(name: &str, arch: Arch, flavor: Flavor) {
    let s = ok(Scenario::new(name, arch, flavor));
    let root = ok(s.root_image());
    let mut m = boot_plain(&s, &root, None);
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line(PASSPHRASE));
    let line = ok(m.expect_unlocked(UNLOCK_WAIT));
    assert!(line.contains("mapper=cryptroot,"), "{line}");
}

fn stock_wrong(name: &str, arch: Arch, flavor: Flavor) {
    let s = ok(Scenario::new(name, arch, flavor));
    let root = ok(s.root_image());
    let m = boot_plain(&s, &root, None);
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line("not-the-passphrase"));
    ok(m.wait_for("bad password", UNLOCK_WAIT));
    // cryptroot asks again.
    ok(m.wait_for(&prompt(flavor), UNLOCK_WAIT));
    ok(m.assert_absent(MARKER, Duration::from_secs(5)));
}

fn hook_without_agent(name: &str, arch: Arch, flavor: Flavor) {
    let s = ok(Scenario::new(name, arch, flavor));
    let root = ok(s.root_image());
    let conf = agent_conf(
        "e2e-noagent",
        agent_console(arch, flavor),
        &[("cryptroot", &root)],
        "keyscript",
    );
    let tessera = TesseraFiles {
        agent: None,
        agent_conf: conf,
        files: vec![],
    };
    let mut m = boot_plain(&s, &root, Some(tessera));
    std::thread::sleep(Duration::from_millis(500));
    ok(m.type_line(PASSPHRASE));
    let line = ok(m.expect_unlocked(UNLOCK_WAIT));
    assert!(line.contains("run-tessera=absent agents=0"), "{line}");
}

/// A scenario, its root image, and the tessera files that serve that root by `keyscript` with the
/// shared keys: what a row that builds its own image starts from.
fn served_root(name: &str, arch: Arch, flavor: Flavor) -> (Scenario, LuksImage, TesseraFiles) {
    let s = ok(Scenario::new(name, arch, flavor));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let conf = agent_conf(
        HOST_ID,
        agent_console(arch, flavor),
        &[("cryptroot", &root)],
        "keyscript",
    );
    let files = ok(tessera_files(arch, &keys, conf));
    (s, root, files)
}

/// What the hook puts into the image: the agent, its config, the host key readable by root only, the
/// keyscript, the NIC driver, and `keyscript=` on the served volume in the initramfs' crypttab only.
fn hook_contents(name: &str, arch: Arch, flavor: Flavor) {
    let (s, root, files) = served_root(name, arch, flavor);
    let initrd = ok(s.initrd(&[&root], Some(files)));
    let list = ok(run_cmd(Command::new("sh").arg("-c").arg(format!(
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
    let crypttab = ok(run_cmd(Command::new("sh").arg("-c").arg(format!(
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
fn agent_config_error(name: &str, arch: Arch, flavor: Flavor) {
    let s = ok(Scenario::new(name, arch, flavor));
    let keys = ok(shared_keys());
    let root = ok(s.root_image());
    let mut conf = agent_conf(HOST_ID, None, &[("cryptroot", &root)], "keyscript");
    conf.push_str("no-such-key 1\n");
    let mut m = boot_plain(&s, &root, Some(ok(tessera_files(arch, &keys, conf))));
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

/// `tessera unlock` over the network with `secrets` on its stdin: the tool must succeed and the root
/// come up. Returns the marker line the unlocked root printed.
fn network_unlocks(m: &mut Machine, keys: &Keys, secrets: &str, wait: &str) -> String {
    let run = ok(unlock(
        keys,
        &Target::Tcp(m.port.unwrap()),
        secrets,
        &["--wait", wait],
        TOOL_WAIT,
    ));
    tool_ok(&run, m);
    ok(m.expect_unlocked(UNLOCK_WAIT))
}

fn network_unlock(name: &str, arch: Arch, flavor: Flavor) {
    let mut b = boot(name, arch, flavor, Nic::User, false, "");
    let line = network_unlocks(&mut b.m, &b.keys, &format!("{PASSPHRASE}\n"), "120");
    match flavor {
        Flavor::InitramfsTools | Flavor::Dropbear => assert_clean_unlock(&line, "cryptroot,"),
        // Under dracut systemd stops the agent's unit at switch-root and its ExecStopPost scrubs
        // /run/tessera: this row checks the mapping and the scrub.
        Flavor::Dracut => assert!(
            line.contains("mapper=cryptroot,") && line.contains("run-tessera=absent"),
            "{line}"
        ),
    }
}

fn serial_unlock(name: &str, arch: Arch, flavor: Flavor, nic: Nic, extra: &str) {
    let mut b = boot(name, arch, flavor, nic, false, extra);
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

fn typed_with_agent(name: &str, arch: Arch, flavor: Flavor) {
    let mut b = boot(name, arch, flavor, Nic::User, false, "");
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

fn root_and_data(name: &str, arch: Arch, flavor: Flavor) {
    let mut b = boot(name, arch, flavor, Nic::User, true, "");
    let secrets = format!("{PASSPHRASE}\n{DATA_PASSPHRASE}\n");
    let line = network_unlocks(&mut b.m, &b.keys, &secrets, "120");
    assert_clean_unlock(&line, "cryptdata,cryptroot,");
}

fn wrong_then_right(name: &str, arch: Arch, flavor: Flavor) {
    let mut b = boot(name, arch, flavor, Nic::User, false, "");
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
    let line = network_unlocks(&mut b.m, &b.keys, &format!("{PASSPHRASE}\n"), "60");
    assert_clean_unlock(&line, "cryptroot,");
}

/// tessera=off on the kernel command line: no agent, the keyscript falls back to askpass.
fn disabled_agent_typed(name: &str, arch: Arch, flavor: Flavor) {
    let mut b = boot(name, arch, flavor, Nic::None, false, "tessera=off");
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
fn other_host_refused(name: &str, arch: Arch, flavor: Flavor) {
    use std::io::{Read, Write};
    use tessera_core::agent::{Agent, AgentConfig};
    use tessera_core::message::{VolumeInfo, VolumeState};
    use tessera_core::testkit;

    let keys = ok(shared_keys());
    let (s, root, mut files) = served_root(name, arch, flavor);
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
    ok(m.wait_for(&prompt(flavor), PROMPT_WAIT));
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

    let line = network_unlocks(&mut m, &keys, &format!("{PASSPHRASE}\n"), "60");
    assert_clean_unlock(&line, "cryptroot,");
}
