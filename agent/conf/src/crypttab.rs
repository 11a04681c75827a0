//! `/etc/crypttab` lines (crypttab(5)): `NAME SOURCE KEY OPTIONS`, read by flash from a target and
//! written by the e2e tests into their chroots. Only the text: nothing here opens a device.

/// One crypttab line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrypttabEntry {
    /// The mapped name (`cryptroot`: `/dev/mapper/cryptroot`).
    pub name: String,
    /// The device: a path or `UUID=`, `PARTUUID=`, `LABEL=`, `PARTLABEL=`.
    pub source: String,
    /// The key file, `none` to ask.
    pub key: String,
    /// Comma-separated options (`luks,initramfs`), maybe empty.
    pub options: String,
}

impl CrypttabEntry {
    /// The line as crypttab(5) writes it (no newline).
    pub fn line(&self) -> String {
        let mut s = format!("{} {} {}", self.name, self.source, self.key);
        if !self.options.is_empty() {
            s.push(' ');
            s.push_str(&self.options);
        }
        s
    }

    /// Whether `option` is among the options (`noauto`, `luks`).
    pub fn has_option(&self, option: &str) -> bool {
        self.options.split(',').any(|o| o == option)
    }
}

/// Parses crypttab(5) text (comments and blank lines skipped; a missing key is `none`, missing
/// options empty; a line with only a name is skipped).
pub fn parse(text: &str) -> Vec<CrypttabEntry> {
    text.lines()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(CrypttabEntry {
                name: w.next()?.to_string(),
                source: w.next()?.to_string(),
                key: w.next().unwrap_or("none").to_string(),
                options: w.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// A device path the initramfs can open for a crypttab source (`UUID=...` via udev's links).
pub fn device_path(source: &str) -> String {
    for (tag, dir) in [
        ("UUID=", "/dev/disk/by-uuid/"),
        ("PARTUUID=", "/dev/disk/by-partuuid/"),
        ("LABEL=", "/dev/disk/by-label/"),
        ("PARTLABEL=", "/dev/disk/by-partlabel/"),
    ] {
        if let Some(v) = source.strip_prefix(tag) {
            return format!("{dir}{v}");
        }
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_write_back() {
        let text = "# <target> <source> <key> <options>\ncryptroot UUID=abc none luks,initramfs\n\
                    swap /dev/sda3 /dev/urandom swap,noauto\nonlyname\nbare /dev/sdb\n";
        let tab = parse(text);
        assert_eq!(tab.len(), 3);
        assert_eq!(tab[0].line(), "cryptroot UUID=abc none luks,initramfs");
        assert!(tab[1].has_option("noauto"));
        assert_eq!(tab[2].line(), "bare /dev/sdb none");
        assert_eq!(parse(&tab[0].line()), vec![tab[0].clone()]);
        assert_eq!(device_path("UUID=abc"), "/dev/disk/by-uuid/abc");
        assert_eq!(device_path("/dev/vda"), "/dev/vda");
    }
}
