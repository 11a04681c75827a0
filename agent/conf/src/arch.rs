//! The CPU architectures tessera builds agents for, under every name the tools around it use
//! (Debian's, the kernel's, Rust's, ELF's). Only names: nothing here inspects a binary.

/// CPU architecture, with Debian's names (the ones `dpkg --print-architecture` prints).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// Debian's name (`amd64`).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The kernel's name, as `uname -m` prints it (`x86_64`).
    pub fn uname(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    /// The Rust target the static agent is built for.
    pub fn musl_target(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-unknown-linux-musl",
            Arch::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// ELF `e_machine` of binaries for this architecture.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Amd64 => 62,
            Arch::Arm64 => 183,
        }
    }

    /// Parses `uname -m` output or a Debian architecture name.
    pub fn from_name(name: &str) -> Option<Arch> {
        match name.trim() {
            "x86_64" | "amd64" => Some(Arch::Amd64),
            "aarch64" | "arm64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in [Arch::Amd64, Arch::Arm64] {
            assert_eq!(Arch::from_name(a.debian()), Some(a));
            assert_eq!(Arch::from_name(a.uname()), Some(a));
            assert!(a.musl_target().starts_with(a.uname()));
        }
        assert_eq!(Arch::from_name("riscv64"), None);
    }
}
