//! Where built things live between runs (`$TESSERA_CACHE`, default `~/.cache/tessera/`) and the file
//! locks that let parallel tests and parallel `cargo test` runs share it. Everything in the cache is
//! keyed by a version string or a content hash, so a stale entry is never picked up.
//! It must never hand out a half-built entry: builders write to a temporary name and rename.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::PathBuf;

pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/tessera")
}

/// An exclusive `flock` on `<cache>/locks/NAME`, released on drop.
pub struct Lock(#[allow(dead_code)] File);

pub fn lock(name: &str) -> Result<Lock> {
    let dir = root().join("locks");
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let path = dir.join(name);
    let f = File::create(&path).map_err(Error::io(format!("opening {}", path.display())))?;
    f.lock()
        .map_err(Error::io(format!("locking {}", path.display())))?;
    Ok(Lock(f))
}

/// A short stable hex digest of some bytes (FNV-1a 64, twice with different seeds): a cache key, not
/// a security boundary.
pub fn key(parts: &[&[u8]]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for part in parts {
        for &byte in part.iter().chain(&(part.len() as u64).to_le_bytes()) {
            a = (a ^ byte as u64).wrapping_mul(0x100_0000_01b3);
            b = (b ^ byte as u64)
                .wrapping_mul(0x100_0000_01b3)
                .rotate_left(5);
        }
    }
    format!("{a:016x}{b:08x}", b = b as u32)
}
