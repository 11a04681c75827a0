//! What `tessera flash` installs, whatever the target: the agent binary, its config, the host key,
//! the admins' keys, the initramfs-tools hook and boot scripts, and where each goes.
//!
//! Everything is computed in memory from the board profile, the target's crypttab and the options;
//! the modes (`root`, `ssh`, `append`) only decide how the files reach the target. This module
//! reads local files (agent, hook directory) but never writes.

use crate::board::{Arch, Board};
use crate::elf;
use crate::error::{Error, Result};
use crate::keys::HostKey;
use std::path::{Path, PathBuf};
use tessera_conf::agent_conf::{
    self as conf, listen_from_args, Config, Listen, Method, Serial, DEFAULT_PASSFIFO,
    DEFAULT_RUN_DIR,
};
use tessera_core::limits::MAX_VOLUMES;
use tessera_core::Name;
use zeroize::Zeroizing;

/// Where things live on the target: the one list in `tessera_conf::layout`.
pub use tessera_conf::layout as paths;
use tessera_conf::layout::HookEntry;

/// The initramfs-tools files from the repository's `initramfs-hook/` (or the installed copy):
/// every line of `initramfs-hook/MANIFEST` that flash installs, with its bytes.
#[derive(Clone, Debug)]
pub struct HookFiles {
    pub dir: PathBuf,
    pub files: Vec<(HookEntry, Vec<u8>)>,
}

impl HookFiles {
    /// Reads the manifest's files for flash from `dir`.
    pub fn load(dir: &Path) -> Result<HookFiles> {
        let mut files = Vec::new();
        for e in paths::hook_manifest() {
            if e.local.is_none() {
                continue;
            }
            let p = dir.join(e.source);
            let data = std::fs::read(&p).map_err(|err| Error::io(&p, "read the hook file", err))?;
            files.push((e, data));
        }
        Ok(HookFiles {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// The bytes of the file at `source` in `initramfs-hook/` (empty if the manifest lacks it,
    /// which the manifest's own test rules out).
    fn get(&self, source: &str) -> &[u8] {
        self.files
            .iter()
            .find(|(e, _)| e.source == source)
            .map(|(_, d)| d.as_slice())
            .unwrap_or_default()
    }

    /// The keyscript.
    pub fn keyscript(&self) -> Vec<u8> {
        self.get(paths::KEYSCRIPT_SOURCE).to_vec()
    }

    /// The boot script that starts the agent.
    pub fn init_premount(&self) -> Vec<u8> {
        self.get(paths::INIT_PREMOUNT_SOURCE).to_vec()
    }

    /// The boot script that stops it.
    pub fn local_bottom(&self) -> Vec<u8> {
        self.get(paths::LOCAL_BOTTOM_SOURCE).to_vec()
    }

    /// `explicit`, else `$TESSERA_HOOK_DIR`, else the installed copy, else `initramfs-hook/` of the
    /// source tree the running binary was built in.
    pub fn find(explicit: Option<&Path>) -> Result<HookFiles> {
        if let Some(d) = explicit {
            return HookFiles::load(d);
        }
        let mut tried = Vec::new();
        if let Some(d) = std::env::var_os("TESSERA_HOOK_DIR") {
            tried.push(PathBuf::from(d));
        }
        tried.push(PathBuf::from("/usr/share/tessera/initramfs-hook"));
        if let Ok(exe) = std::env::current_exe() {
            for anc in exe.ancestors().skip(1) {
                tried.push(anc.join("initramfs-hook"));
            }
        }
        tried.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../initramfs-hook"));
        for d in &tried {
            if d.join(paths::HOOK_SOURCE).is_file() {
                return HookFiles::load(d);
            }
        }
        Err(Error::Usage {
            problem: format!(
                "no initramfs-hook directory found (tried {})",
                tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

/// The static agent for `arch`: `explicit`, else `$TESSERA_AGENT_DIR/<uname -m>/tessera-agent`, the
/// packaged `/usr/lib/tessera/agents/<uname -m>/tessera-agent`, or the musl release build in the
/// `target/` directory next to the running binary. Checked against `arch` by its ELF header.
pub fn find_agent(explicit: Option<&Path>, arch: Arch) -> Result<(PathBuf, Vec<u8>, Vec<String>)> {
    let mut tried = Vec::new();
    match explicit {
        Some(p) => tried.push(p.to_path_buf()),
        None => {
            if let Some(d) = std::env::var_os("TESSERA_AGENT_DIR") {
                tried.push(PathBuf::from(d).join(arch.uname()).join("tessera-agent"));
            }
            tried.push(
                Path::new("/usr/lib/tessera/agents")
                    .join(arch.uname())
                    .join("tessera-agent"),
            );
            if let Ok(exe) = std::env::current_exe() {
                for anc in exe.ancestors().skip(1) {
                    if anc.file_name().is_some_and(|n| n == "target") {
                        tried.push(anc.join(arch.musl_target()).join("release/tessera-agent"));
                        break;
                    }
                }
            }
            tried.push(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target")
                    .join(arch.musl_target())
                    .join("release/tessera-agent"),
            );
        }
    }
    for p in &tried {
        if let Ok(bytes) = std::fs::read(p) {
            let warnings = check_agent(p, &bytes, arch)?;
            return Ok((p.clone(), bytes, warnings));
        }
    }
    Err(Error::NoAgent {
        arch: arch.uname().into(),
        tried,
    })
}

/// Refuses an agent that is not an ELF for `arch`; warns about a dynamic one.
pub fn check_agent(path: &Path, bytes: &[u8], arch: Arch) -> Result<Vec<String>> {
    let Some(info) = elf::parse(bytes) else {
        return Err(Error::WrongArch {
            agent: path.to_path_buf(),
            found: "not an ELF".into(),
            wanted: arch.uname().into(),
        });
    };
    if info.machine != arch.elf_machine() {
        return Err(Error::WrongArch {
            agent: path.to_path_buf(),
            found: elf::machine_name(info.machine),
            wanted: arch.uname().into(),
        });
    }
    let mut warnings = Vec::new();
    if !info.is_static {
        warnings.push(format!(
            "{} is dynamically linked: the initramfs needs its libraries (build the static musl agent)",
            path.display()
        ));
    }
    Ok(warnings)
}

/// The architecture a binary in the target was built for (its cryptsetup, busybox...).
pub fn arch_of(bytes: &[u8]) -> Option<std::result::Result<Arch, String>> {
    let info = elf::parse(bytes)?;
    Some(
        [Arch::Amd64, Arch::Arm64]
            .into_iter()
            .find(|a| a.elf_machine() == info.machine)
            .ok_or_else(|| elf::machine_name(info.machine)),
    )
}

pub use tessera_conf::crypttab::{device_path, parse as parse_crypttab};
pub use tessera_conf::CrypttabEntry;

/// A volume the agent serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub device: String,
}

/// The volumes to serve: `--volume NAME[=DEVICE]` arguments, or every crypttab entry that is not
/// `noauto`. Names are checked as the agent checks them.
pub fn choose_volumes(
    args: &[String],
    crypttab: &[CrypttabEntry],
    where_: &str,
) -> Result<Vec<Volume>> {
    let mut out = Vec::new();
    if args.is_empty() {
        for e in crypttab {
            if e.has_option("noauto") {
                continue;
            }
            out.push(Volume {
                name: e.name.clone(),
                device: device_path(&e.source),
            });
        }
        if out.is_empty() {
            return Err(Error::Target {
                target: where_.into(),
                problem: "its crypttab names no encrypted volume".into(),
            });
        }
    } else {
        for a in args {
            let (name, device) = match a.split_once('=') {
                Some((n, d)) => (n.to_string(), d.to_string()),
                None => {
                    let e = crypttab.iter().find(|e| e.name == *a).ok_or_else(|| Error::Usage {
                        problem: format!(
                            "--volume {a}: not in the crypttab of {where_}; write --volume {a}=/dev/DEVICE"
                        ),
                    })?;
                    (a.clone(), device_path(&e.source))
                }
            };
            out.push(Volume { name, device });
        }
    }
    for v in &out {
        check_volume_name(&v.name)?;
        if v.device.is_empty() || v.device.contains(char::is_whitespace) {
            return Err(Error::Usage {
                problem: format!("volume `{}` has no usable device", v.name),
            });
        }
    }
    if out.len() > MAX_VOLUMES {
        return Err(Error::Usage {
            problem: format!(
                "{} volumes; the agent serves at most {MAX_VOLUMES}",
                out.len()
            ),
        });
    }
    Ok(out)
}

/// Everything about the agent's configuration that the admin chooses.
#[derive(Clone, Debug)]
pub struct Settings {
    pub board: Board,
    pub host_id: String,
    pub volumes: Vec<Volume>,
    /// Use the board's console (`serial` line).
    pub serial: bool,
    /// `listen` addresses; empty means the agent's default; `["off"]` disables TCP.
    pub listen: Vec<String>,
}

/// A volume name as the agent takes it (the core's one rule).
pub fn check_volume_name(name: &str) -> Result<()> {
    Name::new(name).map(drop).map_err(|e| Error::Usage {
        problem: format!("volume name `{name}`: {}", e.message()),
    })
}

/// A host id as the agent takes it (the core's one rule).
pub fn check_host_id(host_id: &str) -> Result<()> {
    Name::new(host_id).map(drop).map_err(|e| Error::Usage {
        problem: format!("host id `{host_id}`: {}; pass --host-id", e.message()),
    })
}

/// `--listen` values, and that something can still reach the agent: TCP, or the board's console
/// when `serial`.
pub fn check_reach(board: &Board, serial: bool, listen: &[String]) -> Result<()> {
    let listen = listen_from_args(listen).map_err(|bad| Error::Usage {
        problem: format!("--listen {bad}: not an address:port such as [::]:7743, nor `off` alone"),
    })?;
    if console_of(board, serial).is_none() && listen == Listen::Off {
        return Err(Error::Usage {
            problem: "--listen off and no serial console: nothing could reach the agent".into(),
        });
    }
    Ok(())
}

fn console_of(board: &Board, serial: bool) -> Option<Serial> {
    let c = board.console.as_ref().filter(|_| serial)?;
    Some(Serial {
        device: PathBuf::from(format!("/dev/{}", c.device)),
        baud: c.baud,
    })
}

impl Settings {
    /// Checks the host id and the listen values as the agent does.
    pub fn check(&self) -> Result<()> {
        check_host_id(&self.host_id)?;
        check_reach(&self.board, self.serial, &self.listen)
    }

    fn serial(&self) -> Option<Serial> {
        console_of(&self.board, self.serial)
    }

    /// `/etc/tessera/agent.conf` (format: docs/interfaces.md), rendered by `tessera_conf`.
    pub fn agent_conf(&self) -> String {
        Config {
            host_id: self.host_id.clone(),
            host_key: paths::HOST_KEY.into(),
            authorized_keys: paths::AUTHORIZED_KEYS.into(),
            // `check` refused listen values that are not addresses or `off`.
            listen: listen_from_args(&self.listen).unwrap_or(Listen::Default),
            serial: self.serial(),
            volumes: self
                .volumes
                .iter()
                .map(|v| conf::Volume {
                    name: v.name.clone(),
                    device: PathBuf::from(&v.device),
                    method: Method::Keyscript,
                })
                .collect(),
            run_dir: DEFAULT_RUN_DIR.into(),
            passfifo: DEFAULT_PASSFIFO.into(),
        }
        .render(&format!(
            "tessera-agent config, written by `tessera flash` for board {}; see docs/interfaces.md",
            self.board.name
        ))
    }

    /// `/etc/tessera/initramfs.conf`, sourced by the hook (NIC modules) and local-bottom (IFDOWN).
    pub fn initramfs_conf(&self) -> String {
        format!(
            "# written by `tessera flash` for board {}: NIC drivers the hook adds to the initramfs\nNIC_MODULES=\"{}\"\n",
            self.board.name,
            self.board.nic_modules.join(" ")
        )
    }
}

/// A file to put on the target.
#[derive(Clone, Debug)]
pub struct FileSpec {
    /// Absolute path on the target.
    pub path: String,
    pub mode: u32,
    /// Wiped on drop: one of these files is the host key's seed.
    pub data: Zeroizing<Vec<u8>>,
}

impl FileSpec {
    pub fn new(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> FileSpec {
        FileSpec {
            path: path.to_string(),
            mode,
            data: Zeroizing::new(data.into()),
        }
    }
}

/// The files of an install into a root filesystem (or over ssh).
pub fn root_files(
    settings: &Settings,
    agent: &[u8],
    hook: Option<&HookFiles>,
    host_key: Option<&HostKey>,
    admin_keys: &[String],
) -> Vec<FileSpec> {
    let mut files = vec![
        FileSpec::new(paths::AGENT_CONF, 0o644, settings.agent_conf()),
        FileSpec::new(paths::INITRAMFS_CONF, 0o644, settings.initramfs_conf()),
        FileSpec::new(paths::AUTHORIZED_KEYS, 0o644, lines(admin_keys)),
    ];
    if let Some(k) = host_key {
        files.push(FileSpec::new(paths::HOST_KEY, 0o600, k.seed.to_vec()));
        files.push(FileSpec::new(
            paths::HOST_KEY_PUB,
            0o644,
            format!("{}\n", k.public_line()),
        ));
    }
    if let Some(h) = hook {
        files.push(FileSpec::new(paths::AGENT, 0o755, agent.to_vec()));
        for (e, data) in &h.files {
            if let Some(local) = e.local {
                files.push(FileSpec::new(local, e.mode, data.clone()));
            }
        }
    }
    files
}

fn lines(v: &[String]) -> String {
    let mut s = String::new();
    for l in v {
        s.push_str(l);
        s.push('\n');
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::board;

    pub(crate) fn settings(board_name: &str) -> Settings {
        Settings {
            board: board::find(&board::builtin().unwrap(), board_name).unwrap(),
            host_id: "web1".into(),
            volumes: vec![Volume {
                name: "cryptroot".into(),
                device: "/dev/disk/by-uuid/5e2e0000-0000-4000-8000-000000000001".into(),
            }],
            serial: true,
            listen: vec![],
        }
    }

    #[test]
    fn agent_conf_follows_the_interface() {
        let s = settings("odroid-hc4");
        let conf = s.agent_conf();
        let body: Vec<&str> = conf.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            body,
            vec![
                "host-id web1",
                "host-key /etc/tessera/host_key",
                "authorized-keys /etc/tessera/authorized_keys",
                "serial /dev/ttyAML0 115200",
                "volume cryptroot /dev/disk/by-uuid/5e2e0000-0000-4000-8000-000000000001 keyscript",
            ]
        );
        assert!(s.initramfs_conf().contains("NIC_MODULES=\"dwmac_meson8b "));
        let mut h3 = settings("odroid-h3");
        h3.listen = vec!["0.0.0.0:7743".into()];
        assert!(
            !h3.agent_conf().contains("serial"),
            "the H3 has no console in its profile"
        );
        assert!(h3.agent_conf().contains("listen 0.0.0.0:7743\n"));
        h3.listen = vec!["off".into()];
        assert!(h3.check().is_err());
        let mut bad = settings("rpi4");
        bad.host_id = "web 1".into();
        assert!(bad.check().is_err());
    }

    #[test]
    fn crypttab_and_volume_choice() {
        let tab = parse_crypttab(
            "# <target> <source> <key> <options>\ncryptroot UUID=abc none luks,initramfs\n\
             swap /dev/sda3 /dev/urandom swap,noauto\ndata PARTUUID=p1 none luks\n",
        );
        assert_eq!(tab.len(), 3);
        let v = choose_volumes(&[], &tab, "root").unwrap();
        assert_eq!(
            v,
            vec![
                Volume {
                    name: "cryptroot".into(),
                    device: "/dev/disk/by-uuid/abc".into()
                },
                Volume {
                    name: "data".into(),
                    device: "/dev/disk/by-partuuid/p1".into()
                },
            ]
        );
        let v = choose_volumes(&["data".into(), "x=/dev/vdb".into()], &tab, "root").unwrap();
        assert_eq!(v[1].device, "/dev/vdb");
        assert!(choose_volumes(&["nope".into()], &tab, "root").is_err());
        assert!(choose_volumes(&[], &[], "root").is_err());
    }

    #[test]
    fn agents_of_the_wrong_architecture_are_refused() {
        let arm = elf::fake_header(183, false);
        assert!(check_agent(Path::new("a"), &arm, Arch::Arm64)
            .unwrap()
            .is_empty());
        let err = check_agent(Path::new("a"), &arm, Arch::Amd64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a is built for aarch64, but the target is x86_64"
        );
        assert!(check_agent(Path::new("a"), b"#!/bin/sh\n", Arch::Amd64).is_err());
        let dynamic = elf::fake_header(62, true);
        assert_eq!(
            check_agent(Path::new("a"), &dynamic, Arch::Amd64)
                .unwrap()
                .len(),
            1
        );
        let err = find_agent(Some(Path::new("/nonexistent/agent")), Arch::Amd64).unwrap_err();
        assert!(matches!(err, Error::NoAgent { .. }));
    }
}
