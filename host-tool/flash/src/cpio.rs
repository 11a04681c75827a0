//! The newc ("070701") cpio format: a writer for the segment tessera appends to an initrd, and a
//! bounded reader for the archives already in it (ORDER files, crypttab, which binaries are there).
//!
//! Hand-written (about 150 lines) rather than the `cpio` crate: that crate writes lowercase hex,
//! while GNU cpio and the kernel's gen_init_cpio write uppercase, and tessera's output is tested to be
//! byte-identical to `cpio -o -H newc --reproducible`. The reader never panics and never reads past
//! the slice it is given, whatever the bytes.

use crate::error::{Error, Result};

/// Magic of the newc format without checksums (the one mkinitramfs writes).
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// Magic of the newc variant with a checksum field (the kernel accepts it too).
pub const MAGIC_CRC: &[u8; 6] = b"070702";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// File type bits of `mode` (as in `st_mode`).
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
const S_IFMT: u32 = 0o170000;

/// One archive member: a directory, a regular file or a symlink (data = target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path without a leading `/` (`scripts/init-premount/tessera`), as mkinitramfs writes them.
    pub name: String,
    /// Type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub ino: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub data: Vec<u8>,
}

impl Entry {
    /// A root-owned directory with mtime 0 (reproducible output).
    pub fn dir(name: &str, perm: u32) -> Entry {
        Entry::new(name, S_IFDIR | perm, 2, Vec::new())
    }

    /// A root-owned regular file with mtime 0.
    pub fn file(name: &str, perm: u32, data: Vec<u8>) -> Entry {
        Entry::new(name, S_IFREG | perm, 1, data)
    }

    /// A root-owned symlink pointing at `target`.
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry::new(name, S_IFLNK | 0o777, 1, target.as_bytes().to_vec())
    }

    fn new(name: &str, mode: u32, nlink: u32, data: Vec<u8>) -> Entry {
        Entry {
            name: name.trim_start_matches('/').to_string(),
            mode,
            uid: 0,
            gid: 0,
            nlink,
            mtime: 0,
            ino: 0,
            dev_major: 0,
            dev_minor: 0,
            data,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn write_header(out: &mut Vec<u8>, e: &Entry, ino: u32, namesize: usize, filesize: usize) {
    out.extend_from_slice(MAGIC_NEWC);
    let fields = [
        ino,
        e.mode,
        e.uid,
        e.gid,
        e.nlink,
        e.mtime,
        filesize as u32,
        e.dev_major,
        e.dev_minor,
        0, // rdev major: no device nodes are written
        0, // rdev minor
        namesize as u32,
        0, // check: always 0 in 070701
    ];
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
}

/// Writes `entries` then the `TRAILER!!!` member; inode numbers are the entries' positions (what
/// GNU cpio's `--renumber-inodes` does), so two runs give the same bytes. The result's length is a
/// multiple of 4; [`pad_to`] rounds it up further.
pub fn write(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.name.is_empty() || e.name.len() > 4096 || e.name.contains('\0') {
            return Err(Error::Cpio {
                problem: format!("unusable member name {:?}", e.name),
            });
        }
        if u32::try_from(e.data.len()).is_err() {
            return Err(Error::Cpio {
                problem: format!("{} is larger than 4 GiB", e.name),
            });
        }
        member(&mut out, e, i as u32, &e.name, &e.data);
    }
    let trailer = Entry::new(TRAILER, 0, 1, Vec::new());
    member(&mut out, &trailer, 0, TRAILER, &[]);
    Ok(out)
}

fn member(out: &mut Vec<u8>, e: &Entry, ino: u32, name: &str, data: &[u8]) {
    write_header(out, e, ino, name.len() + 1, data.len());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.resize(out.len() + pad4(HEADER_LEN + name.len() + 1), 0);
    out.extend_from_slice(data);
    out.resize(out.len() + pad4(data.len()), 0);
}

/// Pads `buf` with NULs to a multiple of `block` (GNU cpio pads to 512; the kernel skips NULs).
pub fn pad_to(buf: &mut Vec<u8>, block: usize) {
    let rem = buf.len() % block;
    if rem != 0 {
        buf.resize(buf.len() + block - rem, 0);
    }
}

/// One archive read from a slice: its members (trailer excluded) and how many bytes it spans
/// (up to the end of the trailer's padding).
#[derive(Debug)]
pub struct Archive {
    pub entries: Vec<Entry>,
    pub len: usize,
}

fn hex_field(h: &[u8], idx: usize) -> Result<u32> {
    let raw = &h[6 + idx * 8..6 + idx * 8 + 8];
    let s = std::str::from_utf8(raw).map_err(|_| bad("header field is not ASCII"))?;
    u32::from_str_radix(s, 16).map_err(|_| bad(&format!("header field {s:?} is not hex")))
}

fn bad(problem: &str) -> Error {
    Error::Cpio {
        problem: problem.to_string(),
    }
}

/// Reads one newc archive starting at `data[0]`, up to and including its trailer.
pub fn read(data: &[u8]) -> Result<Archive> {
    let mut pos = 0usize;
    let mut entries = Vec::new();
    loop {
        let h = data
            .get(pos..pos + HEADER_LEN)
            .ok_or_else(|| bad(&format!("truncated header at byte {pos}")))?;
        if &h[..6] != MAGIC_NEWC && &h[..6] != MAGIC_CRC {
            return Err(bad(&format!("no 070701 magic at byte {pos}")));
        }
        let f = |i| hex_field(h, i);
        let (ino, mode, uid, gid, nlink, mtime) = (f(0)?, f(1)?, f(2)?, f(3)?, f(4)?, f(5)?);
        let filesize = f(6)? as usize;
        let (dev_major, dev_minor) = (f(7)?, f(8)?);
        let namesize = f(11)? as usize;
        if namesize == 0 {
            return Err(bad(&format!("empty name at byte {pos}")));
        }
        let name_start = pos + HEADER_LEN;
        let name_bytes = data
            .get(name_start..name_start + namesize)
            .ok_or_else(|| bad(&format!("truncated name at byte {name_start}")))?;
        let name = String::from_utf8_lossy(&name_bytes[..namesize - 1]).into_owned();
        let data_start = name_start + namesize + pad4(HEADER_LEN + namesize);
        let file = data
            .get(data_start..data_start.saturating_add(filesize))
            .ok_or_else(|| {
                bad(&format!(
                    "{name}: data runs past the end ({filesize} bytes)"
                ))
            })?;
        pos = data_start + filesize + pad4(filesize);
        if name == TRAILER {
            return Ok(Archive {
                entries,
                len: pos.min(data.len()),
            });
        }
        entries.push(Entry {
            name,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            ino,
            dev_major,
            dev_minor,
            data: file.to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::process::Command;

    #[test]
    fn writes_the_same_bytes_as_gnu_cpio() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/tessera")).unwrap();
        std::fs::create_dir_all(root.join("scripts/init-premount")).unwrap();
        std::fs::write(root.join("etc/tessera/agent.conf"), "host-id web1\n").unwrap();
        std::fs::write(root.join("etc/tessera/x"), b"12345").unwrap();
        std::fs::write(
            root.join("scripts/init-premount/tessera"),
            "#!/bin/sh\nexit 0\n",
        )
        .unwrap();
        let script = root.join("scripts/init-premount/tessera");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("agent.conf", root.join("etc/tessera/link")).unwrap();

        let out = Command::new("sh")
            .arg("-c")
            .arg("find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet")
            .current_dir(root)
            .output()
            .expect("GNU cpio is installed (scripts/install-deps.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let mut names: Vec<String> = ["."]
            .iter()
            .map(|s| s.to_string())
            .chain(
                [
                    "etc",
                    "etc/tessera",
                    "etc/tessera/agent.conf",
                    "etc/tessera/link",
                    "etc/tessera/x",
                    "scripts",
                    "scripts/init-premount",
                    "scripts/init-premount/tessera",
                ]
                .iter()
                .map(|s| s.to_string()),
            )
            .collect();
        names.sort();
        let entries: Vec<Entry> = names
            .iter()
            .map(|n| {
                let p = root.join(n);
                let md = std::fs::symlink_metadata(&p).unwrap();
                let data = if md.file_type().is_symlink() {
                    std::fs::read_link(&p)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .as_bytes()
                        .to_vec()
                } else if md.is_file() {
                    std::fs::read(&p).unwrap()
                } else {
                    Vec::new()
                };
                Entry {
                    name: n.clone(),
                    mode: md.mode(),
                    uid: 0,
                    gid: 0,
                    nlink: md.nlink() as u32,
                    mtime: md.mtime() as u32,
                    ino: 0,
                    dev_major: 0,
                    dev_minor: 0,
                    data,
                }
            })
            .collect();
        let mut ours = write(&entries).unwrap();
        pad_to(&mut ours, 512);
        assert_eq!(ours, out.stdout);
    }

    #[test]
    fn gnu_cpio_reads_what_we_write() {
        let entries = vec![
            Entry::dir("etc", 0o755),
            Entry::file("etc/hello", 0o644, b"hello world".to_vec()),
            Entry::symlink("etc/link", "hello"),
        ];
        let bytes = write(&entries).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let mut child = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listing = String::from_utf8(out.stdout).unwrap();
        assert!(listing.contains("etc/hello"), "{listing}");
        assert!(listing.contains("etc/link -> hello"), "{listing}");
        assert!(listing.contains("drwxr-xr-x"), "{listing}");
    }

    #[test]
    fn reads_back_what_it_writes_and_reports_the_length() {
        let entries = vec![
            Entry::dir("lib/tessera", 0o755),
            Entry::file("lib/tessera/keyscript", 0o755, b"#!/bin/sh\n".to_vec()),
            Entry::file("a", 0o600, vec![7; 5]),
        ];
        let mut bytes = write(&entries).unwrap();
        let len = bytes.len();
        bytes.extend_from_slice(b"\0\0\0\0garbage after");
        let a = read(&bytes).unwrap();
        assert_eq!(a.len, len);
        assert_eq!(a.entries.len(), 3);
        assert_eq!(a.entries[1].data, b"#!/bin/sh\n");
        assert!(a.entries[0].is_dir() && a.entries[2].is_file());
        assert_eq!(a.entries[2].mode & 0o777, 0o600);
    }

    #[test]
    fn truncated_or_garbled_archives_are_errors_not_panics() {
        let bytes = write(&[Entry::file("f", 0o644, vec![1; 100])]).unwrap();
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = read(&b);
        }
        let mut huge = bytes.clone();
        huge[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"FFFFFFFF");
        assert!(read(&huge).is_err());
    }
}
