//! Where each volume's secret comes from: a no-echo prompt on the terminal, `--secret-command`
//! (e.g. `pass show luks/%`), or `--secret-stdin` (one line per waiting volume, in the agent's order).
//!
//! Secrets live in `Zeroizing` buffers, are stripped of exactly one line ending, and never appear in
//! an error message, a log line or a command line (the command gets the volume name in its env).

use std::io::BufRead;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::error::{Result, ToolError};

/// A secret as the admin entered it (typed, piped or printed by a command), wiped on drop.
pub type Entered = Zeroizing<Vec<u8>>;

pub enum Source {
    Prompt,
    Command(String),
    Stdin(Box<dyn BufRead>),
}

impl Source {
    /// The secret for `volume` on `host`.
    pub fn get(&mut self, host: &str, volume: &str) -> Result<Entered> {
        let secret = match self {
            Source::Prompt => crate::prompt::secret(&format!("Secret for {volume} on {host}: "))
                .map_err(|error| ToolError::NoPrompt {
                    volume: volume.into(),
                    error,
                })?,
            Source::Command(cmd) => {
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(&*cmd)
                    .env("TESSERA_VOLUME", volume)
                    .env("TESSERA_HOST", host)
                    .stdin(Stdio::null())
                    .stderr(Stdio::inherit())
                    .output()
                    .map_err(ToolError::RunSecretCommand)?;
                let stdout = Zeroizing::new(out.stdout);
                if !out.status.success() {
                    return Err(ToolError::SecretCommandFailed {
                        volume: volume.into(),
                        status: out.status,
                    });
                }
                let line = stdout.split(|&b| b == b'\n').next().unwrap_or_default();
                Zeroizing::new(strip_cr(line).to_vec())
            }
            Source::Stdin(r) => {
                let mut line = Zeroizing::new(Vec::new());
                let n = r
                    .read_until(b'\n', &mut line)
                    .map_err(ToolError::ReadStdin)?;
                if n == 0 {
                    return Err(ToolError::StdinEnded {
                        volume: volume.into(),
                    });
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                let len = strip_cr(&line).len();
                line.truncate(len);
                line
            }
        };
        if secret.is_empty() {
            return Err(ToolError::EmptySecret {
                volume: volume.into(),
            });
        }
        Ok(secret)
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_gives_one_line_per_volume() {
        let mut s = Source::Stdin(Box::new(std::io::Cursor::new(b"one\r\ntwo two\n".to_vec())));
        assert_eq!(&s.get("h", "a").unwrap()[..], b"one");
        assert_eq!(&s.get("h", "b").unwrap()[..], b"two two");
        assert_eq!(
            s.get("h", "c").unwrap_err().exit(),
            crate::exit::ExitCode::Usage
        );
    }

    #[test]
    fn command_sees_volume_and_host_and_gives_first_line() {
        let mut s =
            Source::Command("printf '%s-%s\\nrest' \"$TESSERA_HOST\" \"$TESSERA_VOLUME\"".into());
        assert_eq!(&s.get("web1", "root").unwrap()[..], b"web1-root");
        let mut f = Source::Command("exit 3".into());
        assert!(f.get("h", "v").is_err());
    }
}
