//! The host side of the harness: running commands with their output kept for the error message, and
//! checking once that the machine can do what the boots need (root, debootstrap, qemu, cryptsetup).
//! It must never install anything: `scripts/install-deps.sh` does that, and errors point there.

use crate::error::{Error, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `cmd` to completion with stdin closed; Err keeps the last 40 lines of its output.
pub fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(format!("starting {shown}")))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(Error::Command {
            cmd: shown,
            status: out.status.to_string(),
            output: tail(&text, 40),
        })
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Fails with one line naming what is missing and the command that installs it.
pub fn require(programs: &[&str]) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Err(Error::Missing {
            what: "root".into(),
            hint:
                "the boot tests run debootstrap and chroot; run `cargo test -p tessera-e2e` as root"
                    .into(),
        });
    }
    for p in programs {
        if !have(p) {
            return Err(Error::Missing {
                what: format!("`{p}`"),
                hint: "run scripts/install-deps.sh (as root) first".into(),
            });
        }
    }
    Ok(())
}

/// Makes arm64 binaries runnable in a chroot (qemu-user through binfmt_misc).
pub fn enable_binfmt_aarch64() -> Result<()> {
    let mnt = Path::new("/proc/sys/fs/binfmt_misc");
    if !mnt.join("status").exists() {
        run(Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(mnt))?;
    }
    if std::fs::read_to_string(mnt.join("qemu-aarch64"))
        .map(|s| s.starts_with("enabled"))
        .unwrap_or(false)
    {
        return Ok(());
    }
    require(&["update-binfmts"])?;
    run(Command::new("update-binfmts").args(["--enable", "qemu-aarch64"])).map(|_| ())
}

/// The Debian mirror this machine already uses (deb822 or one-line sources), else deb.debian.org.
pub fn debian_mirror() -> String {
    let mut files = vec![std::path::PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        // Only a mirror that carries bookworm's main suite will do.
        if !text.contains("bookworm") {
            continue;
        }
        for line in text.lines().map(str::trim) {
            let url = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if line.starts_with("deb ") {
                line.split_whitespace().find(|w| w.starts_with("http"))
            } else {
                None
            };
            if let Some(url) = url {
                if url.trim_end_matches('/').ends_with("/debian") {
                    return url.to_string();
                }
            }
        }
    }
    "http://deb.debian.org/debian".into()
}
