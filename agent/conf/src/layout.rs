//! Where tessera's files go: on a target (the root filesystem and inside its initramfs,
//! docs/interfaces.md) and on the admin's machine (the config folder). Only paths: nothing here
//! creates or reads a file.

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
/// The initramfs-tools hook as a local admin's (flash): packages use /usr/share/initramfs-tools.
pub const HOOK: &str = "/etc/initramfs-tools/hooks/tessera";
/// The boot script that starts the agent.
pub const INIT_PREMOUNT: &str = "/etc/initramfs-tools/scripts/init-premount/tessera";
/// The boot script that stops it.
pub const LOCAL_BOTTOM: &str = "/etc/initramfs-tools/scripts/local-bottom/tessera";
/// The initramfs-tools configuration snippet.
pub const CONF_HOOK: &str = "/etc/initramfs-tools/conf.d/tessera";
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
