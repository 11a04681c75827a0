//! First-use host key pinning asked on a real terminal (a pty as the controlling tty), and refused
//! without one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::common::*;

const SECS: Duration = Duration::from_secs(10);

/// `tessera unlock` with the pty's slave as stdin/stdout/stderr and controlling terminal.
fn unlock_on_pty(host: &Host, addr: &str, p: &Pty) -> std::process::Child {
    // O_NOCTTY: a test process that leads its own session without a terminal (run under setsid,
    // or by a CI runner that starts it that way) would otherwise take the pty as its own
    // controlling terminal; the child's TIOCSCTTY then fails, and the pty's hangup kills the test.
    let slave = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
            .open(&p.slave)
            .unwrap()
    };
    let mut cmd = Command::new(tessera_bin());
    cmd.args(["unlock", addr, "--identity"])
        .arg(&host.admin)
        .env("XDG_CONFIG_HOME", host.dir.join("xdg"))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(slave())
        .stdout(slave())
        .stderr(slave());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(std::io::stdin())?;
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

fn known_hosts(host: &Host) -> String {
    std::fs::read_to_string(host.dir.join("xdg/tessera/known_hosts")).unwrap_or_default()
}

#[test]
fn first_use_asks_on_the_terminal_and_pins() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let addr = agent.addr().to_string();
    let mut p = pty();
    let mut child = unlock_on_pty(&host, &addr, &p);
    let mut seen = Vec::new();
    assert!(
        p.read_until(&mut seen, "Pin it and continue? [y/N]", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    let screen = String::from_utf8_lossy(&seen).to_string();
    assert!(
        screen.contains("host web1 is not pinned yet; its host key is SHA256:"),
        "{screen}"
    );
    p.master.write_all(b"y\n").unwrap();
    assert!(
        p.read_until(&mut seen, "Secret for vol_a on web1: ", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    p.master
        .write_all(format!("{PASS_A}\n").as_bytes())
        .unwrap();
    assert!(p.read_until(&mut seen, "Secret for vol_b on web1: ", SECS));
    p.master
        .write_all(format!("{PASS_B}\n").as_bytes())
        .unwrap();
    assert!(
        p.read_until(&mut seen, "vol_b: unlocked", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // Prompts do not echo secrets.
    assert!(!String::from_utf8_lossy(&seen).contains("horse"));
    let pinned = known_hosts(&host);
    let key_b64 = host.host_pub.split_whitespace().nth(1).unwrap();
    assert_eq!(pinned.trim(), format!("web1 ssh-ed25519 {key_b64}"));
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn saying_no_pins_nothing_and_sends_nothing() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent = host.start();
    let addr = agent.addr().to_string();
    let mut p = pty();
    let mut child = unlock_on_pty(&host, &addr, &p);
    let mut seen = Vec::new();
    assert!(p.read_until(&mut seen, "[y/N]", SECS));
    p.master.write_all(b"n\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(4));
    assert!(p.read_until(&mut seen, "is not pinned", SECS));
    assert_eq!(known_hosts(&host), "");
    assert_eq!(agent.count_log("verified"), 0);
}

#[test]
fn without_a_terminal_or_host_key_it_refuses_with_a_hint() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent = host.start();
    let mut cmd = Command::new(tessera_bin());
    cmd.args([
        "unlock",
        &agent.addr().to_string(),
        "--secret-stdin",
        "--identity",
    ])
    .arg(&host.admin)
    .env("XDG_CONFIG_HOME", host.dir.join("xdg"))
    .env_remove("SSH_AUTH_SOCK")
    .stdin(Stdio::null());
    // SAFETY: setsid only; the child has no controlling terminal afterwards.
    unsafe {
        cmd.pre_exec(|| rustix::process::setsid().map(|_| ()).map_err(Into::into));
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--host-key"), "{stderr}");
    assert_eq!(known_hosts(&host), "");
}
