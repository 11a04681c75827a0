//! Host ids and volume names: short, plain, checked at the edge. The one rule for them, used by
//! the wire, the agent's config, the host tool's arguments and flash.
//!
//! Names travel from the agent's config into signed challenges and are printed by the host tool
//! on an admin's terminal, so a name may never carry control characters or escape sequences; they
//! are also crypttab names, file names and words in shell scripts, so only `[A-Za-z0-9._-]`. The
//! check runs on every decoded message (through serde's `try_from`), never later.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::MAX_NAME;

/// A host id or volume name: 1 to [`MAX_NAME`] bytes of `[A-Za-z0-9._-]`.
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
    /// The name holds a byte other than `A-Z`, `a-z`, `0-9`, `.`, `_` and `-`.
    BadCharacter,
}

impl NameError {
    /// What went wrong, in one line (shown with `Display`; the limit comes from [`MAX_NAME`]).
    pub fn message(self) -> NameText {
        NameText {
            error: self,
            hint: false,
        }
    }

    /// What to do about it.
    pub fn hint(self) -> NameText {
        NameText {
            error: self,
            hint: true,
        }
    }
}

/// The text of a [`NameError`]'s message or hint, formatted with the limits of [`crate::limits`].
#[derive(Clone, Copy, Debug)]
pub struct NameText {
    error: NameError,
    hint: bool,
}

impl fmt::Display for NameText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hint {
            return write!(
                f,
                "use 1 to {MAX_NAME} characters of A-Z, a-z, 0-9, `.`, `_` and `-`, e.g. web1 or sda5_crypt"
            );
        }
        match self.error {
            NameError::Empty => f.write_str("name is empty"),
            NameError::TooLong => write!(f, "name is longer than {MAX_NAME} bytes"),
            NameError::BadCharacter => {
                f.write_str("name holds a character other than A-Z, a-z, 0-9, `.`, `_` and `-`")
            }
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message().fmt(f)
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
        if !s.bytes().all(is_name_byte) {
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

/// Whether `b` may stand in a name: `[A-Za-z0-9._-]`.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
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

    use std::string::ToString;

    #[test]
    fn accepts_letters_digits_dot_underscore_dash_up_to_max_name() {
        assert!(Name::new("web1").is_ok());
        assert!(Name::new("nvme0n1p3_crypt").is_ok());
        assert!(Name::new("db-2.example").is_ok());
        assert!(Name::new(&"a".repeat(MAX_NAME)).is_ok());
    }

    #[test]
    fn messages_state_the_limit_of_limits_rs() {
        let limit = std::format!("{MAX_NAME}");
        assert_eq!(
            NameError::TooLong.to_string(),
            std::format!("name is longer than {limit} bytes")
        );
        for e in [
            NameError::Empty,
            NameError::TooLong,
            NameError::BadCharacter,
        ] {
            assert!(e.hint().to_string().contains(&limit), "{}", e.hint());
            assert_eq!(e.to_string(), e.message().to_string());
        }
    }

    #[test]
    fn refuses_empty_long_spaces_controls_and_non_ascii() {
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(
            Name::new(&"a".repeat(MAX_NAME + 1)),
            Err(NameError::TooLong)
        );
        assert_eq!(Name::new("a b"), Err(NameError::BadCharacter));
        for bad in ["a:b", "a/b", "a;b", "$x", "a\"'", "a`b"] {
            assert_eq!(Name::new(bad), Err(NameError::BadCharacter), "{bad}");
        }
        assert_eq!(Name::new("a\x1b[2J"), Err(NameError::BadCharacter));
        assert_eq!(Name::new("é"), Err(NameError::BadCharacter));
        assert_eq!(Name::from_bytes(&[0xff]), Err(NameError::BadCharacter));
    }
}
