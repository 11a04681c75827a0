//! The keys flash puts on a host: the agent's ed25519 host key (a 32-byte seed, the format of
//! `tessera-agent --gen-host-key`), the admins' `authorized_keys`, and the local pin of the new host
//! key in `$XDG_CONFIG_HOME/tessera/known_hosts` (`HOST-ID ssh-ed25519 AAAA...`).
//!
//! Only ssh-ed25519 keys are kept (the agent uses no other type); lines are read with the core's
//! parser (`tessera_core::openssh`, as the agent reads them), so options in front of a key
//! (dropbear's `command="..."`) are dropped. The seed is never printed or logged, and is wiped
//! from memory when dropped.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tessera_conf::known_hosts::{KnownHosts, Pin};
use tessera_conf::layout;
use tessera_core::openssh::{self, KeyLine};
use zeroize::Zeroizing;

pub use tessera_conf::key_lines::openssh_line;
pub use tessera_core::openssh::{fingerprint, SEED_LEN};

/// A host key: the secret seed and its public half.
pub struct HostKey {
    pub seed: Zeroizing<[u8; SEED_LEN]>,
    pub public: [u8; 32],
}

impl HostKey {
    /// A fresh key from the OS's random source.
    pub fn generate() -> Result<HostKey> {
        let mut seed = [0u8; SEED_LEN];
        getrandom::getrandom(&mut seed).map_err(|e| Error::Key {
            source_name: "getrandom".into(),
            problem: format!("no randomness for a host key: {e}"),
        })?;
        Ok(HostKey::from_seed(seed))
    }

    pub fn from_seed(seed: [u8; SEED_LEN]) -> HostKey {
        let seed = Zeroizing::new(seed);
        let public = openssh::public_key(&seed);
        HostKey { seed, public }
    }

    /// Reads a seed file written by `--gen-host-key` or by an earlier flash.
    pub fn from_seed_bytes(name: &str, bytes: &[u8]) -> Result<HostKey> {
        let seed: [u8; SEED_LEN] = bytes.try_into().map_err(|_| Error::Key {
            source_name: name.into(),
            problem: format!("host key is {} bytes, expected {SEED_LEN}", bytes.len()),
        })?;
        Ok(HostKey::from_seed(seed))
    }

    /// `ssh-ed25519 AAAA... tessera-host`, the `.pub` line.
    pub fn public_line(&self) -> String {
        openssh_line(&self.public, "tessera-host")
    }
}

/// Parses authorized_keys text: returns the ssh-ed25519 keys as clean lines (`ssh-ed25519 AAAA...
/// comment`) and how many lines of other types were skipped. A broken line is an error naming it.
pub fn ed25519_lines(name: &str, text: &str) -> Result<(Vec<String>, usize)> {
    let mut keys = Vec::new();
    let mut skipped = 0;
    for (n, raw) in text.lines().enumerate() {
        match openssh::parse_line(raw.as_bytes()) {
            Ok(KeyLine::Blank) => {}
            Ok(KeyLine::OtherKeyType) => skipped += 1,
            Ok(KeyLine::Ed25519 { key, comment }) => {
                keys.push(openssh_line(&key, &String::from_utf8_lossy(comment)));
            }
            Err(e) => {
                return Err(Error::Key {
                    source_name: format!("{name}:{}", n + 1),
                    problem: format!("broken ssh-ed25519 key: {e}"),
                })
            }
        }
    }
    Ok((keys, skipped))
}

/// Reads `arg` as a key line, or as a file of key lines when it names a file.
pub fn admin_keys_from_arg(arg: &str) -> Result<Vec<String>> {
    let (name, text) = if arg.starts_with("ssh-") || arg.starts_with("sk-") {
        ("--admin-key".to_string(), arg.to_string())
    } else {
        let text =
            std::fs::read_to_string(arg).map_err(|e| Error::io(Path::new(arg), "read", e))?;
        (arg.to_string(), text)
    };
    let (keys, _) = ed25519_lines(&name, &text)?;
    if keys.is_empty() {
        return Err(Error::Key {
            source_name: name,
            problem: "holds no ssh-ed25519 key".into(),
        });
    }
    Ok(keys)
}

/// Appends the keys of `more` that `into` lacks (compared by key, not comment).
pub fn merge(into: &mut Vec<String>, more: Vec<String>) {
    let blob = |l: &str| l.split_whitespace().nth(1).map(str::to_string);
    for k in more {
        if !into.iter().any(|x| blob(x) == blob(&k)) {
            into.push(k);
        }
    }
}

/// The admin's own public key: tessera's, else OpenSSH's ed25519 key.
pub fn own_public_key() -> Option<(PathBuf, Vec<String>)> {
    let mut candidates = Vec::new();
    if let Some(dir) = layout::config_dir() {
        candidates.push(dir.join("id_ed25519.pub"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        candidates.push(PathBuf::from(home).join(".ssh/id_ed25519.pub"));
    }
    candidates.into_iter().find_map(|p| {
        let text = std::fs::read_to_string(&p).ok()?;
        let (keys, _) = ed25519_lines(&p.display().to_string(), &text).ok()?;
        (!keys.is_empty()).then_some((p, keys))
    })
}

/// What [`pin`] did to the known_hosts file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pinned {
    /// The host id was not pinned: its pin was appended.
    Added,
    /// The host id was already pinned to this key.
    Kept,
    /// The host id was pinned to `old`; `replace` was asked for, so the pin now names the new key.
    Replaced { old: [u8; 32] },
}

/// Pins `public` for `host_id` in `known_hosts` by the policy of `tessera_conf::known_hosts`: an
/// unknown host id is appended, a matching pin kept, and a differing pin replaced only when
/// `replace` (`--new-host-key`) says so; otherwise it is [`Error::PinDiffers`].
pub fn pin(known_hosts: &Path, host_id: &str, public: &[u8; 32], replace: bool) -> Result<Pinned> {
    let kh = KnownHosts::new(known_hosts.to_path_buf());
    let write = |e| Error::io(known_hosts, "write", e);
    match kh.check(host_id, public) {
        Pin::Matches => Ok(Pinned::Kept),
        Pin::Unknown => kh
            .append(host_id, public)
            .map(|()| Pinned::Added)
            .map_err(write),
        Pin::Differs(old) if replace => kh
            .replace(host_id, public)
            .map(|()| Pinned::Replaced { old })
            .map_err(write),
        Pin::Differs(old) => Err(pin_differs(known_hosts, host_id, &old, public)),
    }
}

/// The policy's refusal, for the modes to ask before they write anything: `Err(PinDiffers)` when
/// `known_hosts` pins `host_id` to another key and `replace` (`--new-host-key`) was not given.
pub fn check_pin(
    known_hosts: &Path,
    host_id: &str,
    public: &[u8; 32],
    replace: bool,
) -> Result<()> {
    match KnownHosts::new(known_hosts.to_path_buf()).check(host_id, public) {
        Pin::Differs(old) if !replace => Err(pin_differs(known_hosts, host_id, &old, public)),
        _ => Ok(()),
    }
}

fn pin_differs(known_hosts: &Path, host_id: &str, old: &[u8; 32], public: &[u8; 32]) -> Error {
    Error::PinDiffers {
        host_id: host_id.into(),
        known_hosts: known_hosts.to_path_buf(),
        pinned: fingerprint(old).to_string(),
        flashed: fingerprint(public).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_line_is_what_ssh_keygen_derives() {
        let dir = tempfile::tempdir().unwrap();
        let k = HostKey::from_seed([7; 32]);
        let line = k.public_line();
        assert!(
            line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"),
            "{line}"
        );
        assert!(line.ends_with(" tessera-host"));
        // ssh-keygen agrees on the fingerprint of the line.
        let p = dir.path().join("k.pub");
        std::fs::write(&p, format!("{line}\n")).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&p)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(fingerprint(&k.public).as_str()), "{text}");
        let a = HostKey::generate().unwrap();
        let b = HostKey::generate().unwrap();
        assert_ne!(a.public, b.public);
    }

    #[test]
    fn authorized_keys_keep_ed25519_only_and_drop_options() {
        let pk = openssh_line(&[9; 32], "alice@laptop");
        let text = format!(
            "# admins\nno-port-forwarding,command=\"/bin/cryptroot-unlock\" {pk}\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob\n\n"
        );
        let (keys, skipped) = ed25519_lines("authorized_keys", &text).unwrap();
        assert_eq!(keys, vec![pk.clone()]);
        assert_eq!(skipped, 1);
        let err = ed25519_lines("ak", "ssh-ed25519 AAAAnotbase64!! x\n").unwrap_err();
        assert!(err.to_string().starts_with("ak:1:"), "{err}");
        let mut all = vec![pk.clone()];
        merge(
            &mut all,
            vec![
                openssh_line(&[9; 32], "other comment"),
                openssh_line(&[8; 32], "c"),
            ],
        );
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn pinning_never_replaces_a_pin_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("tessera/known_hosts");
        assert_eq!(pin(&kh, "web1", &[1; 32], false).unwrap(), Pinned::Added);
        assert_eq!(pin(&kh, "web2", &[2; 32], false).unwrap(), Pinned::Added);
        assert_eq!(pin(&kh, "web1", &[1; 32], false).unwrap(), Pinned::Kept);
        let err = pin(&kh, "web1", &[3; 32], false).unwrap_err();
        assert!(matches!(err, Error::PinDiffers { .. }), "{err}");
        assert!(err.hint().contains("--new-host-key"), "{}", err.hint());
        assert_eq!(
            pin(&kh, "web1", &[3; 32], true).unwrap(),
            Pinned::Replaced { old: [1; 32] }
        );
        let text = std::fs::read_to_string(&kh).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("web2 ssh-ed25519 "));
        assert_eq!(lines[1], format!("web1 {}", openssh_line(&[3; 32], "")));
    }
}
