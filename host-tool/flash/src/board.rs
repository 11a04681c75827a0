//! Board profiles: one TOML file per board under `boards/` (architecture, serial console, initrd
//! format, NIC modules, where the kernel command line lives).
//!
//! The profiles shipped in the repository are compiled in, so `tessera` works from any directory;
//! `--boards DIR` reads another set. A broken profile is refused with its file and the dotted name of
//! the bad field; this module never guesses a missing value.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The profiles in the repository's `boards/`, compiled in.
const BUILTIN: &[(&str, &str)] = &[
    (
        "generic-arm64.toml",
        include_str!("../../../boards/generic-arm64.toml"),
    ),
    (
        "generic-x86_64.toml",
        include_str!("../../../boards/generic-x86_64.toml"),
    ),
    (
        "odroid-h3.toml",
        include_str!("../../../boards/odroid-h3.toml"),
    ),
    (
        "odroid-hc4.toml",
        include_str!("../../../boards/odroid-hc4.toml"),
    ),
    (
        "qemu-amd64.toml",
        include_str!("../../../boards/qemu-amd64.toml"),
    ),
    (
        "qemu-arm64-uboot.toml",
        include_str!("../../../boards/qemu-arm64-uboot.toml"),
    ),
    (
        "qemu-arm64.toml",
        include_str!("../../../boards/qemu-arm64.toml"),
    ),
    ("rock-5b.toml", include_str!("../../../boards/rock-5b.toml")),
    ("rpi4.toml", include_str!("../../../boards/rpi4.toml")),
    ("rpi5.toml", include_str!("../../../boards/rpi5.toml")),
];

/// CPU architecture: the one definition in `tessera_conf` (profiles name it `architecture`).
pub use tessera_conf::Arch;

/// How the bootloader hands the initrd to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitrdFormat {
    /// The initrd file as update-initramfs writes it (GRUB, Raspberry Pi firmware, qemu -initrd).
    Plain,
    /// Wrapped in a 64-byte U-Boot legacy header (Armbian's /boot/uInitrd).
    Uinitrd,
}

/// The serial line the agent owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// Device name under /dev (`ttyAML0`).
    pub device: String,
    /// Line speed in baud.
    pub baud: u32,
}

/// Where the kernel command line is kept on the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CmdlineKind {
    /// Armbian's `/boot/armbianEnv.txt`, `extraargs=` line.
    ArmbianEnv,
    /// `/etc/default/grub`, `GRUB_CMDLINE_LINUX=`, then `update-grub`.
    Grub,
    /// Raspberry Pi firmware's single-line `cmdline.txt`.
    CmdlineTxt,
    /// qemu's `-append` (tests).
    QemuAppend,
}

/// The kernel command line's home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cmdline {
    pub kind: CmdlineKind,
    /// Path on the board's root filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The variable inside `file` that holds the extra arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One board profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Board {
    pub name: String,
    pub description: String,
    pub architecture: Arch,
    pub initrd_format: InitrdFormat,
    /// Kernel modules the initramfs needs to bring the network up.
    pub nic_modules: Vec<String>,
    /// `None` when the board has no serial console tessera can use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<Console>,
    pub cmdline: Cmdline,
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Baud rates a Linux tty accepts (termios Bxxx constants) that boards use.
const BAUDS: &[u32] = &[
    9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 1500000, 2000000, 3000000,
];

impl Board {
    /// Parses and checks one profile; `file` names it in errors. The profile's `name` must match the
    /// file's stem so that `--board NAME` and `ls boards/` agree.
    pub fn parse(file: &str, text: &str) -> Result<Board> {
        let de = toml::Deserializer::parse(text).map_err(|e| toml_error(file, "", text, &e))?;
        let board: Board = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            toml_error(file, &field, text, e.inner())
        })?;
        board.check(file)?;
        Ok(board)
    }

    fn check(&self, file: &str) -> Result<()> {
        let bad = |field: &str, problem: String| Error::Board {
            file: file.to_string(),
            field: field.to_string(),
            problem,
        };
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("");
        if !is_word(&self.name) {
            return Err(bad(
                "name",
                format!("`{}` may hold only a-z, 0-9, `-`, `_`", self.name),
            ));
        }
        if self.name != stem {
            return Err(bad(
                "name",
                format!("`{}` differs from the file name `{stem}`", self.name),
            ));
        }
        if self.description.trim().is_empty() {
            return Err(bad("description", "is empty".into()));
        }
        if let Some(console) = &self.console {
            let digits = console
                .device
                .trim_start_matches(|c: char| c.is_ascii_alphabetic());
            if !console.device.starts_with("tty")
                || digits.is_empty()
                || !digits.chars().all(|c| c.is_ascii_digit())
            {
                return Err(bad(
                    "console.device",
                    format!(
                        "`{}` is not a tty name like ttyS0 or ttyAML0",
                        console.device
                    ),
                ));
            }
            if !BAUDS.contains(&console.baud) {
                return Err(bad(
                    "console.baud",
                    format!(
                        "{} is not a standard serial speed (115200, 1500000, ...)",
                        console.baud
                    ),
                ));
            }
        }
        for (i, m) in self.nic_modules.iter().enumerate() {
            if !is_word(m) {
                return Err(bad(
                    &format!("nic-modules[{i}]"),
                    format!("`{m}` is not a kernel module name"),
                ));
            }
        }
        let c = &self.cmdline;
        match (c.kind, &c.file, &c.key) {
            (CmdlineKind::QemuAppend, Some(_), _) => {
                return Err(bad("cmdline.file", "qemu-append has no file".into()))
            }
            (CmdlineKind::QemuAppend, None, _) => {}
            (_, None, _) => {
                return Err(bad(
                    "cmdline.file",
                    "missing (the path on the board)".into(),
                ))
            }
            (_, Some(f), _) if !f.starts_with('/') => {
                return Err(bad(
                    "cmdline.file",
                    format!("`{f}` is not an absolute path"),
                ))
            }
            (CmdlineKind::ArmbianEnv | CmdlineKind::Grub, _, None) => {
                return Err(bad(
                    "cmdline.key",
                    "missing (the variable that holds the arguments)".into(),
                ))
            }
            (CmdlineKind::CmdlineTxt, _, Some(_)) => {
                return Err(bad(
                    "cmdline.key",
                    "cmdline-txt is one line, it has no key".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn toml_error(file: &str, field: &str, text: &str, e: &toml::de::Error) -> Error {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
    let field = if field.is_empty() || field == "." {
        // serde names a missing or unknown field only in its message: lift it out.
        quoted_name(e.message()).unwrap_or_else(|| "?".into())
    } else {
        field.to_string()
    };
    Error::Board {
        file: file.to_string(),
        field,
        problem: format!("{}{at}", e.message().trim()),
    }
}

/// The first `name` quoted in serde's "missing field `name`" / "unknown field `name`" messages.
fn quoted_name(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// The compiled-in profiles, sorted by name.
pub fn builtin() -> Result<Vec<Board>> {
    BUILTIN
        .iter()
        .map(|(file, text)| Board::parse(&format!("boards/{file}"), text))
        .collect()
}

/// Every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Board>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "read the board directory", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, "read", e))?;
            Board::parse(&p.display().to_string(), &text)
        })
        .collect()
}

/// The profiles from `dir`, or the compiled-in ones.
pub fn load(dir: Option<&Path>) -> Result<Vec<Board>> {
    match dir {
        Some(d) => load_dir(d),
        None => builtin(),
    }
}

/// The board named `name` among `boards`.
pub fn find(boards: &[Board], name: &str) -> Result<Board> {
    boards
        .iter()
        .find(|b| b.name == name)
        .cloned()
        .ok_or_else(|| Error::UnknownBoard {
            name: name.to_string(),
            known: boards.iter().map(|b| b.name.clone()).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses_and_the_list_matches_the_directory() {
        let boards = builtin().unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../boards");
        let on_disk = load_dir(&dir).unwrap();
        assert_eq!(boards, on_disk, "BUILTIN must list every file in boards/");
        for name in [
            "odroid-hc4",
            "odroid-h3",
            "rpi4",
            "rpi5",
            "rock-5b",
            "generic-x86_64",
            "generic-arm64",
            "qemu-amd64",
            "qemu-arm64",
            "qemu-arm64-uboot",
        ] {
            find(&boards, name).unwrap();
        }
        let hc4 = find(&boards, "odroid-hc4").unwrap();
        assert_eq!(hc4.architecture, Arch::Arm64);
        assert_eq!(hc4.initrd_format, InitrdFormat::Uinitrd);
        assert_eq!(
            hc4.console,
            Some(Console {
                device: "ttyAML0".into(),
                baud: 115200
            })
        );
        assert_eq!(hc4.cmdline.key.as_deref(), Some("extraargs"));
        let rock = find(&boards, "rock-5b").unwrap();
        assert_eq!(rock.console.unwrap().baud, 1_500_000);
        assert!(find(&boards, "odroid-h3")
            .unwrap()
            .nic_modules
            .contains(&"r8169".to_string()));
    }

    fn refused(text: &str) -> (String, String) {
        match Board::parse("boards/x.toml", text) {
            Err(Error::Board {
                file,
                field,
                problem,
            }) => {
                assert_eq!(file, "boards/x.toml");
                (field, problem)
            }
            other => panic!("expected a board error, got {other:?}"),
        }
    }

    const GOOD: &str = r#"
name = "x"
description = "a board"
architecture = "arm64"
initrd-format = "plain"
nic-modules = ["r8169"]
[console]
device = "ttyS2"
baud = 1500000
[cmdline]
kind = "armbian-env"
file = "/boot/armbianEnv.txt"
key = "extraargs"
"#;

    #[test]
    fn a_good_profile_parses() {
        let b = Board::parse("boards/x.toml", GOOD).unwrap();
        assert_eq!(b.console.unwrap().device, "ttyS2");
    }

    #[test]
    fn broken_profiles_are_refused_with_the_field_named() {
        let cases: &[(&str, &str, &str)] = &[
            ("\"arm64\"", "\"arm65\"", "architecture"),
            ("baud = 1500000", "baud = 1234", "console.baud"),
            ("baud = 1500000", "baud = \"fast\"", "console.baud"),
            (
                "device = \"ttyS2\"",
                "device = \"/dev/ttyS2\"",
                "console.device",
            ),
            (
                "initrd-format = \"plain\"",
                "initrd-format = \"cpio\"",
                "initrd-format",
            ),
            ("[\"r8169\"]", "[\"r8169 e1000\"]", "nic-modules[0]"),
            ("key = \"extraargs\"", "", "cmdline.key"),
            (
                "file = \"/boot/armbianEnv.txt\"",
                "file = \"boot/armbianEnv.txt\"",
                "cmdline.file",
            ),
            ("name = \"x\"", "name = \"y\"", "name"),
            ("description = \"a board\"\n", "", "description"),
            ("nic-modules", "nic_modules", "nic_modules"),
            (
                "baud = 1500000",
                "baud = 1500000\nparity = \"n\"",
                "console.parity",
            ),
        ];
        for (from, to, field) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "case {field} did not change the profile");
            let (got, problem) = refused(&text);
            assert!(
                got == *field || got.starts_with(&format!("{field}.")),
                "for {to:?}: expected field {field}, got {got} ({problem})"
            );
        }
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let (_, problem) = refused("name = \"x\"\ndescription = \n");
        assert!(problem.contains("line 2"), "{problem}");
    }

    #[test]
    fn an_unknown_board_lists_the_known_ones() {
        let err = find(&builtin().unwrap(), "odroid-xu4").unwrap_err();
        assert!(err.hint().contains("odroid-hc4"), "{}", err.hint());
    }
}
