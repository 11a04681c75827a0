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
        .join(arch.rust_triple())
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
