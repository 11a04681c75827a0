//! Just enough ELF to refuse the wrong binary: the machine (`e_machine`) and whether a program
//! interpreter is named (a dynamic binary would need its libraries in the initramfs), and the one
//! rule every flash mode applies to what it found: the target's architecture is the board's.
//!
//! Reads only the bytes it is given; a short or foreign file is an answer (`None`), never a panic.

use crate::board::Arch;
use crate::error::{Error, Result};

/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pub machine: u16,
    /// No PT_INTERP program header.
    pub is_static: bool,
}

const EM_386: u16 = 3;
const EM_ARM: u16 = 40;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;
const PT_INTERP: u32 = 3;

/// Parses a little-endian ELF header (64- or 32-bit).
pub fn parse(b: &[u8]) -> Option<ElfInfo> {
    if b.len() < 52 || &b[..4] != b"\x7fELF" || b[5] != 1 {
        return None;
    }
    let u16_at = |at: usize| {
        b.get(at..at.checked_add(2)?)
            .map(|s| u16::from_le_bytes([s[0], s[1]]))
    };
    let u32_at = |at: usize| {
        b.get(at..at.checked_add(4)?)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let machine = u16_at(18)?;
    let (phoff, phentsize, phnum) = match b[4] {
        2 => {
            let lo = u32_at(32)? as u64;
            let hi = u32_at(36)? as u64;
            (lo | hi << 32, u16_at(54)?, u16_at(56)?)
        }
        1 => (u32_at(28)? as u64, u16_at(42)?, u16_at(44)?),
        _ => return None,
    };
    let mut is_static = true;
    for i in 0..phnum as u64 {
        let at = phoff.checked_add(i.checked_mul(phentsize as u64)?)?;
        match usize::try_from(at).ok().and_then(u32_at) {
            Some(PT_INTERP) => is_static = false,
            Some(_) => {}
            // The program headers lie beyond the bytes we have: say nothing about linking.
            None => break,
        }
    }
    Some(ElfInfo { machine, is_static })
}

/// A human name for `e_machine` (the kernel's `uname -m` spelling where there is one).
pub fn machine_name(machine: u16) -> String {
    match machine {
        EM_X86_64 => "x86_64".into(),
        EM_AARCH64 => "aarch64".into(),
        EM_386 => "i386".into(),
        EM_ARM => "arm (32-bit)".into(),
        EM_RISCV => "riscv".into(),
        other => format!("ELF machine {other}"),
    }
}

/// Refuses a board whose architecture is not the target's (`target` names it in the message).
pub fn check_arch(target: &str, board: Arch, target_arch: Arch, board_name: &str) -> Result<()> {
    if board != target_arch {
        return Err(Error::Target {
            target: target.to_string(),
            problem: format!(
                "is an {} system, but board {board_name} is {}",
                target_arch.debian(),
                board.debian()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) fn fake_header(machine: u16, interp: bool) -> Vec<u8> {
    // A 64-bit header and one program header right after it.
    let mut b = vec![0u8; 64 + 56];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&1u16.to_le_bytes());
    let kind: u32 = if interp { PT_INTERP } else { 1 };
    b[64..68].copy_from_slice(&kind.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_machine_of_a_real_binary() {
        let sh = std::fs::read("/bin/sh").unwrap();
        let info = parse(&sh).unwrap();
        let want = if cfg!(target_arch = "x86_64") {
            EM_X86_64
        } else {
            EM_AARCH64
        };
        assert_eq!(info.machine, want);
        assert!(!info.is_static, "/bin/sh is dynamically linked on Debian");
        let busybox = std::fs::read("/bin/busybox").unwrap();
        assert!(parse(&busybox).unwrap().is_static, "busybox-static");
    }

    #[test]
    fn fake_headers_and_garbage() {
        assert_eq!(
            parse(&fake_header(EM_AARCH64, false)),
            Some(ElfInfo {
                machine: EM_AARCH64,
                is_static: true
            })
        );
        assert!(!parse(&fake_header(EM_X86_64, true)).unwrap().is_static);
        assert_eq!(parse(b"#!/bin/sh\n"), None);
        let h = fake_header(EM_AARCH64, false);
        for cut in 0..h.len() {
            let _ = parse(&h[..cut]);
        }
        let mut huge = h.clone();
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&huge).is_some());
        assert_eq!(machine_name(EM_AARCH64), "aarch64");
    }
}
