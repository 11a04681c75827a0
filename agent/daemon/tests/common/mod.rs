//! Shared harness for the agent's real-process tests: LUKS2 image files made by the real cryptsetup,
//! the real `tessera-agent` and `tessera` binaries, keys made by their own keygen verbs, ptys.
//!
//! Every process started here is killed when its handle drops, and every wait has a deadline, so a
//! failing test ends instead of hanging CI.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

pub const AGENT: &str = env!("CARGO_BIN_EXE_tessera-agent");

/// The `tessera` host tool, built once by the same cargo (another package's binary is not built
/// for this crate's tests on its own).
pub fn tessera_bin() -> PathBuf {
    static BUILD: Once = Once::new();
    let agent = Path::new(AGENT);
    let bin = agent.with_file_name("tessera");
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "tessera", "--bin", "tessera"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .status()
            .expect("run cargo build -p tessera");
        assert!(status.success(), "cargo build -p tessera failed");
    });
    bin
}

pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::Builder::new()
            .prefix("tessera-test-")
            .tempdir()
            .unwrap())
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.path().join(p)
    }
}

/// A LUKS2 image file whose only key slot opens with `pass` (cheap pbkdf2, small header).
pub fn luks_image(path: &Path, pass: &str) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(2 << 20).unwrap();
    drop(f);
    let mut child = Command::new("cryptsetup")
        .args(["luksFormat", "--type", "luks2", "--pbkdf", "pbkdf2"])
        .args(["--pbkdf-force-iterations", "1000", "--batch-mode"])
        .args([
            "--luks2-metadata-size",
            "16k",
            "--luks2-keyslots-size",
            "256k",
        ])
        .arg(path)
        .arg("--key-file=-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cryptsetup (apt-get install cryptsetup-bin)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pass.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "luksFormat {}",
        path.display()
    );
}

/// True when `pass` opens the image (what the agent's `test` method checks too).
pub fn luks_opens(path: &Path, pass: &str) -> bool {
    let mut child = Command::new("cryptsetup")
        .args(["open", "--test-passphrase"])
        .arg(path)
        .arg("--key-file=-")
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pass.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

/// An admin key made by `tessera keygen` (OpenSSH format) in `dir`.
pub fn admin_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new(tessera_bin())
        .args(["keygen", "--file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", key.display())))
        .unwrap();
    (key, public.trim().to_string())
}

/// A host key made by `tessera-agent --gen-host-key`; returns its .pub line.
pub fn host_key(path: &Path) -> String {
    let out = Command::new(AGENT)
        .arg("--gen-host-key")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A running agent; killed on drop. Its stderr is collected line by line.
pub struct Agent {
    child: Child,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Agent {
    pub fn start(config: &Path, env: &[(&str, &Path)]) -> Agent {
        let mut cmd = Command::new(AGENT);
        cmd.arg("--config").arg(config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("TESSERA_TEST_VERBOSE").is_some() {
                    eprintln!("[agent] {line}");
                }
                sink.0.lock().unwrap().push(line);
                sink.1.notify_all();
            }
        });
        Agent { child, log }
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.log.0.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| l.contains(needle)) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.log.1.wait_timeout(lines, left).unwrap().0;
        }
    }

    pub fn log_text(&self) -> String {
        self.log.0.lock().unwrap().join("\n")
    }

    pub fn count_log(&self, needle: &str) -> usize {
        self.log
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// The TCP address from the agent's "listening on" line (config uses port 0).
    pub fn addr(&self) -> SocketAddr {
        let line = self
            .wait_log("listening on ", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("agent did not listen: {}", self.log_text()));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    pub fn addrs(&self, n: usize) -> Vec<SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.log.0.lock().unwrap().clone();
            let addrs: Vec<SocketAddr> = lines
                .iter()
                .filter_map(|l| l.split("listening on ").nth(1))
                .map(|a| a.parse().unwrap())
                .collect();
            if addrs.len() >= n || Instant::now() > deadline {
                return addrs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test host: two LUKS2 images, a host key, one admin key, a config for the agent.
pub struct Host {
    pub dir: Dir,
    pub host_pub: String,
    pub admin: PathBuf,
    pub admin_pub: String,
    pub config: PathBuf,
}

pub const PASS_A: &str = "correct horse battery staple";
pub const PASS_B: &str = "Tr0ub4dor&3 with spaces";

impl Host {
    /// `extra` is appended to the config (listen/serial lines).
    pub fn new(host_id: &str, extra: &str) -> Host {
        let dir = Dir::new();
        luks_image(&dir.join("a.img"), PASS_A);
        luks_image(&dir.join("b.img"), PASS_B);
        let host_pub = host_key(&dir.join("host_key"));
        let (admin, admin_pub) = admin_key(dir.path(), "admin");
        std::fs::write(dir.join("authorized_keys"), format!("{admin_pub}\n")).unwrap();
        let config = dir.join("agent.conf");
        let text = format!(
            "host-id {host_id}\nhost-key {}\nauthorized-keys {}\nrun-dir {}\n\
             volume vol_a {} test\nvolume vol_b {} test\n{extra}",
            dir.join("host_key").display(),
            dir.join("authorized_keys").display(),
            dir.join("run").display(),
            dir.join("a.img").display(),
            dir.join("b.img").display(),
        );
        std::fs::write(&config, text).unwrap();
        Host {
            dir,
            host_pub,
            admin,
            admin_pub,
            config,
        }
    }

    pub fn start(&self) -> Agent {
        Agent::start(&self.config, &[])
    }

    /// Runs `tessera ARGS` with this host's admin identity, pinned host key and a private config
    /// folder, feeding `stdin`.
    pub fn tessera(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(tessera_bin());
        cmd.args(args);
        if args.first() == Some(&"unlock") {
            cmd.arg("--identity").arg(&self.admin);
        }
        let mut child = cmd
            .arg("--host-key")
            .arg(&self.host_pub)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg"))
            .env("HOME", self.dir.path())
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---- raw protocol: the tests' own client, for tokens the host tool would never send ----

use std::io::Read;
use std::net::{IpAddr, TcpStream};

use tessera_core::frame::{Decoded, Decoder};
use tessera_core::limits::MAX_FRAME;
use tessera_core::message::{ResultBody, Verdict};
use tessera_core::{Client, ClientEvent, HostKeyCheck, Message, Name, Refusal};

/// The ed25519 seed inside an OpenSSH private key file.
pub fn seed_of(key_file: &Path) -> [u8; 32] {
    let k = ssh_key::PrivateKey::read_openssh_file(key_file).unwrap();
    k.key_data().ed25519().unwrap().private.to_bytes()
}

/// Connects to `addr` from source address `src` (any 127.x.y.z works on loopback), so that tests
/// can be many peers for the rate limiter.
pub fn connect_from(addr: SocketAddr, src: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    if let Some(ip) = src {
        s.bind(&SocketAddr::new(ip, 0).into())?;
    }
    s.connect_timeout(&addr.into(), Duration::from_secs(5))?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(s)
}

/// A raw conversation: the core's client over a plain socket.
pub struct Raw {
    pub stream: TcpStream,
    pub client: Client,
}

impl Raw {
    /// Connects and reads the challenge the agent sends on connect.
    pub fn start(addr: SocketAddr, src: Option<IpAddr>) -> std::io::Result<Raw> {
        let stream = connect_from(addr, src)?;
        let mut raw = Raw {
            stream,
            client: Client::new(HostKeyCheck::FirstUse),
        };
        let mut buf = [0u8; 4096];
        loop {
            let n = raw.stream.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before challenge",
                ));
            }
            let mut rest = &buf[..n];
            let mut got = false;
            while !rest.is_empty() {
                let (used, ev) = raw.client.process(rest);
                if matches!(ev, ClientEvent::Challenge { .. }) {
                    got = true;
                }
                rest = &rest[used..];
                if used == 0 {
                    break;
                }
            }
            if got {
                return Ok(raw);
            }
        }
    }

    /// A token frame for `secrets`, signed with `admin_seed` (an admin key the agent may or may
    /// not know).
    pub fn token(&mut self, admin_seed: &[u8; 32], secrets: &[(&str, &str)]) -> Vec<u8> {
        let admin = ed25519_public(admin_seed);
        let names: Vec<Name> = secrets.iter().map(|(n, _)| Name::new(n).unwrap()).collect();
        let pairs: Vec<(&Name, &[u8])> = names
            .iter()
            .zip(secrets)
            .map(|(n, (_, s))| (n, s.as_bytes()))
            .collect();
        let req = self
            .client
            .prepare_unlock(&admin, &pairs, &[7u8; 32])
            .unwrap();
        let sig = tessera_core::openssh::sign(admin_seed, req.message);
        let mut out = vec![0u8; MAX_FRAME];
        let n = self.client.write_unlock(&sig, &mut out).unwrap();
        out.truncate(n);
        out
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next result the agent sends; `None` when it closes or stays silent instead.
    pub fn result(&mut self, wait: Duration) -> Option<ResultBody> {
        read_result(&mut self.stream, wait)
    }
}

/// The payload inside a frame (the frame must be valid).
pub fn payload_of(frame: &[u8]) -> Vec<u8> {
    let mut dec = Decoder::new();
    let mut rest = frame;
    while !rest.is_empty() {
        let (used, what) = dec.decode(rest);
        if let Decoded::Frame(p) = what {
            return p.to_vec();
        }
        rest = &rest[used..];
    }
    panic!("no frame in {frame:02x?}");
}

/// A valid frame (good COBS, good CRC) around any payload.
pub fn frame_of(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; MAX_FRAME];
    let n = tessera_core::frame::encode(payload, &mut out).unwrap();
    out.truncate(n);
    out
}

pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    let k = ssh_key::private::Ed25519Keypair::from_seed(seed);
    k.public.0
}

/// Reads frames until a Result message; `None` on EOF, error or silence for `wait`.
pub fn read_result(stream: &mut TcpStream, wait: Duration) -> Option<ResultBody> {
    stream.set_read_timeout(Some(wait)).ok()?;
    let mut dec = Decoder::new();
    let mut buf = [0u8; 4096];
    loop {
        // A signal (other tests in this process spawn children) must not read as "closed".
        let n = match stream.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r.ok()?,
        };
        if n == 0 {
            return None;
        }
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (used, what) = dec.decode(rest);
            if let Decoded::Frame(p) = what {
                if let Ok(Message::Result(r)) = Message::decode(p) {
                    return Some(r.body);
                }
            }
            rest = &rest[used..];
            if used == 0 {
                break;
            }
        }
    }
}

pub fn refusal(r: &ResultBody) -> Option<Refusal> {
    match r.verdict {
        Verdict::Refused(x) => Some(x),
        Verdict::Outcomes(_) => None,
    }
}

// ---- ptys ----

use std::fs::File;
use std::os::fd::AsFd;

/// A pty pair: the test holds the master, a program opens `slave` by path.
pub struct Pty {
    pub master: File,
    pub slave: PathBuf,
}

pub fn pty() -> Pty {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let m = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&m).unwrap();
    unlockpt(&m).unwrap();
    let name = ptsname(&m, Vec::new()).unwrap();
    let slave = PathBuf::from(name.to_str().unwrap());
    Pty {
        master: File::from(m),
        slave,
    }
}

impl Pty {
    /// Reads from the master until `needle` shows up in everything read so far; returns it all.
    pub fn read_until(&mut self, seen: &mut Vec<u8>, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let fd = self.master.as_fd();
        loop {
            if String::from_utf8_lossy(seen).contains(needle) {
                return true;
            }
            let left = match deadline.checked_duration_since(Instant::now()) {
                Some(l) => l,
                None => return false,
            };
            let mut pfd = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let ts = rustix::time::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as i64,
            };
            let ready = rustix::event::poll(&mut pfd, Some(&ts)).unwrap_or(0);
            if ready == 0 {
                continue;
            }
            let mut buf = [0u8; 1024];
            match (&self.master).read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(20)),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                // EIO while nobody has the slave open.
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
