//! Starts Debian's real NUT daemons for a test: `/lib/nut/dummy-ups` fed a .dev file and
//! `/lib/nut/upsd` on a free loopback port, everything in a temp dir (NUT_CONFPATH/STATEPATH).
//! Dropping the guard kills both.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Upsd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub driver: Option<Child>,
    pub upsd: Option<Child>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn spawn(bin: &str, args: &[&str], dir: &Path) -> Child {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    if as_root() {
        // The packaged `nut` user cannot enter a root-owned temp dir; stay root.
        cmd.args(["-u", "root"]);
    }
    cmd.env("NUT_CONFPATH", dir.join("etc"))
        .env("NUT_STATEPATH", dir.join("run"))
        .env("NUT_ALTPIDPATH", dir.join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {bin}: {e}; run scripts/install-deps.sh (nut-server)")
    })
}

impl Upsd {
    /// One UPS named `name` serving the variables in `dev` (the .dev file text).
    pub fn start(name: &str, dev: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        let run = dir.path().join("run");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        let port = free_port();
        std::fs::write(etc.join("ups.conf"), format!("maxretry = 3\n[{name}]\n  driver = dummy-ups\n  port = {name}.dev\n  desc = \"test UPS\"\n")).unwrap();
        std::fs::write(
            etc.join("upsd.conf"),
            format!("LISTEN 127.0.0.1 {port}\nMAXAGE 15\n"),
        )
        .unwrap();
        std::fs::write(
            etc.join("upsd.users"),
            "[monuser]\n  password = s3cret\n  upsmon secondary\n",
        )
        .unwrap();
        std::fs::write(etc.join(format!("{name}.dev")), dev).unwrap();
        let d = dir.path().to_path_buf();
        let driver = spawn("/lib/nut/dummy-ups", &["-a", name, "-F"], &d);
        let sock = run.join(format!("dummy-ups-{name}"));
        wait_for(|| sock.exists(), "dummy-ups socket");
        let upsd = spawn("/lib/nut/upsd", &["-F"], &d);
        let me = Self {
            dir,
            port,
            driver: Some(driver),
            upsd: Some(upsd),
        };
        wait_for(
            || {
                me.upsc(name)
                    .is_some_and(|v| v.get("ups.status").is_some_and(|s| s != "WAIT"))
            },
            "upsd to serve the UPS",
        );
        me
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// `upsc NAME@127.0.0.1:PORT` as a map, None if it fails.
    pub fn upsc(&self, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
        let out = Command::new("upsc")
            .arg(format!("{name}@127.0.0.1:{}", self.port))
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    l.split_once(": ")
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect(),
        )
    }

    pub fn kill_driver(&mut self) {
        if let Some(mut c) = self.driver.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn kill_upsd(&mut self) {
        if let Some(mut c) = self.upsd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Upsd {
    fn drop(&mut self) {
        self.kill_upsd();
        self.kill_driver();
    }
}

pub fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
