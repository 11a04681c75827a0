//! The exit codes of `tessera`, one table for every verb, stable for scripts.
//!
//! `tessera --help` prints them from the `error_code` lines on the top-level command in main.rs;
//! a test there checks that those lines and this enum list the same codes. `tessera sensors` runs
//! another binary, which has its own table (`tessera sensors --help`).

/// How `tessera` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Every requested volume is unlocked, or the command did its job.
    Ok = 0,
    /// Anything not listed below: local files, I/O, a broken agent answer, a failed flash.
    Other = 1,
    /// The command line was wrong (every verb, `flash` and `boards` included).
    Usage = 2,
    /// No agent answered (connection refused, timed out, no frame on the serial line).
    Unreachable = 3,
    /// The host key differs from the pinned one, or it is not pinned and pinning was refused.
    HostKey = 4,
    /// The agent refused the token (unknown admin key, stale boot, wrong host, bad signature).
    Refused = 5,
    /// At least one volume refused its secret.
    WrongSecret = 6,
}

impl ExitCode {
    /// Every code, in order.
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Ok,
        ExitCode::Other,
        ExitCode::Usage,
        ExitCode::Unreachable,
        ExitCode::HostKey,
        ExitCode::Refused,
        ExitCode::WrongSecret,
    ];

    /// The number the process exits with.
    pub fn number(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.number())
    }
}
