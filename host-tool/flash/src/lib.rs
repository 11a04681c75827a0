//! tessera-flash: board profiles, the newc cpio and U-Boot image formats, and installing
//! tessera-agent into a host, a mounted root filesystem or an initrd.
//!
//! The library does the work and returns errors; only `cli` prints. Nothing here talks to an agent
//! or handles a LUKS secret.

pub mod append;
pub mod board;
pub mod bundle;
pub mod cli;
pub mod cpio;
pub mod elf;
pub mod error;
pub mod initrd;
pub mod inputs;
pub mod keys;
pub mod root;
pub mod ssh;
pub mod uimage;

pub use error::{Error, Result};
