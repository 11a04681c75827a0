//! Finding tessera's own binaries: the static agent (built by `scripts/build-agents.sh`) and the host
//! tool (`target/debug/tessera`, built by `cargo test --workspace` or `cargo build -p tessera`), and
//! making the keys a scenario needs with them.
//! It must never build them itself (nested cargo runs fight over the target folder's lock).

use crate::chroot::Arch;
use crate::error::{Error, Result};
use crate::host::run;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// `target/<triple>/release/tessera-agent`.
pub fn agent(arch: Arch) -> Result<PathBuf> {
    let p = target_dir()
        .join(arch.musl_target())
        .join("release/tessera-agent");
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Missing {
            what: format!("the {} agent ({})", arch.debian(), p.display()),
            hint: "run scripts/build-agents.sh first".into(),
        })
    }
}

/// The host tool `tessera`.
pub fn host_tool() -> Result<PathBuf> {
    for profile in ["debug", "release"] {
        let p = target_dir().join(profile).join("tessera");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Missing {
        what: format!("the host tool ({}/debug/tessera)", target_dir().display()),
        hint: "run `cargo build -p tessera` (cargo test --workspace builds it too)".into(),
    })
}

/// An admin identity and a host key pair made by the real tools, under `dir`.
#[derive(Clone, Debug)]
pub struct Keys {
    /// HOME for the host tool (its config, known_hosts and identity live under it).
    pub home: PathBuf,
    pub identity: PathBuf,
    pub identity_pub: String,
    pub host_key: Vec<u8>,
    pub host_key_pub: PathBuf,
}

pub fn keys(dir: &Path) -> Result<Keys> {
    let home = dir.join("home");
    let cfg = home.join(".config/tessera");
    std::fs::create_dir_all(&cfg).map_err(Error::io("creating HOME"))?;
    let identity = cfg.join("id_ed25519");
    if !identity.exists() {
        run(tool(&home)?.args(["keygen", "--file"]).arg(&identity))?;
    }
    let identity_pub = std::fs::read_to_string(identity.with_extension("pub"))
        .map_err(Error::io("reading the admin public key"))?;
    let hk = dir.join("host_key");
    if !hk.exists() {
        run(Command::new(agent(Arch::Amd64)?)
            .arg("--gen-host-key")
            .arg(&hk))?;
    }
    let host_key = std::fs::read(&hk).map_err(Error::io("reading the host key"))?;
    Ok(Keys {
        home,
        identity,
        identity_pub,
        host_key,
        host_key_pub: dir.join("host_key.pub"),
    })
}

/// A `tessera` command with HOME and XDG_CONFIG_HOME pointing into the scenario.
pub fn tool(home: &Path) -> Result<Command> {
    let mut c = Command::new(host_tool()?);
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("SSH_AUTH_SOCK");
    Ok(c)
}

/// Where `tessera unlock` talks to the agent.
pub enum Target {
    /// The guest's port 7743, forwarded to this loopback port.
    Tcp(u16),
    /// A serial line (the pty bridged to the guest's console).
    Serial(PathBuf),
}

/// What `tessera unlock` did.
#[derive(Debug)]
pub struct ToolRun {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tessera unlock` with the scenario's identity and pinned host key, `secrets` on stdin
/// (`--secret-stdin`: one line per waiting volume), and kills it after `timeout`.
pub fn unlock(
    keys: &Keys,
    target: &Target,
    secrets: &str,
    extra: &[&str],
    timeout: std::time::Duration,
) -> Result<ToolRun> {
    use std::io::{Read, Write};
    let mut c = tool(&keys.home)?;
    c.arg("unlock");
    match target {
        Target::Tcp(port) => {
            c.arg(format!("127.0.0.1:{port}"));
        }
        Target::Serial(dev) => {
            c.arg("--serial").arg(dev).args(["--baud", "115200"]);
        }
    }
    c.arg("--identity")
        .arg(&keys.identity)
        .arg("--host-key")
        .arg(&keys.host_key_pub);
    c.arg("--secret-stdin").args(extra);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let shown = format!("{c:?}");
    let mut child = c.spawn().map_err(Error::io(format!("starting {shown}")))?;
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(secrets.as_bytes());
    drop(stdin);
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let timeout = crate::qemu::scaled(timeout);
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(Error::io("waiting for tessera"))? {
            break st;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = t_err.join().unwrap_or_default();
            return Err(Error::Timeout {
                what: shown,
                secs: timeout.as_secs(),
                transcript_tail: stderr,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Ok(ToolRun {
        success: status.success(),
        code: status.code(),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    })
}
