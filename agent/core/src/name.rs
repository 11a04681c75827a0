//! Host ids and volume names: short, printable, checked at the edge.
//!
//! Names travel from the agent's config into signed challenges and are printed by the host tool
//! on an admin's terminal, so a name may never carry control characters or escape sequences. The
//! check runs on every decoded message (through serde's `try_from`), never later.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::MAX_NAME;

/// A host id or volume name: 1 to [`MAX_NAME`] bytes of printable ASCII without spaces
/// (`0x21..=0x7e`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "heapless::String<MAX_NAME>")]
pub struct Name(heapless::String<MAX_NAME>);

/// Why a string is not a valid [`Name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME`] bytes.
    TooLong,
    /// The name holds a space, a control character or a non-ASCII byte.
    BadCharacter,
}

impl NameError {
    /// What went wrong, in one line.
    pub fn message(self) -> &'static str {
        match self {
            NameError::Empty => "name is empty",
            NameError::TooLong => "name is longer than 32 bytes",
            NameError::BadCharacter => "name holds a space, control or non-ASCII character",
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        "use 1 to 32 characters of printable ASCII without spaces, e.g. web1 or sda5_crypt"
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NameError {}

impl Name {
    /// Checks `s` and makes it a name.
    pub fn new(s: &str) -> Result<Name, NameError> {
        Self::check(s)?;
        let mut out = heapless::String::new();
        out.push_str(s).map_err(|_| NameError::TooLong)?;
        Ok(Name(out))
    }

    /// Checks raw bytes (e.g. a config line) and makes them a name.
    pub fn from_bytes(b: &[u8]) -> Result<Name, NameError> {
        let s = core::str::from_utf8(b).map_err(|_| NameError::BadCharacter)?;
        Self::new(s)
    }

    fn check(s: &str) -> Result<(), NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME {
            return Err(NameError::TooLong);
        }
        if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(NameError::BadCharacter);
        }
        Ok(())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The name as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl TryFrom<heapless::String<MAX_NAME>> for Name {
    type Error = NameError;
    fn try_from(s: heapless::String<MAX_NAME>) -> Result<Name, NameError> {
        Self::check(s.as_str())?;
        Ok(Name(s))
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ascii_up_to_32_bytes() {
        assert!(Name::new("web1").is_ok());
        assert!(Name::new("nvme0n1p3_crypt").is_ok());
        assert!(Name::new(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn refuses_empty_long_spaces_controls_and_non_ascii() {
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(Name::new(&"a".repeat(33)), Err(NameError::TooLong));
        assert_eq!(Name::new("a b"), Err(NameError::BadCharacter));
        assert_eq!(Name::new("a\x1b[2J"), Err(NameError::BadCharacter));
        assert_eq!(Name::new("é"), Err(NameError::BadCharacter));
        assert_eq!(Name::from_bytes(&[0xff]), Err(NameError::BadCharacter));
    }
}
