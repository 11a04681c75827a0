//! Host key pins: `known_hosts` lines `HOST-ID ssh-ed25519 AAAA...` in the admin's config folder
//! ([`crate::layout::config_dir`]), read and written for the host tool and for flash.
//!
//! The policy, one for every writer: **a pin is never replaced silently.**
//! - `tessera unlock` / `status` (trust on first use) append a pin for an unknown host id after
//!   the admin agreed (terminal or `--host-key`) and refuse a key that differs from the pin.
//! - `tessera flash` appends a pin for an unknown host id and keeps a matching one. A differing
//!   pin is replaced only with `--new-host-key` (flash made that key on purpose), and flash says
//!   so on stderr; without it the differing pin is an error whose hint names `--new-host-key`,
//!   raised before flash writes anything to the target.
//!
//! This module only reads and writes the file; asking the admin and the policy's decisions belong
//! to the callers. Lines it does not understand are kept as they are.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::key_lines::{openssh_line, parse_ed25519};

/// What a pinned-key check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pin {
    /// The host id is pinned to this key.
    Matches,
    /// The host id is not pinned.
    Unknown,
    /// The host id is pinned to another key (the one given).
    Differs([u8; 32]),
}

/// One `known_hosts` file.
pub struct KnownHosts {
    path: PathBuf,
}

impl KnownHosts {
    /// The file at `path` (it need not exist yet).
    pub fn new(path: PathBuf) -> KnownHosts {
        KnownHosts { path }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How `public` compares with the pin of `host_id`; a missing file pins nothing.
    pub fn check(&self, host_id: &str, public: &[u8; 32]) -> Pin {
        let text = fs::read_to_string(&self.path).unwrap_or_default();
        let mut found = None;
        for line in text.lines() {
            let Some(key) = key_of(line, host_id) else {
                continue;
            };
            if &key == public {
                return Pin::Matches;
            }
            found = Some(key);
        }
        match found {
            Some(k) => Pin::Differs(k),
            None => Pin::Unknown,
        }
    }

    /// Adds a pin for `host_id` at the end, creating the file and its folder if needed; never
    /// touches an existing line.
    pub fn append(&self, host_id: &str, public: &[u8; 32]) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(f, "{}", pin_line(host_id, public))
    }

    /// Drops every pin of `host_id` and adds `public` at the end; other lines stay as they are.
    /// Written whole (temporary file, rename). Only for an explicit replacement (see the policy).
    pub fn replace(&self, host_id: &str, public: &[u8; 32]) -> io::Result<()> {
        let old = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut out = String::new();
        for line in old.lines() {
            let id = line.split_whitespace().next();
            if id == Some(host_id) && !line.trim_start().starts_with('#') {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&pin_line(host_id, public));
        out.push('\n');
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tessera-tmp");
        fs::write(&tmp, out)?;
        fs::rename(&tmp, &self.path)
    }
}

/// `HOST-ID ssh-ed25519 AAAA...`.
fn pin_line(host_id: &str, public: &[u8; 32]) -> String {
    format!("{host_id} {}", openssh_line(public, ""))
}

/// The key a line pins for `host_id`, if it is such a line.
fn key_of(line: &str, host_id: &str) -> Option<[u8; 32]> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    let (id, key) = line.split_once(char::is_whitespace)?;
    if id != host_id {
        return None;
    }
    parse_ed25519(key.trim()).ok()?.map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tessera-conf-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn append_never_touches_a_pin_and_checks_are_per_host_id() {
        let dir = temp("append");
        let kh = KnownHosts::new(dir.join("tessera/known_hosts"));
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(kh.check("web1", &a), Pin::Unknown);
        kh.append("web1", &a).unwrap();
        assert_eq!(kh.check("web1", &a), Pin::Matches);
        assert_eq!(kh.check("web1", &b), Pin::Differs(a));
        assert_eq!(kh.check("web2", &b), Pin::Unknown);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn replace_drops_the_old_pin_of_the_host_only() {
        let dir = temp("replace");
        let path = dir.join("tessera/known_hosts");
        let kh = KnownHosts::new(path.clone());
        kh.replace("web1", &[1; 32]).unwrap();
        kh.append("web2", &[2; 32]).unwrap();
        kh.replace("web1", &[3; 32]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("web2 ssh-ed25519 "));
        assert_eq!(lines[1], format!("web1 {}", openssh_line(&[3; 32], "")));
        assert_eq!(kh.check("web1", &[3; 32]), Pin::Matches);
        let _ = fs::remove_dir_all(&dir);
    }
}
