//! The text `tessera flash` and `tessera boards` print on stdout: a flash report and the boards
//! table. Only formats; printing, argh and exit codes belong to the host tool.

use crate::board::{self, Board};
use crate::inputs::Report;

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
