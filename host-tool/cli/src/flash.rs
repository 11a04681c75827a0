//! `tessera flash initrd FILE | root DIR | ssh USER@HOST` and `tessera boards`: the argh layer over
//! the tessera-flash library. It builds the library's typed options, prints the report on stdout
//! and turns a failure into a [`ToolError`], so flash shares the tool's exit codes (a bad command
//! line or an unknown board is a usage error, 2, as in every verb). The work is in tessera-flash.
//!
//! argh has no `flatten`: the options every mode shares are written once, in
//! `with_shared_options!`, which adds them to each mode's sub-verb; options one mode alone has
//! live on that sub-verb only.

use std::path::PathBuf;

use argh::FromArgs;
use tessera_core::openssh::fingerprint;
use tessera_flash::modes::ssh::SshTarget;
use tessera_flash::text::{boards_table, render};
use tessera_flash::{board, Mode, Options};

use crate::error::{Result, ToolError};

/// install tessera-agent into an initrd or uInitrd, a mounted root filesystem, or a host over ssh
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "flash",
    example = "tessera flash ssh root@hc4 --board odroid-hc4 --dry-run",
    example = "tessera flash root /mnt --board generic-x86_64 --update-initramfs",
    example = "tessera flash initrd /boot/initrd.img-6.1.0-amd64 --board qemu-amd64",
    note = "Every mode checks the target first and has --dry-run; `tessera flash MODE --help` lists the options."
)]
pub struct Flash {
    #[argh(subcommand)]
    pub mode: FlashMode,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum FlashMode {
    Initrd(InitrdCmd),
    Root(RootCmd),
    Ssh(SshCmd),
}

/// Declares a flash sub-verb: its own fields first, then the options every mode shares, and
/// `shared()`, which turns those into the library's [`Options`]. A mode's own field types are
/// matched as plain names (`bool`, `PathBuf`): argh reads a field's type tokens to tell a switch
/// from an option, and an opaque `ty` fragment would hide them.
macro_rules! with_shared_options {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$field_attr:meta])* pub $field:ident: $ty:ident,)*
        }
    ) => {
        #[derive(FromArgs, Debug)]
        $(#[$attr])*
        pub struct $name {
            $($(#[$field_attr])* pub $field: $ty,)*
            /// board profile (`tessera boards` lists them): architecture, serial console, NIC modules
            #[argh(option)]
            pub board: String,
            /// the tessera-agent binary (default: the build for the target's architecture)
            #[argh(option)]
            pub agent: Option<PathBuf>,
            /// directory with the initramfs-tools hook files (default: the installed or source copy)
            #[argh(option)]
            pub hook_dir: Option<PathBuf>,
            /// read board profiles from this directory instead of the built-in ones
            #[argh(option)]
            pub boards: Option<PathBuf>,
            /// host id in challenges (default: the target's hostname)
            #[argh(option)]
            pub host_id: Option<String>,
            /// volume to serve, NAME (from crypttab) or NAME=DEVICE; repeatable (default: all of crypttab)
            #[argh(option)]
            pub volume: Vec<String>,
            /// TCP address the agent listens on, or "off"; repeatable (default [::]:7743)
            #[argh(option)]
            pub listen: Vec<String>,
            /// do not let the agent own the board's serial console
            #[argh(switch)]
            pub no_serial: bool,
            /// admin public key (ssh-ed25519 line or file); repeatable (default: your own key)
            #[argh(option)]
            pub admin_key: Vec<String>,
            /// an authorized_keys file whose ssh-ed25519 keys become admin keys
            #[argh(option)]
            pub authorized_keys: Option<PathBuf>,
            /// use this 32-byte seed file as the host key
            #[argh(option)]
            pub host_key: Option<PathBuf>,
            /// make a new host key even if the target has one, and replace its pin in known_hosts
            #[argh(switch)]
            pub new_host_key: bool,
            /// do not pin the host key in ~/.config/tessera/known_hosts
            #[argh(switch)]
            pub no_pin: bool,
            /// show what would change, change nothing
            #[argh(switch)]
            pub dry_run: bool,
        }

        impl $name {
            fn shared(&self) -> Options {
                Options {
                    board: self.board.clone(),
                    boards: self.boards.clone(),
                    agent: self.agent.clone(),
                    hook_dir: self.hook_dir.clone(),
                    host_id: self.host_id.clone(),
                    volumes: self.volume.clone(),
                    listen: self.listen.clone(),
                    serial: !self.no_serial,
                    admin_keys: self.admin_key.clone(),
                    authorized_keys: self.authorized_keys.clone(),
                    host_key: self.host_key.clone(),
                    new_host_key: self.new_host_key,
                    pin: !self.no_pin,
                    dry_run: self.dry_run,
                }
            }
        }
    };
}

with_shared_options! {
    /// append a tessera segment to an initrd or uInitrd (keeps FILE.bak); a later update-initramfs drops it
    #[argh(subcommand, name = "initrd")]
    pub struct InitrdCmd {
        /// the initrd or uInitrd to change
        #[argh(positional, arg_name = "FILE")]
        pub file: PathBuf,
    }
}

with_shared_options! {
    /// install the agent, its keys and the initramfs-tools hook into the root filesystem mounted at DIR
    #[argh(subcommand, name = "root")]
    pub struct RootCmd {
        /// the mounted root filesystem
        #[argh(positional, arg_name = "DIR")]
        pub dir: PathBuf,
        /// then run update-initramfs -u -k all in a chroot and check with lsinitramfs
        #[argh(switch)]
        pub update_initramfs: bool,
    }
}

with_shared_options! {
    /// install on a host over ssh, run update-initramfs there and check with lsinitramfs
    #[argh(subcommand, name = "ssh")]
    pub struct SshCmd {
        /// where ssh logs in, e.g. root@web1
        #[argh(positional, arg_name = "USER@HOST")]
        pub destination: String,
        /// ssh command and options (default "ssh"), e.g. "ssh -p 2222 -i key"
        #[argh(option, default = "String::from(\"ssh\")")]
        pub ssh_command: String,
        /// the target root on the remote host (default /; else commands run in chroot)
        #[argh(option, default = "String::from(\"/\")")]
        pub remote_root: String,
        /// do not run update-initramfs on the host (it runs by default)
        #[argh(switch)]
        pub no_update_initramfs: bool,
    }
}

/// list the board profiles tessera knows (architecture, serial console, initrd format)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "boards")]
pub struct Boards {
    /// print JSON instead of a table
    #[argh(switch)]
    pub json: bool,
    /// read the profiles from this directory instead of the built-in ones
    #[argh(option)]
    pub boards: Option<PathBuf>,
}

/// The library's mode and options for a parsed `tessera flash MODE ...`.
fn typed(mode: FlashMode) -> (Mode, Options) {
    match mode {
        FlashMode::Initrd(c) => (
            Mode::Initrd {
                file: c.file.clone(),
            },
            c.shared(),
        ),
        FlashMode::Root(c) => (
            Mode::Root {
                dir: c.dir.clone(),
                update_initramfs: c.update_initramfs,
            },
            c.shared(),
        ),
        FlashMode::Ssh(c) => (
            Mode::Ssh(SshTarget {
                destination: c.destination.clone(),
                command: c.ssh_command.clone(),
                root: c.remote_root.clone(),
                update_initramfs: !c.no_update_initramfs,
            }),
            c.shared(),
        ),
    }
}

pub fn run_flash(args: Flash) -> Result<()> {
    let (mode, options) = typed(args.mode);
    let report = tessera_flash::run(&mode, &options).map_err(|error| ToolError::Flash {
        verb: "tessera flash",
        error,
    })?;
    if let Some(old) = report.replaced_pin {
        eprintln!(
            "tessera flash: --new-host-key: replaced the pin of {} ({} -> {})",
            report.host_id,
            fingerprint(&old),
            fingerprint(&report.host_public)
        );
    }
    print!("{}", render(&report, options.dry_run));
    Ok(())
}

pub fn run_boards(args: Boards) -> Result<()> {
    let boards = board::load(args.boards.as_deref()).map_err(|error| ToolError::Flash {
        verb: "tessera boards",
        error,
    })?;
    if args.json {
        let json = serde_json::to_string_pretty(&boards).map_err(ToolError::EncodeJson)?;
        println!("{json}");
    } else {
        print!("{}", boards_table(&boards));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> (Mode, Options) {
        let f = Flash::from_args(&["tessera", "flash"], args).unwrap();
        typed(f.mode)
    }

    #[test]
    fn each_mode_takes_its_target_and_the_shared_options() {
        let (mode, o) = parse(&[
            "initrd",
            "/boot/initrd.img",
            "--board",
            "qemu-amd64",
            "--no-pin",
        ]);
        assert_eq!(
            mode,
            Mode::Initrd {
                file: "/boot/initrd.img".into()
            }
        );
        assert_eq!(
            (o.board.as_str(), o.pin, o.serial),
            ("qemu-amd64", false, true)
        );
        let (mode, _) = parse(&["root", "/mnt", "--board", "rpi4", "--update-initramfs"]);
        assert_eq!(
            mode,
            Mode::Root {
                dir: "/mnt".into(),
                update_initramfs: true
            }
        );
        let (mode, o) = parse(&["ssh", "root@hc4", "--board", "odroid-hc4", "--dry-run"]);
        let Mode::Ssh(t) = mode else { panic!() };
        assert_eq!(
            (t.destination.as_str(), t.command.as_str(), t.root.as_str()),
            ("root@hc4", "ssh", "/")
        );
        assert!(t.update_initramfs && o.dry_run);
    }

    #[test]
    fn a_mode_option_is_refused_on_another_mode() {
        for args in [
            &["initrd", "f", "--board", "b", "--update-initramfs"][..],
            &["root", "d", "--board", "b", "--ssh-command", "ssh"][..],
            &["ssh", "h", "--board", "b", "--update-initramfs"][..],
        ] {
            assert!(
                Flash::from_args(&["tessera", "flash"], args).is_err(),
                "{args:?}"
            );
        }
    }
}
