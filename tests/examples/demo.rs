//! The demo (README command 1, run by scripts/demo.sh): a locked Debian server in qemu, unlocked with
//! `tessera unlock` over the network, then booted again and unlocked over its serial console.
use std::time::{Duration, Instant};
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::pty::PtyBridge;
use tessera_e2e::scenario::{agent_conf, tessera_files, Scenario, PASSPHRASE};
use tessera_e2e::tools::{self, Target};
use tessera_e2e::{Nic, PROMPT};

fn say(t0: Instant, msg: &str) {
    println!(
        "\x1b[1m[demo {:5.1}s]\x1b[0m {msg}",
        t0.elapsed().as_secs_f64()
    );
}

fn main() {
    if let Err(e) = run() {
        eprintln!("demo: {e}");
        std::process::exit(1);
    }
}

fn run() -> tessera_e2e::error::Result<()> {
    let t0 = Instant::now();
    say(t0, "Debian bookworm chroot with the real kernel and cryptsetup-initramfs (debootstrap once, then cached)");
    let s = Scenario::new("demo", Arch::Amd64, Flavor::InitramfsTools)?;
    say(t0, "keys: an admin identity (tessera keygen) and the server's host key (tessera-agent --gen-host-key)");
    let keys = tools::keys(&s.work.join("keys"))?;
    say(
        t0,
        &format!(
            "a LUKS2 root disk (passphrase {PASSPHRASE:?}) whose init prints ROOT-UNLOCKED-OK"
        ),
    );
    let root = s.root_image()?;
    say(
        t0,
        "mkinitramfs with tessera's hook: the agent listens on :7743 and owns the console ttyS0",
    );
    let conf = agent_conf(
        "demo-server",
        Some("ttyS0"),
        &[("cryptroot", &root)],
        "keyscript",
    );
    let initrd = s.initrd(&[&root], Some(tessera_files(Arch::Amd64, &keys, conf)?))?;

    say(
        t0,
        "boot 1: the server boots in qemu and stops at the passphrase prompt",
    );
    let mut m = s.boot(&initrd, &[&root], Nic::User, "")?;
    m.wait_for(&format!("{PROMPT} cryptroot"), Duration::from_secs(300))?;
    let port = m.port.unwrap_or(0);
    say(
        t0,
        &format!("locked; running: tessera unlock 127.0.0.1:{port} (port 7743 forwarded)"),
    );
    let run = tools::unlock(
        &keys,
        &Target::Tcp(port),
        &format!("{PASSPHRASE}\n"),
        &["--wait", "60"],
        Duration::from_secs(120),
    )?;
    print!("{}", run.stdout);
    eprint!("{}", run.stderr);
    let line = m.expect_unlocked(Duration::from_secs(120))?;
    say(
        t0,
        &format!("unlocked over the network; the server says: {line}"),
    );
    drop(m);
    let _ = std::fs::rename(
        s.work.join("console.log"),
        s.work.join("console-network.log"),
    );

    say(
        t0,
        "boot 2: the same server, this time unlocked over its serial console",
    );
    let mut m = s.boot(&initrd, &[&root], Nic::None, "")?;
    m.wait_for(&format!("{PROMPT} cryptroot"), Duration::from_secs(300))?;
    let run = {
        let pty = PtyBridge::attach(&m)?;
        say(
            t0,
            &format!(
                "locked; running: tessera unlock --serial {}",
                pty.path.display()
            ),
        );
        tools::unlock(
            &keys,
            &Target::Serial(pty.path.clone()),
            &format!("{PASSPHRASE}\n"),
            &[],
            Duration::from_secs(120),
        )?
    };
    print!("{}", run.stdout);
    eprint!("{}", run.stderr);
    let line = m.expect_unlocked(Duration::from_secs(120))?;
    say(
        t0,
        &format!("unlocked over the serial console; the server says: {line}"),
    );
    say(
        t0,
        &format!("done; console transcripts are in {}", s.work.display()),
    );
    Ok(())
}
