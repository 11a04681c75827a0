//! The three ways `tessera flash` installs tessera-agent, one module each: `initrd` appends a
//! segment to an initrd or uInitrd, `root` installs the hook into a mounted root filesystem, `ssh`
//! installs it on a running host. They share `bundle` (what is installed), `inputs` (the admin's
//! choices) and `hook` (the plan `root` and `ssh` both write), never each other.

pub mod hook;
pub mod initrd;
pub mod root;
pub mod ssh;
