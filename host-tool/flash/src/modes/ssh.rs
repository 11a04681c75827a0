//! `tessera flash ssh USER@HOST`: the hook install of `flash root` (planned by `hook::plan`) over
//! ssh, then `update-initramfs -u` and a check with `lsinitramfs` that the new initramfs holds the
//! agent.
//!
//! Two ssh sessions, each a `sh -s` script on stdin: one that looks (architecture, hostname,
//! crypttab, cryptsetup, existing keys), one that writes every file (base64 in quoted heredocs,
//! temporary file then rename) and rebuilds the initramfs. `--remote-root DIR` targets a root
//! mounted on the remote host (a rescue system) and runs the commands in `chroot DIR`.

use super::hook::{self, RootFacts};
use crate::board::Arch;
use crate::bundle;
use crate::error::{Error, Result};
use crate::inputs::{Inputs, Report};
use base64ct::{Base64, Encoding};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use zeroize::Zeroizing;

/// How to reach the host.
#[derive(Clone, Debug, PartialEq)]
pub struct SshTarget {
    /// `USER@HOST` (or any destination ssh accepts).
    pub destination: String,
    /// The ssh command and its options (`ssh -p 2222 -i key`), split on whitespace.
    pub command: String,
    /// The root filesystem on the remote host (`/`, or a mounted disk).
    pub root: String,
    pub update_initramfs: bool,
}

const PROBE: &str = r#"
R=$TESSERA_ROOT
echo @@uname; uname -m
echo @@hostname; cat "$R/etc/hostname" 2>/dev/null
echo @@crypttab; cat "$R/etc/crypttab" 2>/dev/null
echo @@cryptsetup; for f in "$R/usr/sbin/cryptsetup" "$R/sbin/cryptsetup"; do [ -f "$f" ] && { head -c 4096 "$f" | base64 | tr -d '\n'; echo; break; }; done
echo @@initramfs-tools; [ -d "$R/usr/share/initramfs-tools" ] && echo yes
echo @@cryptroot-hook; [ -f "$R/usr/share/initramfs-tools/hooks/cryptroot" ] && echo yes
echo @@packaged; ls "$R"/var/lib/dpkg/info/tessera-agent*.list >/dev/null 2>&1 && echo yes
echo @@host-key; [ -f "$R/etc/tessera/host_key" ] && base64 < "$R/etc/tessera/host_key" | tr -d '\n'; echo
echo @@tessera-keys; cat "$R/etc/tessera/authorized_keys" 2>/dev/null
echo @@dropbear-keys; cat "$R/etc/dropbear/initramfs/authorized_keys" 2>/dev/null
echo @@end
"#;

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs `script` on the host with `sh -s`; returns stdout.
fn remote(t: &SshTarget, script: &str, what: &str) -> Result<String> {
    let mut words = t.command.split_whitespace();
    let program = words.next().unwrap_or("ssh");
    let mut child = Command::new(program)
        .args(words)
        .arg(&t.destination)
        .arg("sh -s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Command {
            command: program.into(),
            problem: format!("cannot start: {e}"),
        })?;
    let mut stdin = child.stdin.take().ok_or_else(|| Error::Command {
        command: program.into(),
        problem: "no stdin".into(),
    })?;
    let full = format!("TESSERA_ROOT={}\n{script}", shell_quote(&t.root));
    let (out, err) = std::thread::scope(|s| {
        s.spawn(move || {
            let _ = stdin.write_all(full.as_bytes());
        });
        let mut err = String::new();
        let mut stderr = child.stderr.take();
        let e = s.spawn(move || {
            if let Some(se) = stderr.as_mut() {
                let _ = se.read_to_string(&mut err);
            }
            err
        });
        let mut out = String::new();
        if let Some(mut so) = child.stdout.take() {
            let _ = so.read_to_string(&mut out);
        }
        (out, e.join().unwrap_or_default())
    });
    let status = child.wait().map_err(|e| Error::Command {
        command: program.into(),
        problem: e.to_string(),
    })?;
    if !status.success() {
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(Error::Command {
            command: format!("{} {} ({what})", t.command, t.destination),
            problem: format!("exit {}: {last}", status.code().unwrap_or(-1)),
        });
    }
    Ok(out)
}

fn sections(out: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            current = Some(name.to_string());
            map.entry(name.to_string()).or_insert_with(String::new);
            continue;
        }
        if let Some(c) = &current {
            let s = map.entry(c.clone()).or_default();
            s.push_str(line);
            s.push('\n');
        }
    }
    map
}

/// Asks the host what it is and refuses what tessera cannot work with.
pub fn inspect(t: &SshTarget) -> Result<RootFacts> {
    let out = remote(t, PROBE, "looking at the host")?;
    let s = sections(&out);
    let name = format!("{}:{}", t.destination, t.root);
    if !s.contains_key("end") {
        return Err(Error::Command {
            command: format!("{} {}", t.command, t.destination),
            problem: "the probe script did not finish (is /bin/sh a POSIX shell there?)".into(),
        });
    }
    let get = |k: &str| s.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    if get("initramfs-tools") != "yes" {
        return Err(Error::Target {
            target: name,
            problem: "has no initramfs-tools; tessera's hook needs it".into(),
        });
    }
    let cryptsetup = Base64::decode_vec(&get("cryptsetup")).unwrap_or_default();
    if cryptsetup.is_empty() || get("cryptroot-hook") != "yes" {
        return Err(Error::NoCryptsetup { target: name });
    }
    let uname = get("uname");
    let arch = if t.root == "/" {
        Arch::from_name(&uname)
    } else {
        bundle::arch_of(&cryptsetup).and_then(|r| r.ok())
    }
    .ok_or_else(|| Error::Target {
        target: name.clone(),
        problem: format!("runs on {uname}; tessera has agents for x86_64 and aarch64"),
    })?;
    let host_key = Some(get("host-key"))
        .filter(|k| !k.is_empty())
        .and_then(|k| Base64::decode_vec(&k).ok())
        .map(Zeroizing::new);
    let mut trusted = Vec::new();
    for (k, path) in [
        ("tessera-keys", "/etc/tessera/authorized_keys"),
        ("dropbear-keys", "/etc/dropbear/initramfs/authorized_keys"),
    ] {
        if !get(k).is_empty() {
            trusted.push((format!("{}:{path}", t.destination), get(k)));
        }
    }
    Ok(RootFacts {
        arch,
        hostname: Some(get("hostname")).filter(|h| !h.is_empty()),
        crypttab: s.get("crypttab").cloned().unwrap_or_default(),
        packaged: get("packaged") == "yes",
        host_key,
        trusted,
    })
}

/// The install script: every file, then update-initramfs and the lsinitramfs check.
/// Wiped on drop, and sized up front so that no reallocation leaves a copy of the host key's seed
/// behind.
fn install_script(files: &[bundle::FileSpec], update: bool) -> Zeroizing<String> {
    let room: usize = files
        .iter()
        .map(|f| f.path.len() + 64 + f.data.len().div_ceil(3) * 4 * 77 / 76 + 2)
        .sum();
    let mut s = Zeroizing::new(String::with_capacity(room + 1024));
    s.push_str(
        "set -e\numask 077\nR=$TESSERA_ROOT\nput() {\n  mkdir -p \"$(dirname \"$R$1\")\"\n  base64 -d > \"$R$1.tessera-new\"\n  chmod \"$2\" \"$R$1.tessera-new\"\n  mv \"$R$1.tessera-new\" \"$R$1\"\n}\n",
    );
    for f in files {
        s.push_str(&format!(
            "put {} {:o} <<'TESSERA_EOF'\n",
            shell_quote(&f.path),
            f.mode
        ));
        let b64 = Zeroizing::new(Base64::encode_string(&f.data));
        for chunk in b64.as_bytes().chunks(76) {
            s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            s.push('\n');
        }
        s.push_str("TESSERA_EOF\n");
    }
    s.push_str("chmod 700 \"$R/etc/tessera\"\necho @@written\n");
    if update {
        s.push_str(
            r#"run() { if [ "$R" = / ]; then sh -c "$1"; else chroot "$R" sh -c "$1"; fi; }
run 'if ls /boot/initrd.img-* >/dev/null 2>&1; then update-initramfs -u -k all; else for k in /boot/vmlinuz-*; do update-initramfs -c -k "${k#/boot/vmlinuz-}"; done; fi' >&2
run 'for i in /boot/initrd.img-*; do if lsinitramfs "$i" | grep -q "sbin/tessera-agent$"; then echo "OK $i"; else echo "MISSING $i"; fi; done'
"#,
        );
    }
    s
}

/// `tessera flash ssh USER@HOST`.
pub fn run(t: &SshTarget, inputs: &Inputs<'_>) -> Result<Report> {
    let facts = inspect(t)?;
    let where_ = format!("{}:{}", t.destination, t.root.trim_end_matches('/'));
    let hook::Install { files, mut report } = hook::plan(inputs, &facts, &where_)?;
    for f in &files {
        report.actions.push(format!(
            "write {where_}{} ({:o}, {} bytes)",
            f.path,
            f.mode,
            f.data.len()
        ));
    }
    if t.update_initramfs {
        report.actions.push(format!(
            "run update-initramfs -u -k all on {where_}, check with lsinitramfs"
        ));
    }
    if inputs.options.dry_run {
        return Ok(report);
    }
    let out = remote(t, &install_script(&files, t.update_initramfs), "installing")?;
    if !out.contains("@@written") {
        return Err(Error::Command {
            command: format!("{} {}", t.command, t.destination),
            problem: "the install script stopped before writing every file".into(),
        });
    }
    if t.update_initramfs {
        let missing: Vec<&str> = out.lines().filter(|l| l.starts_with("MISSING ")).collect();
        let ok: Vec<&str> = out.lines().filter(|l| l.starts_with("OK ")).collect();
        if !missing.is_empty() || ok.is_empty() {
            return Err(Error::Command {
                command: "lsinitramfs".into(),
                problem: format!(
                    "no tessera-agent in {} on {where_}",
                    if missing.is_empty() {
                        "any /boot/initrd.img-*".to_string()
                    } else {
                        missing.join(", ")
                    }
                ),
            });
        }
        for l in ok {
            report.notes.push(format!(
                "{} holds sbin/tessera-agent (lsinitramfs)",
                &l[3..]
            ));
        }
    } else {
        report
            .notes
            .push(format!("next: run update-initramfs -u on {where_}"));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_install_script_round_trips_files_through_sh() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            bundle::FileSpec::new(
                "/etc/tessera/host_key",
                0o600,
                vec![0u8, 1, 2, 255, b'\n', b'\''],
            ),
            bundle::FileSpec::new(
                "/usr/lib/tessera/keyscript",
                0o755,
                b"#!/bin/sh\necho 'TESSERA_EOF'\n".repeat(40),
            ),
        ];
        let script = format!(
            "TESSERA_ROOT={}\n{}",
            shell_quote(dir.path().to_str().unwrap()),
            install_script(&files, false).as_str()
        );
        let mut child = Command::new("sh")
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("@@written"));
        use std::os::unix::fs::PermissionsExt;
        for f in &files {
            let p = dir.path().join(f.path.trim_start_matches('/'));
            assert_eq!(std::fs::read(&p).unwrap(), *f.data);
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                f.mode
            );
        }
        let conf_dir = dir.path().join("etc/tessera");
        assert_eq!(
            std::fs::metadata(conf_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn probe_sections_parse() {
        let s = sections("junk\n@@uname\naarch64\n@@crypttab\na b c d\ne f\n@@end\n");
        assert_eq!(s["uname"], "aarch64\n");
        assert_eq!(s["crypttab"], "a b c d\ne f\n");
        assert!(s.contains_key("end"));
    }
}
