//! Interop with the real OpenSSH: a token message signed by `ssh-keygen -Y sign -n unlock@tessera`
//! verifies with the core's SSHSIG check, and the key parses from the real `.pub` line. Needs
//! `ssh-keygen` (Debian openssh-client, installed by scripts/install-deps.sh).

use std::io::Write;
use std::process::{Command, Stdio};

use tessera_core::openssh::{parse_line, KeyLine};
use tessera_core::sshsig;

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn ssh_keygen_signature_verifies_and_tampering_does_not() {
    let dir = TempDir(std::env::temp_dir().join(format!("tessera-sshsig-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let key = dir.0.join("id_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "admin@test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs (apt-get install openssh-client)");
    assert!(st.success());
    let pub_line = std::fs::read(key.with_extension("pub")).unwrap();
    let KeyLine::Ed25519 {
        key: admin,
        comment,
    } = parse_line(&pub_line).unwrap()
    else {
        panic!("ssh-keygen's .pub line did not parse as ssh-ed25519");
    };
    assert_eq!(comment, b"admin@test");

    let message = b"tessera-v1 unlock\0any token message bytes \x00\xff";
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", sshsig::NAMESPACE, "-f"])
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (signer, sig) = sshsig::parse_armored(&out.stdout).unwrap();
    assert_eq!(signer, admin);
    assert!(sshsig::verify(&admin, message, &sig));
    assert!(!sshsig::verify(&admin, b"another message", &sig));
    // ssh-agent path: the same signature verifies over the rebuilt signed data.
    assert!(sshsig::verify_signed_data(
        &admin,
        &sshsig::signed_data(message),
        &sig
    ));
}

#[test]
fn armored_signature_with_another_namespace_is_refused() {
    let dir =
        TempDir(std::env::temp_dir().join(format!("tessera-sshsig-ns-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let key = dir.0.join("id_ed25519");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let data = dir.0.join("msg");
    std::fs::write(&data, b"m").unwrap();
    assert!(Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(&key)
        .arg(&data)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    let armored = std::fs::read(data.with_extension("sig")).unwrap();
    assert_eq!(
        sshsig::parse_armored(&armored),
        Err(sshsig::SshsigError::WrongNamespace)
    );
}
