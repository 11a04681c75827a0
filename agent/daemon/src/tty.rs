//! Opens the serial console tty in raw mode at a given baud rate (rustix termios, no libc wrapper).
//!
//! Raw because the agent reads frames and typed keys byte by byte and does its own (non-)echo;
//! the previous settings are put back on drop so that a console handed back to the boot scripts
//! behaves as before. It never blocks: the fd is non-blocking for the async reactor.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::termios::{self, OptionalActions, Termios};

pub struct Tty {
    file: File,
    saved: Option<Termios>,
}

impl Tty {
    pub fn open(path: &Path, baud: u32) -> io::Result<Tty> {
        let fd: OwnedFd = rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let saved = termios::tcgetattr(&fd)?;
        let mut t = saved.clone();
        t.make_raw();
        // Keep the line usable as a console: 8N1, receiver on, no modem-control hang-ups.
        t.control_modes |= termios::ControlModes::CREAD | termios::ControlModes::CLOCAL;
        t.set_speed(baud)?;
        termios::tcsetattr(&fd, OptionalActions::Now, &t)?;
        Ok(Tty {
            file: File::from(fd),
            saved: Some(saved),
        })
    }

    pub fn try_clone(&self) -> io::Result<File> {
        self.file.try_clone()
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(self.file.as_fd(), OptionalActions::Drain, &saved);
        }
    }
}
