//! Where tessera keeps its files: `$XDG_CONFIG_HOME/tessera/` (default `~/.config/tessera/`).
//!
//! Only computes paths; creating folders is left to the writer that needs one.

use std::path::PathBuf;

use crate::error::{Result, ToolError};

/// `tessera_conf::layout::config_dir`, or the error that says HOME is missing.
fn tessera_dir() -> Result<PathBuf> {
    match tessera_conf::layout::config_dir() {
        Some(d) => Ok(d),
        // Only when HOME is unset too: home() says so.
        None => home(),
    }
}

pub fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or(ToolError::NoHome)
}

pub fn default_identity() -> Result<PathBuf> {
    Ok(tessera_dir()?.join("id_ed25519"))
}

pub fn known_hosts() -> Result<PathBuf> {
    Ok(tessera_dir()?.join(tessera_conf::layout::KNOWN_HOSTS_FILE))
}
