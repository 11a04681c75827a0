//! `tessera flash root DIR`: install tessera into a mounted root filesystem (a server's disk in a
//! rescue system, a debootstrap chroot, an SD card): the agent, its config and keys under
//! /etc/tessera, and the initramfs-tools hook and boot scripts under /etc/initramfs-tools, so every
//! later `update-initramfs` includes the agent. With `--update-initramfs` it runs that too, in a
//! chroot. What to write comes from `hook::plan`; this module only looks at and writes a local
//! directory.
//!
//! Checks before writing anything: initramfs-tools and cryptsetup-initramfs are there, the root's
//! architecture is the board's and the agent's. Files are written whole (temporary file, rename).

use super::hook::{self, Install, RootFacts, PACKAGE_LISTS};
use crate::bundle::{self, paths, FileSpec};
use crate::error::{Error, Result};
use crate::inputs::{under, Inputs, Report};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use zeroize::Zeroizing;

fn read_opt(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// Looks at `dir` and refuses what tessera cannot work with.
pub fn inspect(dir: &Path) -> Result<RootFacts> {
    let name = dir.display().to_string();
    if !dir.is_dir() {
        return Err(Error::Target {
            target: name,
            problem: "is not a directory (mount the server's root filesystem there)".into(),
        });
    }
    if !under(dir, "/usr/share/initramfs-tools").is_dir() {
        if under(dir, "/usr/lib/dracut").is_dir() {
            return Err(Error::Dracut { target: name });
        }
        return Err(Error::Target {
            target: name,
            problem: "has no initramfs-tools (/usr/share/initramfs-tools); tessera's hook needs it"
                .into(),
        });
    }
    let cryptsetup = ["/usr/sbin/cryptsetup", "/sbin/cryptsetup"]
        .iter()
        .find_map(|p| std::fs::read(under(dir, p)).ok());
    let (Some(cryptsetup), true) = (
        cryptsetup,
        under(dir, "/usr/share/initramfs-tools/hooks/cryptroot").is_file(),
    ) else {
        return Err(Error::NoCryptsetup { target: name });
    };
    let arch = match bundle::arch_of(&cryptsetup) {
        Some(Ok(a)) => a,
        Some(Err(other)) => {
            return Err(Error::Target {
                target: name,
                problem: format!("is a {other} system; tessera has agents for x86_64 and aarch64"),
            })
        }
        None => {
            return Err(Error::Target {
                target: name,
                problem: "its cryptsetup is not an ELF binary".into(),
            })
        }
    };
    let mut trusted = Vec::new();
    for p in [
        "/etc/tessera/authorized_keys",
        "/etc/dropbear/initramfs/authorized_keys",
    ] {
        if let Some(t) = read_opt(&under(dir, p)) {
            trusted.push((under(dir, p).display().to_string(), t));
        }
    }
    Ok(RootFacts {
        arch,
        hostname: read_opt(&under(dir, "/etc/hostname"))
            .and_then(|s| s.lines().next().map(str::to_string)),
        crypttab: read_opt(&under(dir, "/etc/crypttab")).unwrap_or_default(),
        packaged: PACKAGE_LISTS.iter().any(|p| under(dir, p).is_file()),
        host_key: std::fs::read(under(dir, paths::HOST_KEY))
            .ok()
            .map(Zeroizing::new),
        trusted,
    })
}

/// Describes a file change (`new`, `replace`, `unchanged`) for the report.
pub fn describe(f: &FileSpec, old: Option<&[u8]>, shown_path: &str) -> String {
    let state = match old {
        None => "new",
        Some(o) if o == f.data.as_slice() => "unchanged",
        Some(_) => "replace",
    };
    format!(
        "write {shown_path} ({state}, {:o}, {} bytes)",
        f.mode,
        f.data.len()
    )
}

/// `tessera flash root DIR`.
pub fn run(dir: &Path, inputs: &Inputs<'_>, update_initramfs: bool) -> Result<Report> {
    let facts = inspect(dir)?;
    let Install { files, mut report } = hook::plan(inputs, &facts, &dir.display().to_string())?;
    for f in &files {
        let p = under(dir, &f.path);
        report.actions.push(describe(
            f,
            std::fs::read(&p).ok().as_deref(),
            &p.display().to_string(),
        ));
    }
    if update_initramfs {
        report.actions.push(format!(
            "run update-initramfs in chroot {} and check the result with lsinitramfs",
            dir.display()
        ));
    } else {
        report.notes.push(format!(
            "next: run update-initramfs -u in {} (or pass --update-initramfs) so the initramfs includes the agent",
            dir.display()
        ));
    }
    if inputs.options.dry_run {
        return Ok(report);
    }
    for f in &files {
        write_file(&under(dir, &f.path), f)?;
    }
    if update_initramfs {
        run_update_initramfs(dir)?;
        for line in verify_initramfs(dir)? {
            report.notes.push(line);
        }
    }
    Ok(report)
}

/// Writes one file: parents made (the config directory 0700), temporary file, mode, rename.
pub fn write_file(p: &Path, f: &FileSpec) -> Result<()> {
    let parent = p.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create", e))?;
    if f.path.starts_with(paths::CONF_DIR) {
        let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700));
    }
    let tmp = p.with_extension("tessera-new");
    std::fs::write(&tmp, &f.data).map_err(|e| Error::io(&tmp, "write", e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(f.mode))
        .map_err(|e| Error::io(&tmp, "chmod", e))?;
    std::fs::rename(&tmp, p).map_err(|e| Error::io(p, "replace", e))
}

/// `update-initramfs -u -k all` in a chroot; where /boot has no initrd yet (a fresh debootstrap with
/// INITRD=No), `-c` for each kernel that has a vmlinuz.
fn run_update_initramfs(dir: &Path) -> Result<()> {
    let boot = under(dir, "/boot");
    let names: Vec<String> = std::fs::read_dir(&boot)
        .map_err(|e| Error::io(&boot, "read", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let runs: Vec<Vec<String>> = if names.iter().any(|n| n.starts_with("initrd.img-")) {
        vec![vec!["-u".into(), "-k".into(), "all".into()]]
    } else {
        names
            .iter()
            .filter_map(|n| n.strip_prefix("vmlinuz-"))
            .map(|v| vec!["-c".into(), "-k".into(), v.to_string()])
            .collect()
    };
    if runs.is_empty() {
        return Err(Error::Target {
            target: dir.display().to_string(),
            problem: "has no kernel in /boot to build an initramfs for".into(),
        });
    }
    for args in runs {
        let shown = format!(
            "chroot {} update-initramfs {}",
            dir.display(),
            args.join(" ")
        );
        let out = Command::new("chroot")
            .arg(dir)
            .arg("update-initramfs")
            .args(&args)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .map_err(|e| Error::Command {
                command: shown.clone(),
                problem: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: shown,
                problem: last_line(&out.stderr),
            });
        }
    }
    Ok(())
}

/// Checks with lsinitramfs that every initrd in DIR/boot holds the agent; returns one line each.
pub fn verify_initramfs(dir: &Path) -> Result<Vec<String>> {
    let boot = under(dir, "/boot");
    let mut images: Vec<_> = std::fs::read_dir(&boot)
        .map_err(|e| Error::io(&boot, "read", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("initrd.img-"))
        .collect();
    images.sort();
    let mut lines = Vec::new();
    for img in images {
        let out = Command::new("chroot")
            .arg(dir)
            .args(["lsinitramfs", &format!("/boot/{img}")])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .map_err(|e| Error::Command {
                command: "chroot lsinitramfs".into(),
                problem: e.to_string(),
            })?;
        let listing = String::from_utf8_lossy(&out.stdout);
        if !listing.lines().any(|l| l.ends_with("sbin/tessera-agent")) {
            return Err(Error::Command {
                command: format!("lsinitramfs /boot/{img}"),
                problem: "the new initramfs has no sbin/tessera-agent (is /etc/tessera/agent.conf readable by the hook?)".into(),
            });
        }
        lines.push(format!(
            "/boot/{img} holds sbin/tessera-agent (lsinitramfs)"
        ));
    }
    Ok(lines)
}

fn last_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .to_string()
}
