//! tessera-flash: board profiles, the newc cpio and U-Boot image formats, and installing
//! tessera-agent into a host, a mounted root filesystem or an initrd.
//!
//! A library with typed options (`options::{Options, Mode}`): the host tool parses the command
//! line and prints; this crate does the work and returns errors. Nothing here parses argv, prints,
//! talks to an agent or handles a LUKS secret.

pub mod board;
pub mod bundle;
pub mod cpio;
pub mod elf;
pub mod error;
pub mod initrd;
pub mod inputs;
pub mod keys;
pub mod modes;
pub mod options;
pub mod text;
pub mod uimage;

pub use error::{Error, Result};
pub use options::{run, Mode, Options};
