//! Reading an initrd the way the kernel does (init/initramfs.c `unpack_to_rootfs`): a sequence of
//! uncompressed newc archives (starting 4-byte aligned), compressed archives and NUL padding.
//!
//! Debian's layout is `[early microcode cpio] + zstd|gzip(main cpio) + [appended cpio...]`. gzip
//! and zstd members are decompressed here (pure Rust) one member at a time, so the walk knows where
//! each ends; xz, lzma, bzip2, lz4 and lzo members are handed to the system's decompressor and taken
//! to run to the end of the file (mkinitramfs never appends after them). Decompressed sizes are
//! capped, and no input can make this module panic or loop forever.

use crate::cpio::{self, Entry};
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Largest decompressed member accepted (a Debian initrd with MODULES=most is ~150 MB).
const MAX_UNPACKED: u64 = 2 << 30;

/// Compression of one member, by magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
    Lzma,
    Bzip2,
    Lz4,
    Lzo,
}

impl Compression {
    /// Detects the format from the first bytes of a member.
    pub fn detect(b: &[u8]) -> Option<Compression> {
        let starts = |m: &[u8]| b.starts_with(m);
        if starts(&[0x1f, 0x8b]) || starts(&[0x1f, 0x9e]) {
            Some(Compression::Gzip)
        } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if starts(&[0x5d, 0, 0]) {
            Some(Compression::Lzma)
        } else if starts(b"BZh") {
            Some(Compression::Bzip2)
        } else if starts(&[0x02, 0x21, 0x4c, 0x18]) || starts(&[0x04, 0x22, 0x4d, 0x18]) {
            Some(Compression::Lz4)
        } else if starts(&[0x89, b'L', b'Z', b'O', 0]) {
            Some(Compression::Lzo)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Bzip2 => "bzip2",
            Compression::Lz4 => "lz4",
            Compression::Lzo => "lzo",
        }
    }

    /// The system command that decompresses this format from stdin to stdout.
    fn command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Compression::Xz => ("xz", &["-dc", "--single-stream"]),
            Compression::Lzma => ("xz", &["-dc", "--format=lzma"]),
            Compression::Bzip2 => ("bzip2", &["-dc"]),
            Compression::Lz4 => ("lz4", &["-dc"]),
            Compression::Lzo => ("lzop", &["-dc"]),
            Compression::Gzip => ("gzip", &["-dc"]),
            Compression::Zstd => ("zstd", &["-dc"]),
        }
    }
}

/// What one member of the initrd is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An uncompressed newc archive (early microcode, or one appended later).
    Cpio,
    /// A compressed stream holding one or more archives.
    Compressed(Compression),
}

/// One member: where it is in the file and the archive members inside it.
#[derive(Debug)]
pub struct Member {
    pub offset: usize,
    pub len: usize,
    pub kind: Kind,
    pub entries: Vec<Entry>,
}

/// A parsed initrd.
#[derive(Debug)]
pub struct Initrd {
    pub members: Vec<Member>,
    /// Length of the input, including trailing NUL padding.
    pub len: usize,
}

impl Initrd {
    /// Walks `data`; `path` names it in errors.
    pub fn parse(path: &Path, data: &[u8]) -> Result<Initrd> {
        let bad = |problem: String| Error::Initrd {
            path: path.to_path_buf(),
            problem,
        };
        let mut members = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            if data[pos] == 0 {
                pos += 1;
                continue;
            }
            let rest = &data[pos..];
            if pos.is_multiple_of(4)
                && (rest.starts_with(cpio::MAGIC_NEWC) || rest.starts_with(cpio::MAGIC_CRC))
            {
                let a = cpio::read(rest).map_err(|e| bad(format!("archive at byte {pos}: {e}")))?;
                members.push(Member {
                    offset: pos,
                    len: a.len,
                    kind: Kind::Cpio,
                    entries: a.entries,
                });
                pos += a.len.max(1);
                continue;
            }
            let Some(method) = Compression::detect(rest) else {
                let hint = if rest.starts_with(b"0707") {
                    " (a cpio archive that does not start 4-byte aligned: the kernel drops it)"
                } else {
                    ""
                };
                return Err(bad(format!("unknown data at byte {pos}{hint}")));
            };
            let (unpacked, used) = decompress(method, rest)
                .map_err(|p| bad(format!("{} member at byte {pos}: {p}", method.name())))?;
            let entries = archives(&unpacked).map_err(|p| {
                bad(format!(
                    "inside the {} member at byte {pos}: {p}",
                    method.name()
                ))
            })?;
            members.push(Member {
                offset: pos,
                len: used,
                kind: Kind::Compressed(method),
                entries,
            });
            pos += used.max(1);
        }
        if members.is_empty() {
            return Err(bad("holds no cpio archive".into()));
        }
        Ok(Initrd {
            members,
            len: data.len(),
        })
    }

    /// The member the kernel would leave at `name` (later archives override earlier ones).
    pub fn file(&self, name: &str) -> Option<&Entry> {
        let name = name.trim_start_matches('/');
        self.members
            .iter()
            .rev()
            .flat_map(|m| m.entries.iter().rev())
            .find(|e| e.name == name || e.name.strip_prefix("./") == Some(name))
    }

    /// True when some archive has `name` (a file, directory or symlink).
    pub fn has(&self, name: &str) -> bool {
        self.file(name).is_some()
    }

    /// The compression of the main (first compressed) member, if any.
    pub fn main_compression(&self) -> Option<Compression> {
        self.members.iter().find_map(|m| match m.kind {
            Kind::Compressed(c) => Some(c),
            Kind::Cpio => None,
        })
    }
}

/// Parses the archives (with NUL padding between them) of a decompressed member.
fn archives(data: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data[pos] == 0 {
            pos += 1;
            continue;
        }
        let a = cpio::read(&data[pos..]).map_err(|e| format!("at byte {pos}: {e}"))?;
        entries.extend(a.entries);
        pos += a.len.max(1);
    }
    Ok(entries)
}

/// Decompresses the member at the start of `data`; returns its content and how many input bytes it
/// used.
fn decompress(method: Compression, data: &[u8]) -> std::result::Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    match method {
        Compression::Gzip => {
            let mut d = flate2::bufread::GzDecoder::new(data);
            (&mut d)
                .take(MAX_UNPACKED)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            let rest = d.into_inner();
            Ok((out, data.len() - rest.len()))
        }
        Compression::Zstd => {
            let mut src = data;
            let mut d =
                ruzstd::decoding::StreamingDecoder::new(&mut src).map_err(|e| e.to_string())?;
            (&mut d)
                .take(MAX_UNPACKED)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            drop(d);
            Ok((out, data.len() - src.len()))
        }
        Compression::Xz => {
            let (cmd, args) = method.command();
            let end = xz_stream_end(data).unwrap_or(data.len());
            Ok((run_filter(cmd, args, &data[..end])?, end))
        }
        _ => {
            let (cmd, args) = method.command();
            Ok((run_filter(cmd, args, data)?, data.len()))
        }
    }
}

/// True when the walk can tell where a member of this format ends (so data appended after it is
/// seen); the others are taken to run to the end of the file.
pub fn end_is_known(method: Compression) -> bool {
    matches!(
        method,
        Compression::Gzip | Compression::Zstd | Compression::Xz
    )
}

/// The end of the first xz stream in `data`: the first 4-byte aligned stream footer (`YZ` magic)
/// whose CRC-32 checks, whose flags match the header's, and whose backward size points at an index.
fn xz_stream_end(data: &[u8]) -> Option<usize> {
    let flags = data.get(6..8)?;
    let mut p = 24;
    while p <= data.len() {
        if &data[p - 2..p] == b"YZ" {
            let footer = &data[p - 12..p];
            let crc = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]);
            let backward =
                u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]]) as usize;
            let index_at = backward
                .checked_add(1)
                .and_then(|b| b.checked_mul(4))
                .and_then(|b| (p - 12).checked_sub(b));
            if crc32fast::hash(&footer[4..10]) == crc
                && &footer[8..10] == flags
                && index_at.is_some_and(|i| i >= 12 && data[i] == 0)
            {
                return Some(p);
            }
        }
        p += 4;
    }
    None
}

/// Pipes `input` through `cmd args` (a decompressor), with a thread feeding stdin so neither side
/// blocks, and a cap on the output.
fn run_filter(cmd: &str, args: &[&str], input: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd} (install it): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            // A decompressor that stops early closes its stdin: a write error is not ours to report.
            let _ = stdin.write_all(input);
        });
        let mut out = Vec::new();
        let res = child
            .stdout
            .take()
            .ok_or_else(|| "no stdout".to_string())
            .and_then(|o| {
                o.take(MAX_UNPACKED)
                    .read_to_end(&mut out)
                    .map_err(|e| e.to_string())
            });
        res.map(|_| out)
    })?;
    let status = child.wait_with_output().map_err(|e| e.to_string())?;
    if !status.status.success() {
        return Err(format!(
            "{cmd} failed: {}",
            String::from_utf8_lossy(&status.stderr).trim()
        ));
    }
    Ok(out)
}

/// Reads an initrd or uInitrd file; for a uInitrd, returns the header too.
pub fn load(path: &Path) -> Result<(Vec<u8>, Option<crate::uimage::Header>)> {
    let file = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    if crate::uimage::is_uimage(&file) {
        let (h, payload) = crate::uimage::parse(&file).map_err(|e| Error::Initrd {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        Ok((payload.to_vec(), Some(h)))
    } else {
        Ok((file, None))
    }
}

/// `path` + `.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
        run_filter(cmd, args, input).unwrap()
    }

    fn main_cpio() -> Vec<u8> {
        cpio::write(&[
            Entry::dir("scripts", 0o755),
            Entry::dir("scripts/init-premount", 0o755),
            Entry::file(
                "scripts/init-premount/ORDER",
                0o644,
                b"/scripts/init-premount/udev \"$@\"\n".to_vec(),
            ),
            Entry::file("usr/sbin/cryptsetup", 0o755, b"\x7fELF".to_vec()),
        ])
        .unwrap()
    }

    fn early_cpio() -> Vec<u8> {
        cpio::write(&[Entry::file(
            "kernel/x86/microcode/GenuineIntel.bin",
            0o644,
            vec![1; 3],
        )])
        .unwrap()
    }

    #[test]
    fn walks_early_cpio_compressed_main_and_appended_cpio_for_every_compressor() {
        let compressors: &[(&str, &[&str], Compression)] = &[
            ("gzip", &["-9c"], Compression::Gzip),
            ("zstd", &["-q", "-19", "-c"], Compression::Zstd),
            ("xz", &["--check=crc32", "-c"], Compression::Xz),
            ("lz4", &["-l", "-c"], Compression::Lz4),
            ("bzip2", &["-c"], Compression::Bzip2),
            ("xz", &["--format=lzma", "-c"], Compression::Lzma),
        ];
        for (cmd, args, method) in compressors {
            let mut initrd = early_cpio();
            initrd.extend(pipe(cmd, args, &main_cpio()));
            let p = Path::new("initrd.img");
            let parsed = Initrd::parse(p, &initrd).unwrap();
            assert_eq!(parsed.members.len(), 2, "{cmd}");
            assert_eq!(parsed.members[0].kind, Kind::Cpio);
            assert_eq!(parsed.main_compression(), Some(*method), "{cmd}");
            assert!(parsed.has("usr/sbin/cryptsetup"));
            assert!(parsed.has("kernel/x86/microcode/GenuineIntel.bin"));
            let order = parsed.file("/scripts/init-premount/ORDER").unwrap();
            assert!(order.data.starts_with(b"/scripts/init-premount/udev"));
        }
    }

    #[test]
    fn an_appended_cpio_is_found_after_gzip_and_zstd_and_overrides_files() {
        for (cmd, args) in [("gzip", &["-c"][..]), ("zstd", &["-q", "-c"][..])] {
            let mut initrd = pipe(cmd, args, &main_cpio());
            let main_len = initrd.len();
            cpio::pad_to(&mut initrd, 4);
            let appended = cpio::write(&[Entry::file(
                "scripts/init-premount/ORDER",
                0o644,
                b"/scripts/init-premount/tessera \"$@\"\n".to_vec(),
            )])
            .unwrap();
            initrd.extend(&appended);
            let parsed = Initrd::parse(Path::new("i"), &initrd).unwrap();
            assert_eq!(parsed.members.len(), 2);
            assert_eq!(parsed.members[0].len, main_len, "{cmd} member length");
            assert_eq!(parsed.members[1].kind, Kind::Cpio);
            assert!(parsed
                .file("scripts/init-premount/ORDER")
                .unwrap()
                .data
                .starts_with(b"/scripts/init-premount/tessera"));
        }
    }

    #[test]
    fn a_misaligned_appended_cpio_is_refused_like_the_kernel_drops_it() {
        let mut initrd = pipe("gzip", &["-c"], &main_cpio());
        // NULs are skipped one by one, so the archive after them starts at an odd offset.
        while initrd.len() % 4 != 1 {
            initrd.push(0);
        }
        initrd.extend(cpio::write(&[Entry::file("a", 0o644, vec![])]).unwrap());
        let err = Initrd::parse(Path::new("i"), &initrd).unwrap_err();
        assert!(err.to_string().contains("4-byte aligned"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = pipe("gzip", &["-c"], &main_cpio());
        assert!(Initrd::parse(Path::new("i"), b"hello").is_err());
        assert!(Initrd::parse(Path::new("i"), &[0u8; 64]).is_err());
        for cut in [1, 10, good.len() / 2, good.len() - 1] {
            assert!(
                Initrd::parse(Path::new("i"), &good[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut z = pipe("zstd", &["-q", "-c"], &main_cpio());
        let n = z.len();
        z[n / 2] ^= 0xff;
        let _ = Initrd::parse(Path::new("i"), &z);
    }
}
