//! SSHSIG interop: a token signed by a real OpenSSH `ssh-agent` holding a key made by
//! `ssh-keygen -t ed25519` is accepted by the real agent.

use std::process::Command;
use std::time::Duration;

use super::common::*;

struct SshAgent(u32);

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

#[test]
fn a_token_signed_through_ssh_agent_unlocks() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let key = host.dir.join("id_ed25519");
    let st = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "admin@ssh-agent",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(st.success());
    let public = std::fs::read_to_string(host.dir.join("id_ed25519.pub")).unwrap();
    // The only authorized key is the ssh-agent's.
    std::fs::write(host.dir.join("authorized_keys"), &public).unwrap();
    let sock = host.dir.join("agent.sock");
    let out = Command::new("ssh-agent")
        .arg("-a")
        .arg(&sock)
        .output()
        .unwrap();
    assert!(out.status.success());
    let pid = String::from_utf8_lossy(&out.stdout)
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.parse().ok())
        .expect("ssh-agent pid");
    let _guard = SshAgent(pid);
    let st = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // Take the private key away: only ssh-agent can sign now.
    std::fs::remove_file(&key).unwrap();

    let mut agent = host.start();
    let out = Command::new(tessera_bin())
        .args([
            "unlock",
            &agent.addr().to_string(),
            "--secret-stdin",
            "--host-key",
            &host.host_pub,
        ])
        .env("SSH_AUTH_SOCK", &sock)
        .env("XDG_CONFIG_HOME", host.dir.join("xdg"))
        .env("HOME", host.dir.path())
        .stdin(
            std::fs::File::open({
                let p = host.dir.join("s");
                std::fs::write(&p, format!("{PASS_A}\n{PASS_B}\n")).unwrap();
                p
            })
            .unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out),
        agent.log_text()
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ssh-agent key admin@ssh-agent"),
        "{}",
        text(&out)
    );
    assert!(agent.wait_exit(Duration::from_secs(10)).unwrap().success());
}
