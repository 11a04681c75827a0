//! The `tessera boards` and `tessera flash` subcommands (argh), for the host tool's main.rs to embed.
//!
//! This is the only module that prints: results on stdout, one-line errors with a hint on stderr.

use crate::board::{self, Board};
use crate::error::Error;
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
