//! A sans-IO line editor for a passphrase typed blind at the serial console (the prompt around
//! it is `console.rs`).
//!
//! The agent owns the console tty (docs/interfaces.md, "The serial console"), so it has to do what
//! askpass did there: take a line typed blind, with backspace working, and hand it over as a secret.
//! This module sees only the console-text bytes (frames are taken out by the core's stream decoder
//! before they get here), never echoes a secret byte, never allocates, and wipes its buffer on every
//! submit, clear and drop.

use zeroize::Zeroize;

/// Longest line kept; bytes past it are dropped (cryptsetup's own limit for typed passphrases is 512).
pub const MAX_LINE: usize = 512;

/// What a byte fed to the editor produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing to do yet.
    None,
    /// Enter was pressed on a non-empty line: [`LineEditor::take`] gives the secret.
    Submit,
    /// Ctrl-C: the line was thrown away; the caller prints the prompt again.
    Cancelled,
}

pub struct LineEditor {
    buf: [u8; MAX_LINE],
    len: usize,
    /// The previous byte was `\r`, so a following `\n` is the same Enter, not an empty line.
    after_cr: bool,
    /// Inside an ANSI escape sequence (arrow keys and friends): swallowed, never part of a secret.
    escape: Escape,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    No,
    Esc,
    Csi,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        LineEditor {
            buf: [0; MAX_LINE],
            len: 0,
            after_cr: false,
            escape: Escape::No,
        }
    }

    /// Number of bytes typed so far.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn feed(&mut self, b: u8) -> Event {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Esc => {
                self.escape = if b == b'[' || b == b'O' {
                    Escape::Csi
                } else {
                    Escape::No
                };
                return Event::None;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.escape = Escape::No;
                }
                return Event::None;
            }
            Escape::No => {}
        }
        match b {
            b'\r' | b'\n' => {
                if b == b'\r' {
                    self.after_cr = true;
                } else if after_cr {
                    return Event::None;
                }
                if self.len == 0 {
                    Event::None
                } else {
                    Event::Submit
                }
            }
            0x7f | 0x08 => {
                if self.len > 0 {
                    self.len -= 1;
                    self.buf[self.len] = 0;
                }
                Event::None
            }
            0x15 => {
                self.clear();
                Event::None
            }
            0x03 => {
                self.clear();
                Event::Cancelled
            }
            0x1b => {
                self.escape = Escape::Esc;
                Event::None
            }
            b if b < 0x20 => Event::None,
            b => {
                if self.len < MAX_LINE {
                    self.buf[self.len] = b;
                    self.len += 1;
                }
                Event::None
            }
        }
    }

    /// Hands the submitted line to `f` and wipes it.
    pub fn take<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let r = f(&self.buf[..self.len]);
        self.clear();
        r
    }

    pub fn clear(&mut self) {
        self.buf.zeroize();
        self.len = 0;
    }
}

impl Drop for LineEditor {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(ed: &mut LineEditor, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        for &b in bytes {
            if ed.feed(b) == Event::Submit {
                lines.push(ed.take(|l| l.to_vec()));
            }
        }
        lines
    }

    #[test]
    fn enter_submits_and_wipes() {
        let mut ed = LineEditor::new();
        assert_eq!(typed(&mut ed, b"hunter2\r"), vec![b"hunter2".to_vec()]);
        assert!(ed.is_empty());
        assert!(ed.buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn crlf_is_one_enter_and_empty_lines_are_ignored() {
        let mut ed = LineEditor::new();
        assert_eq!(
            typed(&mut ed, b"\r\n\nab\r\ncd\n"),
            vec![b"ab".to_vec(), b"cd".to_vec()]
        );
    }

    #[test]
    fn backspace_and_delete_remove_one_byte() {
        let mut ed = LineEditor::new();
        assert_eq!(typed(&mut ed, b"abx\x7fc\x08\x08d\r"), vec![b"ad".to_vec()]);
        // Backspace on an empty line is harmless.
        assert_eq!(typed(&mut ed, b"\x7f\x7fz\r"), vec![b"z".to_vec()]);
    }

    #[test]
    fn ctrl_u_clears_and_ctrl_c_cancels() {
        let mut ed = LineEditor::new();
        assert_eq!(typed(&mut ed, b"wrong\x15right\r"), vec![b"right".to_vec()]);
        assert_eq!(ed.feed(b'x'), Event::None);
        assert_eq!(ed.feed(0x03), Event::Cancelled);
        assert!(ed.is_empty());
    }

    #[test]
    fn escape_sequences_are_not_part_of_the_secret() {
        let mut ed = LineEditor::new();
        assert_eq!(
            typed(&mut ed, b"a\x1b[Db\x1b[1;5Cc\x1bOAd\r"),
            vec![b"abcd".to_vec()]
        );
    }

    #[test]
    fn overlong_lines_are_bounded() {
        let mut ed = LineEditor::new();
        let long = vec![b'x'; MAX_LINE * 3];
        assert!(typed(&mut ed, &long).is_empty());
        assert_eq!(ed.len(), MAX_LINE);
        assert_eq!(typed(&mut ed, b"\r")[0].len(), MAX_LINE);
    }

    #[test]
    fn any_bytes_never_panic() {
        let mut ed = LineEditor::new();
        for round in 0..4u32 {
            for b in 0..=255u8 {
                let _ = ed.feed(b.wrapping_mul(round as u8 + 1));
            }
        }
        assert!(ed.len() <= MAX_LINE);
    }
}
