//! The admin's choices for one `tessera flash`, shared by the three modes, and the decisions that
//! do not depend on how files reach the target: which admin keys, which host key, which host id.
//!
//! Nothing here writes: the modes do, after every check passed.

use crate::board::Board;
use crate::error::{Error, Result};
use crate::keys::{self, HostKey};
use crate::options::Options;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// One run's options with its board profile resolved: what the three modes read.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    pub board: Board,
    pub options: &'a Options,
}

/// What a mode did (or, with `--dry-run`, would do).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One line per change on the target.
    pub actions: Vec<String>,
    /// Warnings and next steps.
    pub notes: Vec<String>,
    pub host_id: String,
    pub host_public: [u8; 32],
    /// The pin of this host that `--new-host-key` replaced (the tool says so on stderr).
    pub replaced_pin: Option<[u8; 32]>,
}

/// The admin keys to install: the explicit ones when any is given, else the admin's own key plus
/// the keys the target already trusts (`defaults`: dropbear's authorized_keys, an earlier tessera
/// install). Refuses to install none.
pub fn admin_keys(
    inputs: &Inputs<'_>,
    defaults: &[(String, String)],
    notes: &mut Vec<String>,
) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for a in &inputs.options.admin_keys {
        keys::merge(&mut keys, keys::admin_keys_from_arg(a)?);
    }
    if let Some(f) = &inputs.options.authorized_keys {
        let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, "read", e))?;
        let (found, skipped) = keys::ed25519_lines(&f.display().to_string(), &text)?;
        if skipped > 0 {
            notes.push(format!(
                "{}: skipped {skipped} non-ed25519 key(s)",
                f.display()
            ));
        }
        keys::merge(&mut keys, found);
    }
    if keys.is_empty() {
        if let Some((path, own)) = keys::own_public_key() {
            notes.push(format!("admin key from {}", path.display()));
            keys::merge(&mut keys, own);
        }
        for (name, text) in defaults {
            let (found, skipped) = keys::ed25519_lines(name, text)?;
            if !found.is_empty() {
                notes.push(format!("{} admin key(s) from {name}", found.len()));
            }
            if skipped > 0 {
                notes.push(format!("{name}: skipped {skipped} non-ed25519 key(s)"));
            }
            keys::merge(&mut keys, found);
        }
    }
    if keys.is_empty() {
        return Err(Error::Key {
            source_name: "admin keys".into(),
            problem: "none found (no --admin-key, no ~/.config/tessera/id_ed25519.pub or ~/.ssh/id_ed25519.pub)".into(),
        });
    }
    Ok(keys)
}

/// The host key: `--host-key FILE`, else the target's existing one (so pins stay valid), else new.
/// Returns the key and whether it must be written to the target. A key that differs from the
/// admin's pin for `host_id` is refused here, before a mode writes anything, unless
/// `--new-host-key` (or `--no-pin`) was given: the policy of `tessera_conf::known_hosts`.
pub fn host_key(
    inputs: &Inputs<'_>,
    host_id: &str,
    existing: Option<(&str, &[u8])>,
    notes: &mut Vec<String>,
) -> Result<(HostKey, bool)> {
    let (key, write) = choose_host_key(inputs, existing, notes)?;
    if inputs.options.pin {
        if let Some(dir) = tessera_conf::layout::config_dir() {
            let kh = dir.join(tessera_conf::layout::KNOWN_HOSTS_FILE);
            keys::check_pin(&kh, host_id, &key.public, inputs.options.new_host_key)?;
        }
    }
    Ok((key, write))
}

fn choose_host_key(
    inputs: &Inputs<'_>,
    existing: Option<(&str, &[u8])>,
    notes: &mut Vec<String>,
) -> Result<(HostKey, bool)> {
    if let Some(f) = &inputs.options.host_key {
        let bytes = Zeroizing::new(std::fs::read(f).map_err(|e| Error::io(f, "read", e))?);
        return Ok((
            HostKey::from_seed_bytes(&f.display().to_string(), &bytes)?,
            true,
        ));
    }
    if let (Some((name, bytes)), false) = (existing, inputs.options.new_host_key) {
        let k = HostKey::from_seed_bytes(name, bytes)?;
        notes.push(format!(
            "kept the host key in {name} (--new-host-key makes a new one)"
        ));
        return Ok((k, false));
    }
    Ok((HostKey::generate()?, true))
}

/// The host id: `--host-id`, else `fallback` (the target's hostname or earlier config).
pub fn host_id(inputs: &Inputs<'_>, fallback: Option<String>) -> Result<String> {
    inputs
        .options
        .host_id
        .clone()
        .or(fallback)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Usage {
            problem: "no host id: the target names none; pass --host-id NAME".into(),
        })
}

/// The `host-id` of an existing agent.conf.
pub fn conf_host_id(conf: &str) -> Option<String> {
    conf.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("host-id")).then(|| w.next().map(str::to_string))?
    })
}

/// Pins the host key in `known_hosts` unless `--dry-run` or `--no-pin` (policy in
/// `tessera_conf::known_hosts`: a differing pin is replaced only with `replace`, i.e.
/// `--new-host-key`); says what it did. `Some(old)` when a pin of `old` was replaced: the caller
/// tells the admin on stderr.
pub fn pin(
    report: &mut Report,
    dry_run: bool,
    no_pin: bool,
    replace: bool,
) -> Result<Option<[u8; 32]>> {
    let fp = keys::fingerprint(&report.host_public);
    if no_pin {
        report.notes.push(format!(
            "host key of {} is {fp} (not pinned: --no-pin)",
            report.host_id
        ));
        return Ok(None);
    }
    let Some(dir) = tessera_conf::layout::config_dir() else {
        report.notes.push(format!(
            "HOME is not set: pin {fp} for {} by hand",
            report.host_id
        ));
        return Ok(None);
    };
    let kh = dir.join(tessera_conf::layout::KNOWN_HOSTS_FILE);
    report
        .actions
        .push(format!("pin {} {fp} in {}", report.host_id, kh.display()));
    if dry_run {
        return Ok(None);
    }
    match keys::pin(&kh, &report.host_id, &report.host_public, replace)? {
        keys::Pinned::Replaced { old } => Ok(Some(old)),
        keys::Pinned::Added | keys::Pinned::Kept => Ok(None),
    }
}

/// `dir` joined with an absolute target path.
pub fn under(dir: &Path, abs: &str) -> PathBuf {
    dir.join(abs.trim_start_matches('/'))
}
