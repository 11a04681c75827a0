//! A secret (passphrase or key) of at most [`MAX_SECRET`] bytes that wipes itself.
//!
//! Secrets live only in this type between being opened and being handed to cryptsetup; it is
//! zeroized on drop and never printed (its `Debug` says only its length).

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::limits::MAX_SECRET;

/// A volume secret, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret {
    bytes: [u8; MAX_SECRET],
    len: usize,
}

/// The secret is longer than [`MAX_SECRET`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretTooLong;

impl fmt::Display for SecretTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "secret is longer than {MAX_SECRET} bytes: use a shorter passphrase or key file"
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SecretTooLong {}

impl Secret {
    /// An empty secret.
    pub const fn empty() -> Secret {
        Secret {
            bytes: [0; MAX_SECRET],
            len: 0,
        }
    }

    /// Copies `b` into a new secret.
    pub fn new(b: &[u8]) -> Result<Secret, SecretTooLong> {
        let mut s = Secret::empty();
        s.bytes
            .get_mut(..b.len())
            .ok_or(SecretTooLong)?
            .copy_from_slice(b);
        s.len = b.len();
        Ok(s)
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The secret's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole backing buffer, for decrypting in place; call [`Secret::set_len`] after.
    pub(crate) fn buffer_mut(&mut self) -> &mut [u8; MAX_SECRET] {
        &mut self.bytes
    }

    /// Sets the length after writing into [`Secret::buffer_mut`]; clamps at [`MAX_SECRET`].
    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(MAX_SECRET);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_512_bytes_and_hides_itself_in_debug() {
        let s = Secret::new(b"hunter2").unwrap();
        assert_eq!(s.as_bytes(), b"hunter2");
        assert_eq!(std::format!("{s:?}"), "Secret(7 bytes)");
        assert!(Secret::new(&[1; 512]).is_ok());
        assert_eq!(Secret::new(&[1; 513]).unwrap_err(), SecretTooLong);
    }
}
