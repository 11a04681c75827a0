//! tessera-e2e: the boot harness. Real Debian bookworm chroots (debootstrap, cached under
//! `~/.cache/tessera/`), real kernels, LUKS2 disk images made in userspace, initramfs images built by
//! `mkinitramfs` inside the chroot, and qemu (TCG) boots whose serial console is drained by a thread
//! that keeps a transcript, so a test can wait for a line and type like a person.
//!
//! It must never leave a qemu running (every `Machine` kills its qemu on drop) and never write outside
//! the cache, `target/` and the scenario's own work folder.

pub mod cache;
pub mod chroot;
pub mod disk;
pub mod error;
pub mod host;
pub mod initrd;
pub mod pty;
pub mod qemu;
pub mod scenario;
pub mod tools;

pub use chroot::{Arch, Chroot, Flavor, QemuArch};
pub use disk::LuksImage;
pub use error::Error;
pub use initrd::{InitrdSpec, TesseraFiles};
pub use qemu::{Machine, MachineSpec, Nic};
pub use tessera_conf::CrypttabEntry;

/// Text the unlocked root's `/sbin/init` prints on the console, then it powers off.
pub const MARKER: &str = "ROOT-UNLOCKED-OK";
/// The prompt of Debian's askpass (and of the agent, which copies it on purpose).
pub const PROMPT: &str = "Please unlock disk";
