//! One qemu (TCG) machine per scenario: kernel + initrd + raw disks, the serial console on a unix
//! socket that a thread drains into a transcript (a console nobody reads stalls the guest), user-mode
//! networking with the agent's port 7743 forwarded to a free loopback port, and waiting/typing helpers.
//! It must never outlive its test: `Drop` kills qemu, and at most `TESSERA_E2E_JOBS` (default 2)
//! machines run at once so that parallel tests do not starve each other's TCG threads.

use crate::chroot::{Arch, QemuArch};
use crate::error::{Error, Result};
use crate::host::tail;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The TCP port the agent listens on inside the guest (docs/interfaces.md).
pub const AGENT_PORT: u16 = 7743;
/// slirp's fixed guest address; a static `ip=` saves the 10 s klibc loses on its first DHCP round.
pub const STATIC_IP: &str = "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off";

#[derive(Clone, Debug)]
pub enum Nic {
    /// No network card at all.
    None,
    /// virtio-net on qemu user networking, guest port 7743 reachable at 127.0.0.1:`host_port`.
    User,
    /// The same, forwarding this guest TCP port instead of 7743 (dropbear's 22 in the benchmark).
    UserTo(u16),
}

#[derive(Clone, Debug)]
pub struct MachineSpec {
    pub name: String,
    pub arch: Arch,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// Kernel command line after `console=... root=... panic=-1`.
    pub append: String,
    pub disks: Vec<PathBuf>,
    pub nic: Nic,
    pub mem_mb: u32,
    pub workdir: PathBuf,
    /// Record the guest's network traffic here (qemu `filter-dump`, pcap format).
    pub pcap: Option<PathBuf>,
    /// Firmware to start instead of qemu's direct kernel boot (U-Boot's `u-boot.bin`): then
    /// `kernel`, `initrd` and `append` are not passed, the firmware finds its own on `disks`.
    pub bios: Option<PathBuf>,
}

struct Shared {
    buf: Mutex<Vec<u8>>,
    cv: Condvar,
    closed: Mutex<bool>,
    /// A pty master that also gets every console byte (see `crate::pty`), written without blocking.
    tap: Mutex<Option<Arc<OwnedFd>>>,
}

pub struct Machine {
    pub name: String,
    child: Child,
    shared: Arc<Shared>,
    writer: Mutex<UnixStream>,
    cursor: Mutex<usize>,
    start: Instant,
    /// Loopback port forwarded to the guest's 7743, when the machine has a NIC.
    pub port: Option<u16>,
    log: PathBuf,
    _slot: Slot,
}

/// Multiplies every timeout (a slow CI machine may set TESSERA_E2E_TIMEOUT_SCALE=2).
pub fn scaled(d: Duration) -> Duration {
    let f: f64 = std::env::var("TESSERA_E2E_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    d.mul_f64(f.max(0.1))
}

struct Slot;
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

impl Slot {
    fn take() -> Slot {
        let max: usize = std::env::var("TESSERA_E2E_JOBS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2)
            .max(1);
        let mut n = RUNNING.lock().unwrap();
        while *n >= max {
            n = FREED.wait(n).unwrap();
        }
        *n += 1;
        Slot
    }
}
impl Drop for Slot {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap() -= 1;
        FREED.notify_one();
    }
}

/// A loopback TCP port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("finding a free port"))?;
    Ok(l.local_addr()
        .map_err(Error::io("finding a free port"))?
        .port())
}

impl Machine {
    pub fn boot(spec: &MachineSpec) -> Result<Machine> {
        let slot = Slot::take();
        std::fs::create_dir_all(&spec.workdir).map_err(Error::io("creating the work folder"))?;
        let sock = spec.workdir.join("serial.sock");
        let _ = std::fs::remove_file(&sock);
        let console = spec.arch.console();
        let mut cmd = match spec.arch {
            Arch::Amd64 => {
                let mut c = Command::new("qemu-system-x86_64");
                c.args(["-M", "q35"]);
                c
            }
            Arch::Arm64 => {
                let mut c = Command::new("qemu-system-aarch64");
                c.args(["-M", "virt", "-cpu", "cortex-a53"]);
                c
            }
        };
        cmd.args(["-accel", "tcg", "-m", &spec.mem_mb.to_string(), "-smp", "1"]);
        cmd.args([
            "-display",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
            "-nodefaults",
        ]);
        cmd.arg("-chardev").arg(format!(
            "socket,id=ser0,path={},server=on,wait=on",
            sock.display()
        ));
        cmd.args(["-serial", "chardev:ser0"]);
        if let Some(bios) = &spec.bios {
            cmd.arg("-bios").arg(bios);
        } else {
            cmd.arg("-kernel")
                .arg(&spec.kernel)
                .arg("-initrd")
                .arg(&spec.initrd);
            cmd.arg("-append").arg(format!(
                "console={console} root=/dev/mapper/cryptroot panic=-1 {}",
                spec.append
            ));
        }
        for (i, d) in spec.disks.iter().enumerate() {
            cmd.arg("-drive").arg(format!(
                "file={},format=raw,if=none,id=d{i},cache=unsafe",
                d.display()
            ));
            cmd.arg("-device").arg(format!("virtio-blk-pci,drive=d{i}"));
        }
        let port = match spec.nic {
            Nic::None => None,
            Nic::User | Nic::UserTo(_) => {
                let guest = match spec.nic {
                    Nic::UserTo(g) => g,
                    _ => AGENT_PORT,
                };
                let p = free_port()?;
                cmd.arg("-netdev").arg(format!(
                    "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{p}-:{guest}"
                ));
                cmd.args(["-device", "virtio-net-pci,netdev=n0"]);
                if let Some(pcap) = &spec.pcap {
                    cmd.arg("-object").arg(format!(
                        "filter-dump,id=dump0,netdev=n0,file={}",
                        pcap.display()
                    ));
                }
                Some(p)
            }
        };
        let log = spec.workdir.join("console.log");
        let qemu_err = std::fs::File::create(spec.workdir.join("qemu.stderr"))
            .map_err(Error::io("qemu.stderr"))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(qemu_err)
            .spawn()
            .map_err(Error::io(format!("starting {:?}", cmd.get_program())))?;
        let start = Instant::now();
        let stream = loop {
            if let Ok(s) = UnixStream::connect(&sock) {
                break s;
            }
            if let Ok(Some(st)) = child.try_wait() {
                let err =
                    std::fs::read_to_string(spec.workdir.join("qemu.stderr")).unwrap_or_default();
                return Err(Error::Command {
                    cmd: format!("{cmd:?}"),
                    status: st.to_string(),
                    output: err,
                });
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                return Err(Error::Timeout {
                    what: "qemu's serial socket".into(),
                    secs: 30,
                    transcript_tail: String::new(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let shared = Arc::new(Shared {
            buf: Mutex::new(Vec::new()),
            cv: Condvar::new(),
            closed: Mutex::new(false),
            tap: Mutex::new(None),
        });
        let reader = stream
            .try_clone()
            .map_err(Error::io("cloning the serial socket"))?;
        let logf = std::fs::File::create(&log).map_err(Error::io("console.log"))?;
        let sh = shared.clone();
        std::thread::spawn(move || drain(reader, logf, sh));
        Ok(Machine {
            name: spec.name.clone(),
            child,
            shared,
            writer: Mutex::new(stream),
            cursor: Mutex::new(0),
            start,
            port,
            log,
            _slot: slot,
        })
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.shared.buf.lock().unwrap()).into_owned()
    }

    fn tail(&self) -> String {
        format!(
            "{}\n(full console: {})",
            tail(&self.transcript(), 30),
            self.log.display()
        )
    }

    /// Waits until `needle` appears after the cursor, then moves the cursor past it.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Result<()> {
        let timeout = scaled(timeout);
        let deadline = Instant::now() + timeout;
        let mut buf = self.shared.buf.lock().unwrap();
        loop {
            let from = *self.cursor.lock().unwrap();
            if let Some(i) = find(&buf[from.min(buf.len())..], needle.as_bytes()) {
                *self.cursor.lock().unwrap() = from + i + needle.len();
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline || *self.shared.closed.lock().unwrap() {
                drop(buf);
                let what = if now >= deadline {
                    needle.to_string()
                } else {
                    format!("{needle:?} (qemu closed the console)")
                };
                return Err(Error::Timeout {
                    what,
                    secs: timeout.as_secs(),
                    transcript_tail: self.tail(),
                });
            }
            buf = self.shared.cv.wait_timeout(buf, deadline - now).unwrap().0;
        }
    }

    /// The whole line (after the cursor) that contains `needle`, once complete.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait_for(needle, timeout)?;
        let end = *self.cursor.lock().unwrap();
        self.wait_for("\n", Duration::from_secs(10))?;
        let buf = self.shared.buf.lock().unwrap();
        let start = buf[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(0);
        let stop = *self.cursor.lock().unwrap();
        Ok(String::from_utf8_lossy(&buf[start..stop])
            .trim()
            .to_string())
    }

    /// Fails if `needle` shows up after the cursor within `window`.
    pub fn assert_absent(&self, needle: &str, window: Duration) -> Result<()> {
        let from = *self.cursor.lock().unwrap();
        let deadline = Instant::now() + window;
        let mut buf = self.shared.buf.lock().unwrap();
        loop {
            if find(&buf[from.min(buf.len())..], needle.as_bytes()).is_some() {
                drop(buf);
                return Err(Error::Unexpected {
                    what: format!("{needle:?} appeared on the console"),
                    transcript_tail: self.tail(),
                });
            }
            let now = Instant::now();
            if now >= deadline || *self.shared.closed.lock().unwrap() {
                return Ok(());
            }
            buf = self.shared.cv.wait_timeout(buf, deadline - now).unwrap().0;
        }
    }

    /// Sends bytes to the guest's console, a few at a time like a (fast) person: a serial UART's
    /// input FIFO is small and a burst would be cut.
    pub fn type_text(&self, text: &str) -> Result<()> {
        let mut w = self.writer.lock().unwrap();
        for chunk in text.as_bytes().chunks(8) {
            w.write_all(chunk)
                .map_err(Error::io("typing on the console"))?;
            std::thread::sleep(Duration::from_millis(15));
        }
        Ok(())
    }

    /// Types `text` and Enter (a carriage return, as a terminal sends it).
    pub fn type_line(&self, text: &str) -> Result<()> {
        self.type_text(&format!("{text}\r"))
    }

    /// Waits until the forwarded port sends a first byte (the agent speaks first: its challenge; an
    /// SSH server its banner). qemu's user networking accepts on the host side even when nothing
    /// listens in the guest, so only a byte proves the daemon is there.
    pub fn wait_port_answers(&self, timeout: Duration) -> Result<()> {
        let port = self.port.ok_or_else(|| Error::Missing {
            what: "a network card on this machine".into(),
            hint: "boot it with Nic::User".into(),
        })?;
        let timeout = scaled(timeout);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut b = [0u8; 1];
                if matches!(s.read(&mut b), Ok(1)) {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(Error::Timeout {
            what: format!("the guest's daemon to answer on 127.0.0.1:{port}"),
            secs: timeout.as_secs(),
            transcript_tail: self.tail(),
        })
    }

    /// Waits for the guest to power off (qemu exits by itself after `poweroff -f`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let timeout = scaled(timeout);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self
                .child
                .try_wait()
                .map_err(Error::io("waiting for qemu"))?
            {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "the guest to power off".into(),
                    secs: timeout.as_secs(),
                    transcript_tail: self.tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The boot's standard ending: the marker line (returned), then qemu exits.
    pub fn expect_unlocked(&mut self, timeout: Duration) -> Result<String> {
        let line = self.wait_line(crate::MARKER, timeout)?;
        self.wait_exit(Duration::from_secs(30))?;
        Ok(line)
    }

    pub(crate) fn set_tap(&self, fd: Option<Arc<OwnedFd>>) {
        *self.shared.tap.lock().unwrap() = fd;
    }

    pub(crate) fn writer(&self) -> Result<UnixStream> {
        self.writer
            .lock()
            .unwrap()
            .try_clone()
            .map_err(Error::io("cloning the serial socket"))
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.set_tap(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn drain(mut from: UnixStream, mut log: std::fs::File, sh: Arc<Shared>) {
    let mut chunk = [0u8; 4096];
    loop {
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let _ = log.write_all(&chunk[..n]);
                if let Some(fd) = sh.tap.lock().unwrap().as_ref() {
                    // A full pty buffer drops bytes rather than stall the guest.
                    let _ = rustix::io::write(fd.as_fd(), &chunk[..n]);
                }
                sh.buf.lock().unwrap().extend_from_slice(&chunk[..n]);
                sh.cv.notify_all();
            }
        }
    }
    *sh.closed.lock().unwrap() = true;
    sh.cv.notify_all();
}
