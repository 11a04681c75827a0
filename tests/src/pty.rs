//! A pseudo-terminal standing in for the USB serial adapter an admin plugs into the server: the host
//! tool opens the pty's slave (`/dev/pts/N`) like `/dev/ttyUSB0`, and a bridge copies bytes between
//! the pty master and the guest's serial socket both ways (the console thread keeps its transcript).
//! It must never block the console thread: when nobody reads the slave, console bytes are dropped
//! from the pty side, never from the transcript.

use crate::error::{Error, Result};
use crate::qemu::Machine;
use rustix::fs::OFlags;
use rustix::pty::OpenptFlags;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct PtyBridge<'m> {
    pub path: PathBuf,
    machine: &'m Machine,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _slave: OwnedFd,
}

fn raw(fd: impl AsFd) -> Result<()> {
    let mut t = rustix::termios::tcgetattr(&fd).map_err(|e| Error::io("tcgetattr")(e.into()))?;
    t.make_raw();
    rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &t)
        .map_err(|e| Error::io("tcsetattr")(e.into()))
}

impl<'m> PtyBridge<'m> {
    pub fn attach(machine: &'m Machine) -> Result<PtyBridge<'m>> {
        let e = |what: &'static str| move |err: rustix::io::Errno| Error::io(what)(err.into());
        let master =
            rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).map_err(e("openpt"))?;
        rustix::pty::grantpt(&master).map_err(e("grantpt"))?;
        rustix::pty::unlockpt(&master).map_err(e("unlockpt"))?;
        let name = rustix::pty::ptsname(&master, Vec::new()).map_err(e("ptsname"))?;
        let path = PathBuf::from(name.to_string_lossy().into_owned());
        // Hold the slave open and raw from the start: otherwise the line discipline would echo console
        // output straight back into the guest before the host tool sets its own modes.
        let slave = rustix::fs::open(
            &path,
            OFlags::RDWR | OFlags::NOCTTY,
            rustix::fs::Mode::empty(),
        )
        .map_err(e("opening the pty slave"))?;
        raw(&slave)?;
        rustix::fs::fcntl_setfl(&master, OFlags::NONBLOCK).map_err(e("O_NONBLOCK"))?;
        let master = Arc::new(master);
        machine.set_tap(Some(master.clone()));
        let mut to_guest = machine.writer()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while !stop2.load(Ordering::Relaxed) {
                let mut fds = [rustix::event::PollFd::new(
                    &*master,
                    rustix::event::PollFlags::IN,
                )];
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 100_000_000,
                };
                if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) == 0 {
                    continue;
                }
                match rustix::io::read(&*master, &mut buf) {
                    Ok(0) => std::thread::sleep(Duration::from_millis(50)),
                    Ok(n) => {
                        if to_guest.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Ok(PtyBridge {
            path,
            machine,
            stop,
            thread: Some(thread),
            _slave: slave,
        })
    }
}

impl Drop for PtyBridge<'_> {
    fn drop(&mut self) {
        self.machine.set_tap(None);
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
