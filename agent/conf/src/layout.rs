//! Where tessera's files go: on a target (the root filesystem and inside its initramfs,
//! docs/interfaces.md; the hook files by `initramfs-hook/MANIFEST`, compiled in) and on the
//! admin's machine (the config folder). Only paths: nothing here creates or reads a file.

use std::path::PathBuf;

/// Folder of the agent's config and keys on a target.
pub const CONF_DIR: &str = "/etc/tessera";
/// The agent's config ([`crate::agent_conf`]).
pub const AGENT_CONF: &str = "/etc/tessera/agent.conf";
/// The agent's host key: a 32-byte seed, mode 0600.
pub const HOST_KEY: &str = "/etc/tessera/host_key";
/// Its `.pub` line.
pub const HOST_KEY_PUB: &str = "/etc/tessera/host_key.pub";
/// The admins' keys.
pub const AUTHORIZED_KEYS: &str = "/etc/tessera/authorized_keys";
/// Sourced by the hook and local-bottom (`NIC_MODULES=...`).
pub const INITRAMFS_CONF: &str = "/etc/tessera/initramfs.conf";
/// The agent binary on the root filesystem.
pub const AGENT: &str = "/usr/lib/tessera/tessera-agent";
/// The keyscript on the root filesystem.
pub const KEYSCRIPT: &str = "/usr/lib/tessera/keyscript";
/// The agent inside the initramfs.
pub const INITRD_AGENT: &str = "/sbin/tessera-agent";
/// The keyscript inside the initramfs.
pub const INITRD_KEYSCRIPT: &str = "/lib/tessera/keyscript";

/// The admin's tessera folder: `$XDG_CONFIG_HOME/tessera`, else `~/.config/tessera`; `None`
/// without either variable.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("tessera"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config").join("tessera"))
}

/// The admin's host key pins, in [`config_dir`].
pub const KNOWN_HOSTS_FILE: &str = "known_hosts";

/// `initramfs-hook/MANIFEST`: which hook files exist and where each goes (format in its header).
pub const HOOK_MANIFEST: &str = include_str!("../../../initramfs-hook/MANIFEST");

/// The keyscript, in `initramfs-hook/` (SOURCE of the manifest).
pub const KEYSCRIPT_SOURCE: &str = "lib/keyscript";
/// The boot script that starts the agent, in `initramfs-hook/`.
pub const INIT_PREMOUNT_SOURCE: &str = "scripts/init-premount/tessera";
/// The boot script that stops it, in `initramfs-hook/`.
pub const LOCAL_BOTTOM_SOURCE: &str = "scripts/local-bottom/tessera";
/// The initramfs-tools hook, in `initramfs-hook/` (its presence marks a hook folder).
pub const HOOK_SOURCE: &str = "hooks/tessera";

/// One line of [`HOOK_MANIFEST`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookEntry {
    /// Path under `initramfs-hook/`.
    pub source: &'static str,
    /// File mode.
    pub mode: u32,
    /// Where install.sh and the tessera-agent package put it.
    pub dest: &'static str,
    /// Where `tessera flash` puts it; `None` for the dracut module, which flash leaves out.
    pub local: Option<&'static str>,
}

/// The lines of [`HOOK_MANIFEST`], in order. A line that is not `SOURCE MODE DEST LOCAL` (the
/// manifest's own test checks there is none) is skipped.
pub fn hook_manifest() -> Vec<HookEntry> {
    HOOK_MANIFEST
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let w: Vec<&'static str> = l.split_whitespace().collect();
            let [source, mode, dest, local] = w.as_slice() else {
                return None;
            };
            Some(HookEntry {
                source,
                mode: u32::from_str_radix(mode, 8).ok()?,
                dest,
                local: (*local != "-").then_some(*local),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_line_parses_and_names_an_existing_file() {
        let lines = HOOK_MANIFEST
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        let entries = hook_manifest();
        assert_eq!(entries.len(), lines, "a line is not SOURCE MODE DEST LOCAL");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../initramfs-hook");
        for e in &entries {
            assert!(dir.join(e.source).is_file(), "{} is missing", e.source);
            assert!(e.dest.starts_with('/'), "{e:?}");
            assert!(e.local.is_none_or(|l| l.starts_with('/')), "{e:?}");
        }
        for s in [
            KEYSCRIPT_SOURCE,
            INIT_PREMOUNT_SOURCE,
            LOCAL_BOTTOM_SOURCE,
            HOOK_SOURCE,
        ] {
            assert!(
                entries.iter().any(|e| e.source == s && e.local.is_some()),
                "{s} is not installed by flash"
            );
        }
        // ... and every hook file is in the manifest (install.sh and the packages go by it).
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for f in std::fs::read_dir(&d).unwrap().flatten() {
                let p = f.path();
                let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
                if p.is_dir() {
                    if rel != "debian" {
                        stack.push(p);
                    }
                } else if rel != "MANIFEST" && rel != "install.sh" {
                    assert!(
                        entries.iter().any(|e| e.source == rel),
                        "initramfs-hook/{rel} is not in initramfs-hook/MANIFEST"
                    );
                }
            }
        }
        let keyscript = entries.iter().find(|e| e.source == KEYSCRIPT_SOURCE);
        assert_eq!(keyscript.map(|e| e.dest), Some(KEYSCRIPT));
    }
}
