//! Why a scenario could not run or failed: one enum, each variant with what happened and what to do.
//! It must never swallow the serial transcript: a boot failure is only debuggable with it.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// A host tool or file the harness needs is not there.
    Missing { what: String, hint: String },
    /// A command ran and failed.
    Command {
        cmd: String,
        status: String,
        output: String,
    },
    /// Waiting for something on the console or from a process took too long.
    Timeout {
        what: String,
        secs: u64,
        transcript_tail: String,
    },
    /// Reading or writing a file or socket failed.
    Io { what: String, err: std::io::Error },
    /// The guest did something a scenario says it must not.
    Unexpected {
        what: String,
        transcript_tail: String,
    },
}

impl Error {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |err| Error::Io { what, err }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing { what, hint } => write!(f, "{what} is missing: {hint}"),
            Error::Command { cmd, status, output } => {
                write!(f, "`{cmd}` failed ({status}); its output ends with:\n{output}")
            }
            Error::Timeout { what, secs, transcript_tail } => write!(
                f,
                "timed out after {secs} s waiting for {what}; the console ends with:\n{transcript_tail}"
            ),
            Error::Io { what, err } => write!(f, "{what}: {err}"),
            Error::Unexpected { what, transcript_tail } => {
                write!(f, "{what}; the console ends with:\n{transcript_tail}")
            }
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
