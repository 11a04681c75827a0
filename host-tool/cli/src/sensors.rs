//! `tessera sensors ...`: runs the `tessera-sensors` binary with the same arguments, git-style,
//! so this binary (which reads the admin's key) links no hidraw ioctls and no HTTP server.
//!
//! It looks beside the running `tessera` first (a build tree, /usr/bin), then on PATH. It passes the
//! arguments and the environment without `SSH_AUTH_SOCK`; the sensors binary keeps its own exit
//! codes.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use argh::FromArgs;

use crate::error::ToolError;

/// The binary `tessera sensors` runs.
pub const BINARY: &str = "tessera-sensors";

/// read UPSes and thermometers (runs tessera-sensors; `tessera sensors --help` lists its options)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sensors")]
pub struct Sensors {
    /// the arguments for tessera-sensors
    #[argh(positional, greedy)]
    pub args: Vec<String>,
}

/// Replaces this process with `tessera-sensors ARGS`; returns only if that cannot start.
pub fn exec(args: &[String]) -> ToolError {
    let Some(binary) = find() else {
        return ToolError::SensorsMissing;
    };
    // The exporter needs no key material: it does not get the admin's ssh-agent either.
    let error = Command::new(&binary)
        .arg0("tessera sensors")
        .args(args)
        .env_remove("SSH_AUTH_SOCK")
        .exec();
    ToolError::RunSensors {
        path: binary,
        error,
    }
}

fn find() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(BINARY)));
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(BINARY));
    beside.into_iter().chain(on_path).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The arguments for `tessera-sensors` when the command line is `tessera sensors ...` or
/// `tessera help sensors`; `None` for every other verb.
pub fn wanted(rest: &[&str]) -> Option<Vec<String>> {
    match rest {
        ["sensors", args @ ..] => Some(args.iter().map(|a| a.to_string()).collect()),
        ["help", "sensors"] => Some(vec!["--help".into()]),
        _ => None,
    }
}
