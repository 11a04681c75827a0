//! Host key pinning: `known_hosts` lines `HOST-ID ssh-ed25519 AAAA...` in the config folder.
//!
//! Trust on first use, like ssh: the first challenge from a host id shows the key's fingerprint
//! and asks on the terminal; `--host-key` pins without asking; with neither a terminal nor
//! `--host-key` nothing is pinned and the unlock is refused. A key that differs from the pinned
//! one is always refused: this module never replaces a pin (the policy for every writer is in
//! `tessera_conf::known_hosts`; the file itself is read and written there).

use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use tessera_conf::key_lines::parse_ed25519;
pub use tessera_conf::known_hosts::{KnownHosts, Pin};
use tessera_core::openssh::fingerprint;

use crate::error::{Result, ToolError};

/// Parses `ssh-ed25519 AAAA... [comment]`, or reads it from a file when `s` names one.
pub fn parse_key(s: &str) -> Option<[u8; 32]> {
    let text;
    let s = if Path::new(s).is_file() {
        text = fs::read_to_string(s).ok()?;
        text.as_str()
    } else {
        s
    };
    let (key, _) = parse_ed25519(s.lines().next()?).ok()??;
    Some(key)
}

/// Appends a pin for an unknown host (the policy in `tessera_conf::known_hosts`: never replace).
fn add(kh: &KnownHosts, host_id: &str, public: &[u8; 32]) -> Result<()> {
    kh.append(host_id, public)
        .map_err(|error| ToolError::WriteKnownHosts {
            path: kh.path().to_path_buf(),
            error,
        })
}

/// The refusal for a host whose key differs from its pin (the one place that names the fix).
pub fn changed(
    kh: &KnownHosts,
    host_id: &str,
    pinned: [u8; 32],
    presented: &[u8; 32],
) -> ToolError {
    ToolError::HostKeyChanged {
        host_id: host_id.into(),
        pinned,
        presented: *presented,
        known_hosts: kh.path().to_path_buf(),
    }
}

/// The whole pinning decision for a challenge from `host_id` signed by `public`.
/// `given` is `--host-key`; without it a terminal may be asked.
pub fn verify(
    kh: &KnownHosts,
    host_id: &str,
    public: &[u8; 32],
    given: Option<&[u8; 32]>,
) -> Result<()> {
    if let Some(g) = given {
        if g != public {
            return Err(ToolError::NotTheGivenHostKey {
                presented: Some((host_id.into(), *public)),
            });
        }
    }
    match kh.check(host_id, public) {
        Pin::Matches => Ok(()),
        Pin::Differs(pinned) => Err(changed(kh, host_id, pinned, public)),
        Pin::Unknown if given.is_some() => add(kh, host_id, public),
        Pin::Unknown => {
            if ask_yes(&format!(
                "host {host_id} is not pinned yet; its host key is {}\n\
                 Pin it and continue? [y/N] ",
                fingerprint(public)
            ))? {
                add(kh, host_id, public)
            } else {
                Err(ToolError::NotPinned {
                    host_id: host_id.into(),
                    key: *public,
                })
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
    use tessera_conf::key_lines::openssh_line;

    #[test]
    fn host_key_given_pins_a_new_host_and_a_mismatch_is_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-kh-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let kh = KnownHosts::new(dir.join("known_hosts"));
        let (a, b) = ([1u8; 32], [2u8; 32]);
        add(&kh, "web1", &a).unwrap();
        verify(&kh, "web2", &b, Some(&b)).unwrap();
        assert_eq!(kh.check("web2", &b), Pin::Matches);
        assert_eq!(
            verify(&kh, "web1", &b, Some(&b)).unwrap_err().exit(),
            ExitCode::HostKey
        );
        assert_eq!(
            verify(&kh, "web3", &a, Some(&b)).unwrap_err().exit(),
            ExitCode::HostKey
        );
        assert_eq!(kh.check("web1", &a), Pin::Matches, "never replaced");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn key_lines_parse() {
        let k = [5u8; 32];
        assert_eq!(parse_key(&openssh_line(&k, "")), Some(k));
        assert_eq!(parse_key(&openssh_line(&k, "tessera-host")), Some(k));
        assert_eq!(parse_key("ssh-rsa AAAA"), None);
        assert_eq!(parse_key("ssh-ed25519 !!"), None);
    }
}
