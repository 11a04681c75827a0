//! The keys flash puts on a host: the agent's ed25519 host key (a 32-byte seed, the format of
//! `tessera-agent --gen-host-key`), the admins' `authorized_keys`, and the local pin of the new host
//! key in `$XDG_CONFIG_HOME/tessera/known_hosts` (`HOST-ID ssh-ed25519 AAAA...`).
//!
//! Only ssh-ed25519 keys are kept (the agent uses no other type); options in front of a key
//! (dropbear's `command="..."`) are dropped. The seed is never printed or logged.

use crate::error::{Error, Result};
use ssh_key::public::{Ed25519PublicKey, KeyData};
use ssh_key::PublicKey;
use std::path::{Path, PathBuf};

/// Length of the host key seed file.
pub const SEED_LEN: usize = 32;

/// A host key: the secret seed and its public half.
pub struct HostKey {
    pub seed: [u8; SEED_LEN],
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
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
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

impl Drop for HostKey {
    fn drop(&mut self) {
        // Best effort without pulling zeroize: the seed leaves the process only into files.
        for b in self.seed.iter_mut() {
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// An OpenSSH public key line for an ed25519 key.
pub fn openssh_line(public: &[u8; 32], comment: &str) -> String {
    let mut key = PublicKey::from(KeyData::Ed25519(Ed25519PublicKey(*public)));
    key.set_comment(comment);
    key.to_openssh().unwrap_or_default()
}

/// `SHA256:...` as ssh-keygen -l prints it.
pub fn fingerprint(public: &[u8; 32]) -> String {
    let key = PublicKey::from(KeyData::Ed25519(Ed25519PublicKey(*public)));
    key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
}

/// Parses authorized_keys text: returns the ssh-ed25519 keys as clean lines (`ssh-ed25519 AAAA...
/// comment`) and how many lines of other types were skipped. A broken line is an error naming it.
pub fn ed25519_lines(name: &str, text: &str) -> Result<(Vec<String>, usize)> {
    let mut keys = Vec::new();
    let mut skipped = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Skip options: the key starts at the first word that is a key type.
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words
            .iter()
            .position(|w| w.starts_with("ssh-") || w.starts_with("ecdsa-") || w.starts_with("sk-"))
        else {
            return Err(Error::Key {
                source_name: format!("{name}:{}", n + 1),
                problem: "no key type on this line".into(),
            });
        };
        if words[at] != "ssh-ed25519" {
            skipped += 1;
            continue;
        }
        let key_text = words[at..].join(" ");
        let key = PublicKey::from_openssh(&key_text).map_err(|e| Error::Key {
            source_name: format!("{name}:{}", n + 1),
            problem: format!("broken ssh-ed25519 key: {e}"),
        })?;
        if let Ok(line) = key.to_openssh() {
            keys.push(line);
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
    if let Some(dir) = config_dir() {
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

/// `$XDG_CONFIG_HOME/tessera`, or `~/.config/tessera`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("tessera"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config/tessera"))
}

/// Pins `public` for `host_id` in `known_hosts`, replacing an older pin of the same host id: flash
/// made the new key, so it is the one to trust. Returns the file written.
pub fn pin(known_hosts: &Path, host_id: &str, public: &[u8; 32]) -> Result<()> {
    let old = std::fs::read_to_string(known_hosts).unwrap_or_default();
    let mut out = String::new();
    for line in old.lines() {
        let id = line.split_whitespace().next();
        if id == Some(host_id) && !line.trim_start().starts_with('#') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let key = openssh_line(public, "");
    out.push_str(&format!("{host_id} {}\n", key.trim()));
    if let Some(dir) = known_hosts.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create", e))?;
    }
    let tmp = known_hosts.with_extension("tessera-tmp");
    std::fs::write(&tmp, out).map_err(|e| Error::io(&tmp, "write", e))?;
    std::fs::rename(&tmp, known_hosts).map_err(|e| Error::io(known_hosts, "replace", e))
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
        assert!(text.contains(&fingerprint(&k.public)), "{text}");
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
    fn pinning_replaces_the_old_key_of_the_host_only() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("tessera/known_hosts");
        pin(&kh, "web1", &[1; 32]).unwrap();
        pin(&kh, "web2", &[2; 32]).unwrap();
        pin(&kh, "web1", &[3; 32]).unwrap();
        let text = std::fs::read_to_string(&kh).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("web2 ssh-ed25519 "));
        assert_eq!(
            lines[1],
            format!("web1 {}", openssh_line(&[3; 32], "").trim())
        );
    }
}
