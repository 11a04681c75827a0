//! Every way `tessera` can fail, each with one line saying what went wrong and what to do next,
//! and the exit code scripts can test (listed in `tessera --help` and README.md).
//!
//! Errors are built here and nowhere else, so the wording and the exit codes stay consistent.
//! No error text may contain a secret.

use std::fmt;

/// Exit codes, stable for scripts.
pub mod code {
    pub const OK: u8 = 0;
    /// Anything not listed below (local files, I/O, a broken agent answer).
    pub const OTHER: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// No agent answered (connection refused, timed out, no frame on the serial line).
    pub const UNREACHABLE: u8 = 3;
    /// The host key differs from the pinned one, or it is not pinned and pinning was refused.
    pub const HOST_KEY: u8 = 4;
    /// The agent refused the token (unknown admin key, stale boot, wrong host, bad signature).
    pub const REFUSED: u8 = 5;
    /// At least one volume refused its secret.
    pub const WRONG_SECRET: u8 = 6;
}

/// The exit code table for `--help` and README.md.
pub const EXIT_CODES: &str = "\
exit codes:
  0  every requested volume is unlocked (or: command done)
  1  other error (files, I/O, broken answer)
  2  usage error
  3  agent unreachable (no TCP connection, no answer on the serial line)
  4  host key mismatch, or unpinned host key not accepted
  5  token refused by the agent (unknown admin key, stale boot, wrong host)
  6  wrong secret for at least one volume";

#[derive(Debug)]
pub struct Error {
    pub code: u8,
    pub what: String,
    pub hint: String,
}

impl Error {
    pub fn new(code: u8, what: impl Into<String>, hint: impl Into<String>) -> Error {
        Error {
            code,
            what: what.into(),
            hint: hint.into(),
        }
    }
    pub fn other(what: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::new(code::OTHER, what, hint)
    }
    pub fn usage(what: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::new(code::USAGE, what, hint)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tessera: {}; {}", self.what, self.hint)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
