//! Errors of `tessera flash` and `tessera boards`.
//!
//! Every failure an admin can meet is one variant here, with a message that says what went wrong and
//! a hint that says what to do next; the CLI prints both on one line. Nothing here may print or exit.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, with enough context to name the file, field or host involved.
#[derive(Debug)]
pub enum Error {
    /// A board profile could not be read or is invalid; `field` is a dotted path (`console.baud`).
    Board {
        file: String,
        field: String,
        problem: String,
    },
    /// `--board NAME` names no profile.
    UnknownBoard { name: String, known: Vec<String> },
    /// A file or directory could not be read or written.
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// A newc cpio archive is malformed.
    Cpio { problem: String },
    /// An initrd (or its compressed members) could not be understood.
    Initrd { path: PathBuf, problem: String },
    /// A U-Boot legacy image header is malformed or its CRCs do not match.
    UImage { problem: String },
    /// The agent binary is not an ELF for the target's architecture.
    WrongArch {
        agent: PathBuf,
        found: String,
        wanted: String,
    },
    /// No agent binary could be found for an architecture.
    NoAgent { arch: String, tried: Vec<PathBuf> },
    /// The target has no cryptsetup (or its initramfs would not contain it).
    NoCryptsetup { target: String },
    /// The target is not an initramfs-tools system, or lacks something else tessera needs.
    Target { target: String, problem: String },
    /// A command (ssh, update-initramfs, ...) failed.
    Command { command: String, problem: String },
    /// A key or authorized_keys line is unusable.
    Key {
        source_name: String,
        problem: String,
    },
    /// The image or root uses dracut, which no flash mode installs into.
    Dracut { target: String },
    /// The admin's known_hosts pins the host id to another key than the one flashed.
    PinDiffers {
        host_id: String,
        known_hosts: PathBuf,
        pinned: String,
        flashed: String,
    },
    /// The command line is inconsistent.
    Usage { problem: String },
}

impl Error {
    /// Wraps an I/O error with the path and what was being done.
    pub fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    /// What the admin should do next.
    pub fn hint(&self) -> String {
        match self {
            Error::Board { .. } => {
                "fix that field (compare with boards/generic-x86_64.toml; `tessera boards` lists the valid ones)".into()
            }
            Error::UnknownBoard { known, .. } => {
                format!("use one of: {} (or --boards DIR for your own profiles)", known.join(", "))
            }
            Error::Io { .. } => "check that the path exists and that you may read or write it".into(),
            Error::Cpio { .. } => "the archive is damaged or not newc (\"070701\"); rebuild it".into(),
            Error::Initrd { .. } => {
                "rebuild the initrd with update-initramfs, or restore the .bak copy tessera kept".into()
            }
            Error::UImage { .. } => "rebuild it with mkimage -A arm64 -O linux -T ramdisk -d initrd.img uInitrd".into(),
            Error::WrongArch { wanted, .. } => {
                format!("pass --agent with the {wanted} build (scripts/build-agents.sh builds both)")
            }
            Error::NoAgent { arch, .. } => {
                format!("build it with scripts/build-agents.sh or pass --agent FILE (a static {arch} tessera-agent)")
            }
            Error::NoCryptsetup { .. } => {
                "install cryptsetup-initramfs on the target (apt-get install cryptsetup-initramfs) and retry".into()
            }
            Error::Target { .. } => "check --board and the target path or host, then retry with --dry-run".into(),
            Error::Command { .. } => "run the command by hand to see its full output, fix the cause, retry".into(),
            Error::Key { .. } => "give an OpenSSH ssh-ed25519 public key line (ssh-keygen -t ed25519 makes one)".into(),
            // No flash mode installs the dracut module: name the tool that does, not another mode.
            Error::Dracut { .. } => "on that system, run initramfs-hook/install.sh (it adds the dracut module 95tessera), put tessera-agent in /usr/lib/tessera and its config in /etc/tessera (docs/interfaces.md), then run dracut -f".into(),
            Error::PinDiffers { .. } => {
                "nothing was written; if the host's key changes on purpose (a reinstalled host), run the same command with --new-host-key, which replaces the pin".into()
            }
            Error::Usage { .. } => "see `tessera flash initrd --help` (or root, ssh): the options of each mode".into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Board {
                file,
                field,
                problem,
            } => write!(f, "{file}: field `{field}`: {problem}"),
            Error::UnknownBoard { name, .. } => write!(f, "unknown board `{name}`"),
            Error::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Error::Cpio { problem } => write!(f, "bad cpio archive: {problem}"),
            Error::Initrd { path, problem } => write!(f, "{}: {problem}", path.display()),
            Error::UImage { problem } => write!(f, "bad U-Boot image: {problem}"),
            Error::WrongArch {
                agent,
                found,
                wanted,
            } => write!(
                f,
                "{} is built for {found}, but the target is {wanted}",
                agent.display()
            ),
            Error::NoAgent { arch, tried } => {
                let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "no {arch} tessera-agent found (tried {})",
                    tried.join(", ")
                )
            }
            Error::NoCryptsetup { target } => {
                write!(
                    f,
                    "{target} has no cryptsetup-initramfs (no cryptsetup in its initramfs)"
                )
            }
            Error::Target { target, problem } => write!(f, "{target}: {problem}"),
            Error::Command { command, problem } => write!(f, "`{command}` failed: {problem}"),
            Error::Key {
                source_name,
                problem,
            } => write!(f, "{source_name}: {problem}"),
            Error::Dracut { target } => write!(
                f,
                "{target} uses dracut: tessera flash installs initramfs-tools boot scripts only"
            ),
            Error::PinDiffers {
                host_id,
                known_hosts,
                pinned,
                flashed,
            } => write!(
                f,
                "{} pins {host_id} to {pinned}, not to the flashed host key {flashed}",
                known_hosts.display()
            ),
            Error::Usage { problem } => write!(f, "{problem}"),
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
