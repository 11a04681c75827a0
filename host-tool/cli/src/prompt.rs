//! Asking for a secret on the controlling terminal without echo (rustix termios on /dev/tty).
//!
//! Echo is switched off *before* the prompt is printed, so that even input typed or pasted the
//! instant the prompt appears is never shown; the terminal's settings are restored on every path.
//! The answer is returned in a zeroizing buffer without its line ending.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};

use rustix::termios::{self, LocalModes, OptionalActions};
use zeroize::Zeroizing;

/// Longest answer kept (cryptsetup's own limit for a typed passphrase is 512).
const MAX: usize = 4096;

struct Restore<'a>(&'a File, termios::Termios);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.0, OptionalActions::Now, &self.1);
    }
}

pub fn secret(prompt: &str) -> io::Result<Zeroizing<Vec<u8>>> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let saved = termios::tcgetattr(&tty)?;
    let mut quiet = saved.clone();
    quiet.local_modes -= LocalModes::ECHO;
    quiet.local_modes |= LocalModes::ECHONL;
    termios::tcsetattr(&tty, OptionalActions::Flush, &quiet)?;
    let restore = Restore(&tty, saved);
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    loop {
        match (&tty).read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                if line.len() < MAX {
                    line.push(byte[0]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    drop(restore);
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}
