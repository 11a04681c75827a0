//! The `tessera boards` and `tessera flash` subcommands (argh), for the host tool's main.rs to embed.
//!
//! This is the only module that prints: results on stdout, one-line errors with a hint on stderr.

use crate::board::{self, Board};
use crate::error::{Error, Result};
use crate::inputs::{self, Inputs, Report};
use crate::ssh::SshTarget;
use crate::{append, root, ssh};
use argh::FromArgs;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for a refused or failed flash/boards command (bad input, mismatch, I/O).
pub const EXIT_FAILURE: u8 = 1;

/// Prints `tessera <verb>: message (hint)` on stderr and returns the failure exit code.
pub fn report(verb: &str, e: &Error) -> ExitCode {
    eprintln!("tessera {verb}: {e}; {}", e.hint());
    ExitCode::from(EXIT_FAILURE)
}

/// List the board profiles tessera knows (architecture, serial console, initrd format).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "boards")]
pub struct BoardsCmd {
    /// print JSON instead of a table
    #[argh(switch)]
    pub json: bool,
    /// read the profiles from this directory instead of the built-in ones
    #[argh(option)]
    pub boards: Option<PathBuf>,
}

impl BoardsCmd {
    /// Runs the command; the exit code is 0 or [`EXIT_FAILURE`].
    pub fn run(self) -> ExitCode {
        match board::load(self.boards.as_deref()) {
            Ok(boards) => {
                if self.json {
                    match serde_json::to_string_pretty(&boards) {
                        Ok(s) => println!("{s}"),
                        Err(e) => {
                            eprintln!("tessera boards: cannot encode JSON: {e}");
                            return ExitCode::from(EXIT_FAILURE);
                        }
                    }
                } else {
                    print!("{}", boards_table(&boards));
                }
                ExitCode::SUCCESS
            }
            Err(e) => report("boards", &e),
        }
    }
}

/// Install tessera-agent: into an initrd or uInitrd (--initrd), a mounted root filesystem (--root),
/// or a host over ssh (--ssh). Every mode checks the target first and has --dry-run.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "flash")]
pub struct FlashCmd {
    /// board profile (`tessera boards` lists them): architecture, serial console, NIC modules
    #[argh(option)]
    pub board: String,
    /// append a tessera segment to this initrd or uInitrd (keeps FILE.bak)
    #[argh(option)]
    pub initrd: Option<PathBuf>,
    /// install into the root filesystem mounted at DIR
    #[argh(option)]
    pub root: Option<PathBuf>,
    /// install on USER@HOST over ssh, run update-initramfs there, check with lsinitramfs
    #[argh(option)]
    pub ssh: Option<String>,
    /// ssh command and options for --ssh (default "ssh"), e.g. "ssh -p 2222 -i key"
    #[argh(option, default = "String::from(\"ssh\")")]
    pub ssh_command: String,
    /// with --ssh: the target root on the remote host (default /; else commands run in chroot)
    #[argh(option, default = "String::from(\"/\")")]
    pub remote_root: String,
    /// with --root: run update-initramfs -u -k all in a chroot and check with lsinitramfs
    #[argh(switch)]
    pub update_initramfs: bool,
    /// with --ssh: do not run update-initramfs
    #[argh(switch)]
    pub no_update_initramfs: bool,
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

impl FlashCmd {
    /// Runs the command; the exit code is 0 or [`EXIT_FAILURE`].
    pub fn run(self) -> ExitCode {
        let dry_run = self.dry_run;
        match self.execute() {
            Ok(report) => {
                print!("{}", render(&report, dry_run));
                ExitCode::SUCCESS
            }
            Err(e) => report("flash", &e),
        }
    }

    /// Does the work and returns what happened (for tests and embedding).
    pub fn execute(self) -> Result<Report> {
        let modes = [
            self.initrd.is_some(),
            self.root.is_some(),
            self.ssh.is_some(),
        ];
        if modes.iter().filter(|m| **m).count() != 1 {
            return Err(Error::Usage {
                problem: "give exactly one of --initrd FILE, --root DIR, --ssh USER@HOST".into(),
            });
        }
        let boards = board::load(self.boards.as_deref())?;
        let inputs = Inputs {
            board: board::find(&boards, &self.board)?,
            agent: self.agent,
            hook_dir: self.hook_dir,
            host_id: self.host_id,
            volumes: self.volume,
            listen: self.listen,
            serial: !self.no_serial,
            admin_keys: self.admin_key,
            authorized_keys: self.authorized_keys,
            host_key: self.host_key,
            new_host_key: self.new_host_key,
            dry_run: self.dry_run,
        };
        let mut report = if let Some(f) = &self.initrd {
            append::run(f, &inputs)?
        } else if let Some(d) = &self.root {
            root::run(d, &inputs, self.update_initramfs)?
        } else {
            let target = SshTarget {
                destination: self.ssh.clone().unwrap_or_default(),
                command: self.ssh_command,
                root: self.remote_root,
                update_initramfs: !self.no_update_initramfs,
            };
            ssh::run(&target, &inputs)?
        };
        if let Some(old) = inputs::pin(&mut report, self.dry_run, self.no_pin, self.new_host_key)? {
            eprintln!(
                "tessera flash: --new-host-key: replaced the pin of {} ({} -> {})",
                report.host_id,
                crate::keys::fingerprint(&old),
                crate::keys::fingerprint(&report.host_public)
            );
        }
        Ok(report)
    }
}

/// The text `tessera flash` prints.
pub fn render(r: &Report, dry_run: bool) -> String {
    let mut s = String::new();
    if dry_run {
        s.push_str("dry run: nothing was changed; this would be done:\n");
    }
    for a in &r.actions {
        s.push_str(&format!("  {a}\n"));
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push_str(&format!(
        "host {}: {}\n",
        r.host_id,
        crate::keys::openssh_line(&r.host_public, "").trim()
    ));
    s
}

/// The human table of `tessera boards`.
pub fn boards_table(boards: &[Board]) -> String {
    let mut rows = vec![[
        "BOARD".to_string(),
        "ARCH".into(),
        "CONSOLE".into(),
        "INITRD".into(),
        "CMDLINE".into(),
        "DESCRIPTION".into(),
    ]];
    for b in boards {
        let console = b
            .console
            .as_ref()
            .map(|c| format!("{}@{}", c.device, c.baud))
            .unwrap_or_else(|| "-".into());
        let cmdline = match (&b.cmdline.file, &b.cmdline.key) {
            (Some(f), Some(k)) => format!("{f}:{k}"),
            (Some(f), None) => f.clone(),
            _ => "qemu -append".into(),
        };
        let initrd = match b.initrd_format {
            board::InitrdFormat::Plain => "plain",
            board::InitrdFormat::Uinitrd => "uInitrd",
        };
        rows.push([
            b.name.clone(),
            b.architecture.debian().into(),
            console,
            initrd.into(),
            cmdline,
            b.description.clone(),
        ]);
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boards_table_shows_console_initrd_and_cmdline() {
        let table = boards_table(&board::builtin().unwrap());
        let hc4 = table
            .lines()
            .find(|l| l.starts_with("odroid-hc4 "))
            .unwrap();
        for part in [
            "arm64",
            "ttyAML0@115200",
            "uInitrd",
            "/boot/armbianEnv.txt:extraargs",
        ] {
            assert!(hc4.contains(part), "{hc4}");
        }
        let h3 = table.lines().find(|l| l.starts_with("odroid-h3 ")).unwrap();
        assert!(
            h3.contains("amd64") && h3.contains("/etc/default/grub:GRUB_CMDLINE_LINUX"),
            "{h3}"
        );
        assert_eq!(table.lines().count(), 1 + board::builtin().unwrap().len());
    }

    #[test]
    fn boards_json_round_trips() {
        let boards = board::builtin().unwrap();
        let json = serde_json::to_string(&boards).unwrap();
        let back: Vec<Board> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, boards);
        assert!(json.contains("\"initrd-format\":\"uinitrd\""), "{json}");
    }
}
