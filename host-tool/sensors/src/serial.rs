//! A serial port in raw mode with timed reads, for USB-serial bridges (Elitech's CP210x/CH340).
//!
//! Opened only when the admin names the port: probing ttys could disturb a serial console.
//! Every read waits with poll(2) and a deadline, so a silent device never hangs the caller.

use crate::error::SensorError;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::termios::{self, OptionalActions, QueueSelector};
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits until `fd` is readable or `timeout` passes.
pub fn wait_readable(fd: impl AsFd, timeout: Duration) -> Result<(), SensorError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SensorError::Timeout {
                device: String::new(),
                what: "data".into(),
            });
        }
        let ts = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(SensorError::from_io("", &e.into())),
        }
    }
}

/// An open serial port.
pub struct Port {
    file: File,
    path: String,
}

impl Port {
    /// Opens `path` without becoming its controlling terminal, raw 8N1 at `baud`.
    pub fn open(path: &Path, baud: u32) -> Result<Self, SensorError> {
        let shown = path.display().to_string();
        let flags = (rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::NONBLOCK).bits() as i32;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(path)
            .map_err(|e| SensorError::from_io(&shown, &e))?;
        let err = |e: rustix::io::Errno| SensorError::from_io(&shown, &e.into());
        let mut t = termios::tcgetattr(&file).map_err(|e| match e {
            rustix::io::Errno::NOTTY => SensorError::WrongDevice {
                device: shown.clone(),
                detail: "not a serial port".into(),
            },
            other => err(other),
        })?;
        t.make_raw();
        t.set_speed(baud).map_err(err)?;
        termios::tcsetattr(&file, OptionalActions::Now, &t).map_err(err)?;
        let _ = termios::tcflush(&file, QueueSelector::IFlush);
        Ok(Self { file, path: shown })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn write_all(&self, mut data: &[u8]) -> Result<(), SensorError> {
        while !data.is_empty() {
            match rustix::io::write(&self.file, data) {
                Ok(n) => data = &data[n..],
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(SensorError::from_io(&self.path, &e.into())),
            }
        }
        Ok(())
    }

    /// Reads exactly `n` bytes or fails after `timeout` with what arrived so far counted.
    pub fn read_exact(&self, n: usize, timeout: Duration) -> Result<Vec<u8>, SensorError> {
        let deadline = Instant::now() + timeout;
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            let left = deadline.saturating_duration_since(Instant::now());
            wait_readable(&self.file, left).map_err(|e| match e {
                SensorError::Timeout { .. } => SensorError::Timeout {
                    device: self.path.clone(),
                    what: format!("a {n}-byte reply ({got} bytes arrived)"),
                },
                other => other,
            })?;
            match rustix::io::read(&self.file, &mut out[got..]) {
                Ok(0) => {
                    return Err(SensorError::Unplugged {
                        device: self.path.clone(),
                    })
                }
                Ok(k) => got += k,
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(SensorError::from_io(&self.path, &e.into())),
            }
        }
        Ok(out)
    }
}
