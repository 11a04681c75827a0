//! One `tessera flash`, typed: the options every mode shares ([`Options`]), the mode with its own
//! options ([`Mode`]), and [`run`], which loads the board, hands both to the mode and pins the
//! host key. The host tool's argh layer builds these; nothing here parses a command line or prints.

use crate::board;
use crate::bundle;
use crate::error::Result;
use crate::inputs::{self, Inputs, Report};
use crate::modes::{self, ssh::SshTarget};
use std::path::PathBuf;

/// How tessera-agent gets onto the target, with the options only that way has.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Append a segment to this initrd or uInitrd (keeps FILE.bak).
    Initrd { file: PathBuf },
    /// Install into the root filesystem mounted at `dir`; `update_initramfs` runs it in a chroot.
    Root {
        dir: PathBuf,
        update_initramfs: bool,
    },
    /// Install on a host over ssh.
    Ssh(SshTarget),
}

/// The options every mode shares.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Board profile name (`tessera boards`).
    pub board: String,
    /// Read board profiles from this directory instead of the built-in ones.
    pub boards: Option<PathBuf>,
    /// The tessera-agent binary (default: the build for the target's architecture).
    pub agent: Option<PathBuf>,
    /// The initramfs-tools hook files (default: the installed or source copy).
    pub hook_dir: Option<PathBuf>,
    /// Host id in challenges (default: the target's hostname).
    pub host_id: Option<String>,
    /// `NAME` or `NAME=DEVICE` (default: all of crypttab).
    pub volumes: Vec<String>,
    /// TCP addresses to listen on, or "off" (default `[::]:7743`).
    pub listen: Vec<String>,
    /// Let the agent own the board's serial console.
    pub serial: bool,
    /// Admin public keys (ssh-ed25519 lines or files; default: the admin's own key).
    pub admin_keys: Vec<String>,
    /// An authorized_keys file whose ssh-ed25519 keys become admin keys.
    pub authorized_keys: Option<PathBuf>,
    /// A 32-byte seed file to use as the host key.
    pub host_key: Option<PathBuf>,
    /// Make a new host key even if the target has one, and replace its pin in known_hosts.
    pub new_host_key: bool,
    /// Pin the host key in ~/.config/tessera/known_hosts.
    pub pin: bool,
    /// Show what would change, change nothing.
    pub dry_run: bool,
}

/// Installs (or, with `dry_run`, plans) tessera on the target `mode` names.
pub fn run(mode: &Mode, options: &Options) -> Result<Report> {
    let boards = board::load(options.boards.as_deref())?;
    let inputs = Inputs {
        board: board::find(&boards, &options.board)?,
        options,
    };
    check_arguments(&inputs)?;
    let mut report = match mode {
        Mode::Initrd { file } => modes::initrd::run(file, &inputs)?,
        Mode::Root {
            dir,
            update_initramfs,
        } => modes::root::run(dir, &inputs, *update_initramfs)?,
        Mode::Ssh(target) => modes::ssh::run(target, &inputs)?,
    };
    report.replaced_pin = inputs::pin(
        &mut report,
        options.dry_run,
        !options.pin,
        options.new_host_key,
    )?;
    Ok(report)
}

/// What the command line alone can get wrong is refused before any target is read; the modes
/// check the same again once the target filled in the defaults.
fn check_arguments(inputs: &Inputs<'_>) -> Result<()> {
    let o = inputs.options;
    if let Some(id) = &o.host_id {
        bundle::check_host_id(id.trim())?;
    }
    for v in &o.volumes {
        bundle::check_volume_name(v.split_once('=').map_or(v.as_str(), |(name, _)| name))?;
    }
    bundle::check_reach(&inputs.board, o.serial, &o.listen)
}
