//! Where tessera keeps its files: `$XDG_CONFIG_HOME/tessera/` (default `~/.config/tessera/`).
//!
//! Only computes paths; creating folders is left to the writer that needs one.

use std::path::PathBuf;

use crate::error::{Result, ToolError};

pub fn config_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("tessera"));
    }
    Ok(home()?.join(".config").join("tessera"))
}

pub fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or(ToolError::NoHome)
}

pub fn default_identity() -> Result<PathBuf> {
    Ok(config_dir()?.join("id_ed25519"))
}

pub fn known_hosts() -> Result<PathBuf> {
    Ok(config_dir()?.join("known_hosts"))
}
