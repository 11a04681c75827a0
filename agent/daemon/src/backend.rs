//! Hands a verified secret to cryptsetup, one volume at a time (the METHOD table in docs/interfaces.md).
//!
//! The secret only ever travels on cryptsetup's stdin (`--key-file=-`), never on argv or in the
//! environment, and is never logged. Everything here blocks (cryptsetup runs the LUKS KDF), so the
//! agent calls it through `rt::off_thread`. A refused secret is reported, never retried.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::{Method, Volume};

/// What happened to one volume's secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Opened (`cryptsetup`), or verified and handed on (`test`, `keyscript`, `askpass`).
    Unlocked,
    /// cryptsetup found no key slot that this secret opens.
    WrongSecret,
    /// Someone else unlocked it already (`/dev/mapper/NAME` exists).
    NotWaiting,
    /// Anything else; the text is for the log and never contains the secret.
    Error(String),
}

/// cryptsetup's exit code for "no key available with this passphrase" (cryptsetup(8), RETURN CODES).
const EXIT_NO_KEY: i32 = 2;
/// cryptsetup's exit code for "device already exists or device is busy".
const EXIT_BUSY: i32 = 5;

/// True when the volume still waits for a secret: for the methods that end in a device-mapper
/// device, that device must not exist yet. `test` volumes always wait until this agent unlocks them.
pub fn is_waiting(v: &Volume) -> bool {
    match v.method {
        Method::Test => true,
        Method::Cryptsetup | Method::Keyscript | Method::Askpass => {
            !Path::new("/dev/mapper").join(&v.name).exists()
        }
    }
}

/// Checks `secret` against the volume's LUKS header, and opens it when the method says so.
/// The FIFO hand-off of `keyscript`/`askpass` happens afterwards in `handoff`.
pub fn apply(v: &Volume, secret: &[u8]) -> Attempt {
    if !is_waiting(v) {
        return Attempt::NotWaiting;
    }
    let dev = v.device.as_os_str();
    let mut cmd = Command::new("cryptsetup");
    match v.method {
        Method::Cryptsetup => cmd.arg("open").arg(dev).arg(&v.name).arg("--key-file=-"),
        Method::Test | Method::Keyscript | Method::Askpass => cmd
            .arg("open")
            .arg("--test-passphrase")
            .arg(dev)
            .arg("--key-file=-"),
    };
    let mut child = match cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Attempt::Error(format!("cannot run cryptsetup: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A write error here means cryptsetup exited early; its exit code says why.
        let _ = stdin.write_all(secret);
    }
    match child.wait() {
        Ok(s) if s.success() => Attempt::Unlocked,
        Ok(s) if s.code() == Some(EXIT_NO_KEY) => Attempt::WrongSecret,
        Ok(s) if s.code() == Some(EXIT_BUSY) && !is_waiting(v) => Attempt::NotWaiting,
        Ok(s) => Attempt::Error(format!("cryptsetup exited with {s}")),
        Err(e) => Attempt::Error(format!("waiting for cryptsetup: {e}")),
    }
}
