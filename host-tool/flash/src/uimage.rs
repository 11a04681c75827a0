//! The U-Boot legacy image header (uImage / uInitrd): 64 big-endian bytes before the payload, with a
//! CRC-32 of the header and one of the payload (U-Boot include/image.h, `struct legacy_img_hdr`).
//!
//! Armbian boots `/boot/uInitrd`; U-Boot checks magic, both CRCs and the type and hands the payload
//! to the kernel unchanged, so changing a uInitrd means: strip the header, change the payload, write
//! a header with the new size and both CRCs. No maintained crate does this (research E.2); it is 60
//! lines. Parsing never panics on short or hostile input.

use crate::error::{Error, Result};

pub const MAGIC: u32 = 0x2705_1956;
pub const HEADER_LEN: usize = 64;
const NAME_LEN: usize = 32;

/// `ih_os` for Linux.
pub const OS_LINUX: u8 = 5;
/// `ih_arch` values.
pub const ARCH_ARM: u8 = 2;
pub const ARCH_X86_64: u8 = 24;
pub const ARCH_ARM64: u8 = 22;
/// `ih_type` of an initrd.
pub const TYPE_RAMDISK: u8 = 3;
/// `ih_comp`: U-Boot does not act on it for ramdisks (the kernel detects the real format).
pub const COMP_NONE: u8 = 0;
pub const COMP_GZIP: u8 = 1;

/// The header fields (magic and the two CRCs are computed, not stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub time: u32,
    pub size: u32,
    pub load: u32,
    pub entry: u32,
    pub data_crc: u32,
    pub os: u8,
    pub arch: u8,
    pub image_type: u8,
    pub comp: u8,
    pub name: [u8; NAME_LEN],
}

impl Header {
    /// A ramdisk header like Armbian's 99-uboot writes (`mkimage -A arm64 -O linux -T ramdisk -C gzip
    /// -n uInitrd`); size and CRC are filled in by [`wrap`].
    pub fn ramdisk(arch: u8, time: u32) -> Header {
        let mut name = [0u8; NAME_LEN];
        name[..7].copy_from_slice(b"uInitrd");
        Header {
            time,
            size: 0,
            load: 0,
            entry: 0,
            data_crc: 0,
            os: OS_LINUX,
            arch,
            image_type: TYPE_RAMDISK,
            comp: COMP_GZIP,
            name,
        }
    }

    /// The image name up to its first NUL.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        h[8..12].copy_from_slice(&self.time.to_be_bytes());
        h[12..16].copy_from_slice(&self.size.to_be_bytes());
        h[16..20].copy_from_slice(&self.load.to_be_bytes());
        h[20..24].copy_from_slice(&self.entry.to_be_bytes());
        h[24..28].copy_from_slice(&self.data_crc.to_be_bytes());
        h[28] = self.os;
        h[29] = self.arch;
        h[30] = self.image_type;
        h[31] = self.comp;
        h[32..64].copy_from_slice(&self.name);
        let hcrc = crc32fast::hash(&h);
        h[4..8].copy_from_slice(&hcrc.to_be_bytes());
        h
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// True when `file` starts with the legacy image magic.
pub fn is_uimage(file: &[u8]) -> bool {
    file.len() >= 4 && be32(file, 0) == MAGIC
}

/// Parses and verifies a legacy image: magic, header CRC, payload length and payload CRC. Returns
/// the header and the payload (bytes after the payload, if any, are ignored as U-Boot does).
pub fn parse(file: &[u8]) -> Result<(Header, &[u8])> {
    let bad = |problem: String| Error::UImage { problem };
    if file.len() < HEADER_LEN {
        return Err(bad(format!(
            "{} bytes is shorter than the 64-byte header",
            file.len()
        )));
    }
    if be32(file, 0) != MAGIC {
        return Err(bad(format!(
            "magic is {:#010x}, not 0x27051956",
            be32(file, 0)
        )));
    }
    let mut h = [0u8; HEADER_LEN];
    h.copy_from_slice(&file[..HEADER_LEN]);
    let stored = be32(&h, 4);
    h[4..8].fill(0);
    let computed = crc32fast::hash(&h);
    if stored != computed {
        return Err(bad(format!(
            "header CRC is {stored:#010x}, computed {computed:#010x}"
        )));
    }
    let mut name = [0u8; NAME_LEN];
    name.copy_from_slice(&h[32..64]);
    let header = Header {
        time: be32(&h, 8),
        size: be32(&h, 12),
        load: be32(&h, 16),
        entry: be32(&h, 20),
        data_crc: be32(&h, 24),
        os: h[28],
        arch: h[29],
        image_type: h[30],
        comp: h[31],
        name,
    };
    let end = HEADER_LEN + header.size as usize;
    let payload = file.get(HEADER_LEN..end).ok_or_else(|| {
        bad(format!(
            "header says {} payload bytes, the file has {}",
            header.size,
            file.len() - HEADER_LEN
        ))
    })?;
    let dcrc = crc32fast::hash(payload);
    if dcrc != header.data_crc {
        return Err(bad(format!(
            "data CRC is {:#010x}, computed {dcrc:#010x}",
            header.data_crc
        )));
    }
    Ok((header, payload))
}

/// Writes `template`'s fields with `payload`'s size and CRC, a fresh header CRC, then the payload.
pub fn wrap(template: &Header, payload: &[u8]) -> Result<Vec<u8>> {
    let size = u32::try_from(payload.len()).map_err(|_| Error::UImage {
        problem: format!("payload of {} bytes does not fit in 32 bits", payload.len()),
    })?;
    let header = Header {
        size,
        data_crc: crc32fast::hash(payload),
        ..template.clone()
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn mkimage_list(path: &std::path::Path) -> (bool, String) {
        let out = Command::new("mkimage")
            .arg("-l")
            .arg(path)
            .output()
            .expect("mkimage is installed (u-boot-tools, scripts/install-deps.sh)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    #[test]
    fn mkimage_reads_what_we_write() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..10_001u32).map(|i| (i * 7 % 251) as u8).collect();
        let img = wrap(&Header::ramdisk(ARCH_ARM64, 1_700_000_000), &payload).unwrap();
        let path = dir.path().join("uInitrd");
        std::fs::write(&path, &img).unwrap();
        let (ok, text) = mkimage_list(&path);
        assert!(ok, "{text}");
        assert!(text.contains("Image Name:   uInitrd"), "{text}");
        assert!(text.contains("AArch64 Linux RAMDisk Image"), "{text}");
        assert!(text.contains("Data Size:    10001 Bytes"), "{text}");
        // dumpimage extracts the payload only if the data CRC is right.
        let out_payload = dir.path().join("payload");
        let st = Command::new("dumpimage")
            .args(["-T", "ramdisk", "-p", "0", "-o"])
            .arg(&out_payload)
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(std::fs::read(&out_payload).unwrap(), payload);
        // A flipped payload byte is caught by mkimage as by our parser.
        let mut broken = img.clone();
        broken[HEADER_LEN + 5] ^= 1;
        std::fs::write(&path, &broken).unwrap();
        // mkimage -l then no longer takes it for a legacy image at all.
        let (_, text) = mkimage_list(&path);
        assert!(!text.contains("Image Name:"), "{text}");
        assert!(matches!(parse(&broken), Err(Error::UImage { .. })));
    }

    #[test]
    fn rewrites_an_image_made_by_mkimage() {
        let dir = tempfile::tempdir().unwrap();
        let payload = b"not really gzip, mkimage -C gzip does not compress".repeat(50);
        let input = dir.path().join("initrd.img");
        std::fs::write(&input, &payload).unwrap();
        let made = dir.path().join("uInitrd");
        let st = Command::new("mkimage")
            .args([
                "-A", "arm64", "-O", "linux", "-T", "ramdisk", "-C", "gzip", "-n", "uInitrd", "-d",
            ])
            .arg(&input)
            .arg(&made)
            .output()
            .unwrap();
        assert!(st.status.success());
        let file = std::fs::read(&made).unwrap();
        let (header, body) = parse(&file).unwrap();
        assert_eq!(body, &payload[..]);
        assert_eq!(
            (header.arch, header.image_type, header.comp, header.os),
            (ARCH_ARM64, TYPE_RAMDISK, COMP_GZIP, OS_LINUX)
        );
        assert_eq!(header.name(), "uInitrd");
        // Unchanged payload: our header is byte-identical to mkimage's.
        assert_eq!(wrap(&header, body).unwrap(), file);
        // Changed payload: size and both CRCs follow, mkimage and dumpimage agree.
        let mut longer = body.to_vec();
        longer.extend_from_slice(b"0707010000");
        let rewritten = wrap(&header, &longer).unwrap();
        std::fs::write(&made, &rewritten).unwrap();
        let (ok, text) = mkimage_list(&made);
        assert!(ok, "{text}");
        assert!(
            text.contains(&format!("Data Size:    {} Bytes", longer.len())),
            "{text}"
        );
        assert_eq!(parse(&rewritten).unwrap().1, &longer[..]);
    }

    #[test]
    fn refuses_bad_headers_without_panicking() {
        let img = wrap(&Header::ramdisk(ARCH_ARM64, 0), b"abc").unwrap();
        for cut in 0..img.len() {
            assert!(parse(&img[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..HEADER_LEN {
            let mut b = img.clone();
            b[i] ^= 0x10;
            assert!(parse(&b).is_err(), "flip at {i}");
        }
        assert!(!is_uimage(b"\x1f\x8b"));
    }
}
