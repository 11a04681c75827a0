//! Host key pinning: `known_hosts` lines `HOST-ID ssh-ed25519 AAAA...` in the config folder.
//!
//! Trust on first use, like ssh: the first challenge from a host id shows the key's fingerprint
//! and asks on the terminal; `--host-key` pins without asking; with neither a terminal nor
//! `--host-key` nothing is pinned and the unlock is refused. A key that differs from the pinned
//! one is always refused: this module never replaces a pin by itself.

use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};

use crate::error::{Result, ToolError};
use crate::identity::fingerprint;
use crate::ssh_agent::ed25519_blob;

/// What a pinned-key check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pin {
    Matches,
    Unknown,
    Differs([u8; 32]),
}

pub fn openssh_line(public: &[u8; 32]) -> String {
    format!(
        "ssh-ed25519 {}",
        Base64::encode_string(&ed25519_blob(public))
    )
}

/// Parses `ssh-ed25519 AAAA... [comment]`, or reads it from a file when `s` names one.
pub fn parse_key(s: &str) -> Option<[u8; 32]> {
    let text;
    let s = if Path::new(s).is_file() {
        text = fs::read_to_string(s).ok()?;
        text.as_str()
    } else {
        s
    };
    let mut w = s.split_whitespace();
    if w.next()? != "ssh-ed25519" {
        return None;
    }
    let blob = Base64::decode_vec(w.next()?).ok()?;
    let public: [u8; 32] = blob.get(19..)?.try_into().ok()?;
    (ed25519_blob(&public) == blob).then_some(public)
}

pub struct KnownHosts {
    path: PathBuf,
}

impl KnownHosts {
    pub fn new(path: PathBuf) -> KnownHosts {
        KnownHosts { path }
    }

    pub fn check(&self, host_id: &str, public: &[u8; 32]) -> Pin {
        let text = fs::read_to_string(&self.path).unwrap_or_default();
        let mut found = None;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((id, key)) = line.split_once(char::is_whitespace) else {
                continue;
            };
            if id != host_id {
                continue;
            }
            match parse_key(key.trim()) {
                Some(k) if &k == public => return Pin::Matches,
                Some(k) => found = Some(k),
                None => {}
            }
        }
        match found {
            Some(k) => Pin::Differs(k),
            None => Pin::Unknown,
        }
    }

    pub fn add(&self, host_id: &str, public: &[u8; 32]) -> Result<()> {
        let err = |error: std::io::Error| ToolError::WriteKnownHosts {
            path: self.path.clone(),
            error,
        };
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        writeln!(f, "{host_id} {}", openssh_line(public)).map_err(err)
    }

    /// The refusal for a host whose key differs from its pin (the one place that names the fix).
    pub fn changed(&self, host_id: &str, pinned: [u8; 32], presented: &[u8; 32]) -> ToolError {
        ToolError::HostKeyChanged {
            host_id: host_id.into(),
            pinned,
            presented: *presented,
            known_hosts: self.path.clone(),
        }
    }

    /// The whole pinning decision for a challenge from `host_id` signed by `public`.
    /// `given` is `--host-key`; `ask` says whether a terminal may be asked.
    pub fn verify(&self, host_id: &str, public: &[u8; 32], given: Option<&[u8; 32]>) -> Result<()> {
        if let Some(g) = given {
            if g != public {
                return Err(ToolError::NotTheGivenHostKey {
                    presented: Some((host_id.into(), *public)),
                });
            }
        }
        match self.check(host_id, public) {
            Pin::Matches => Ok(()),
            Pin::Differs(pinned) => Err(self.changed(host_id, pinned, public)),
            Pin::Unknown if given.is_some() => self.add(host_id, public),
            Pin::Unknown => {
                if ask_yes(&format!(
                    "host {host_id} is not pinned yet; its host key is {}\n\
                     Pin it and continue? [y/N] ",
                    fingerprint(public)
                ))? {
                    self.add(host_id, public)
                } else {
                    Err(ToolError::NotPinned {
                        host_id: host_id.into(),
                        key: *public,
                    })
                }
            }
        }
    }
}

/// Asks a yes/no question on the controlling terminal; `false` without one.
fn ask_yes(question: &str) -> Result<bool> {
    let tty = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    let Ok(mut tty) = tty else {
        return Ok(false);
    };
    if !tty.is_terminal() {
        return Ok(false);
    }
    let _ = tty.write_all(question.as_bytes());
    let mut line = String::new();
    std::io::BufReader::new(&tty)
        .read_line(&mut line)
        .map_err(ToolError::ReadAnswer)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    #[test]
    fn pins_are_checked_per_host_id() {
        let dir = std::env::temp_dir().join(format!("tessera-kh-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let kh = KnownHosts::new(dir.join("known_hosts"));
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(kh.check("web1", &a), Pin::Unknown);
        kh.add("web1", &a).unwrap();
        assert_eq!(kh.check("web1", &a), Pin::Matches);
        assert_eq!(kh.check("web1", &b), Pin::Differs(a));
        assert_eq!(kh.check("web2", &b), Pin::Unknown);
        // --host-key pins a new host; a mismatch is refused with the host-key exit code.
        kh.verify("web2", &b, Some(&b)).unwrap();
        assert_eq!(kh.check("web2", &b), Pin::Matches);
        assert_eq!(
            kh.verify("web1", &b, Some(&b)).unwrap_err().exit(),
            ExitCode::HostKey
        );
        assert_eq!(
            kh.verify("web3", &a, Some(&b)).unwrap_err().exit(),
            ExitCode::HostKey
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn key_lines_parse() {
        let k = [5u8; 32];
        assert_eq!(parse_key(&openssh_line(&k)), Some(k));
        assert_eq!(
            parse_key(&format!("{} tessera-host", openssh_line(&k))),
            Some(k)
        );
        assert_eq!(parse_key("ssh-rsa AAAA"), None);
        assert_eq!(parse_key("ssh-ed25519 !!"), None);
    }
}
