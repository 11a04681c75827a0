//! The agent-address arguments that `unlock` and `status` share: HOST or `--serial DEV` (with
//! `--baud`), `--host-key`, `--wait` and `--json`.
//!
//! argh has no `flatten`, so each verb declares the fields (with its own help text) and hands
//! them to [`AgentArgs::parse`], which holds the one rule for checking them. It never connects.

use crate::error::{Result, ToolError};
use crate::known_hosts::parse_key;
use crate::link::Target;

/// The checked agent address of one `unlock` or `status` run.
pub struct AgentArgs {
    pub target: Target,
    /// `--host-key`: the key to expect (and, for `unlock`, to pin).
    pub host_key: Option<[u8; 32]>,
    /// `--wait SECONDS`: keep trying this long.
    pub wait: Option<u64>,
    /// `--json`: machine output on stdout, no progress on stderr.
    pub json: bool,
}

impl AgentArgs {
    /// Checks the shared arguments as argh parsed them.
    pub fn parse(
        host: Option<String>,
        serial: Option<String>,
        baud: u32,
        host_key: Option<&str>,
        wait: Option<u64>,
        json: bool,
    ) -> Result<AgentArgs> {
        let target = match (host, serial) {
            (Some(h), None) => Target::Tcp(h),
            (None, Some(device)) => Target::Serial { device, baud },
            (Some(_), Some(_)) => return Err(ToolError::BothTargets),
            (None, None) => return Err(ToolError::NoTarget),
        };
        let host_key = host_key
            .map(|s| parse_key(s).ok_or_else(|| ToolError::BadHostKeyArg(s.into())))
            .transpose()?;
        Ok(AgentArgs {
            target,
            host_key,
            wait,
            json,
        })
    }
}
