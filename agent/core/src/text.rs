//! Messages that quote a limit, built at compile time from [`crate::limits`] so that the text
//! cannot drift from the value (`message()` returns `&'static str`, and the core has no
//! allocator to format one at run time).
//!
//! Everything here runs in const evaluation only: an overflow or an index out of range is a
//! build error, never a run-time panic. Nothing here is for text from the wire.

/// One piece of a message: text, or a number written in decimal.
#[derive(Clone, Copy)]
pub(crate) enum Piece {
    /// Literal text.
    Str(&'static str),
    /// A number, written in decimal.
    Num(usize),
}

/// Decimal digits of `n`.
#[allow(clippy::arithmetic_side_effects)] // const evaluation only (see the module doc)
const fn digits(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Length in bytes of the message made of `pieces`.
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)] // const evaluation only
pub(crate) const fn len(pieces: &[Piece]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < pieces.len() {
        total += match pieces[i] {
            Piece::Str(s) => s.len(),
            Piece::Num(n) => digits(n),
        };
        i += 1;
    }
    total
}

/// The message made of `pieces`, as bytes; `N` must be [`len`]`(pieces)`.
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)] // const evaluation only
pub(crate) const fn build<const N: usize>(pieces: &[Piece]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < pieces.len() {
        match pieces[i] {
            Piece::Str(s) => {
                let b = s.as_bytes();
                let mut j = 0;
                while j < b.len() {
                    out[at] = b[j];
                    at += 1;
                    j += 1;
                }
            }
            Piece::Num(n) => {
                let d = digits(n);
                let mut rest = n;
                let mut j = d;
                while j > 0 {
                    out[at + j - 1] = b'0' + (rest % 10) as u8;
                    rest /= 10;
                    j -= 1;
                }
                at += d;
            }
        }
        i += 1;
    }
    out
}

/// The bytes [`build`] made, as text (they are ASCII digits and `str` pieces, so always UTF-8).
pub(crate) const fn as_str(bytes: &'static [u8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => "",
    }
}

/// `message!(Str("more than "), Num(MAX_VOLUMES))`: a `&'static str` built at compile time.
macro_rules! message {
    ($($piece:expr),+ $(,)?) => {{
        #[allow(unused_imports)]
        use $crate::text::Piece::{Num, Str};
        const PIECES: &[$crate::text::Piece] = &[$($piece),+];
        const BYTES: [u8; $crate::text::len(PIECES)] = $crate::text::build(PIECES);
        const TEXT: &str = $crate::text::as_str(&BYTES);
        TEXT
    }};
}
pub(crate) use message;

#[cfg(test)]
mod tests {
    use std::format;
    use std::string::ToString;

    use crate::client::ClientError;
    use crate::frame::FrameError;
    use crate::limits::{MAX_FRAME, MAX_PAYLOAD, MAX_SECRET, MAX_VOLUMES};
    use crate::seal::SealError;
    use crate::secret::SecretTooLong;

    /// Every message of the core that quotes a limit, formatted against `limits`.
    #[test]
    fn every_message_quoting_a_limit_says_its_value() {
        assert_eq!(
            FrameError::TooLong.message(),
            format!(
                "frame over the size limit ({MAX_FRAME} bytes, {MAX_PAYLOAD} of message) dropped"
            )
        );
        assert_eq!(
            ClientError::VolumeCount.message(),
            format!("no volume to unlock, or more than {MAX_VOLUMES}")
        );
        assert_eq!(
            SecretTooLong.to_string(),
            format!(
                "secret is longer than {MAX_SECRET} bytes: use a shorter passphrase or key file"
            )
        );
        assert_eq!(
            SealError::SecretTooLong.to_string(),
            format!("secret longer than {MAX_SECRET} bytes")
        );
    }

    #[test]
    fn numbers_and_text_are_joined() {
        assert_eq!(
            message!(Str("a "), Num(0), Str(" b "), Num(2048)),
            "a 0 b 2048"
        );
        assert_eq!(message!(Num(usize::MAX)), std::format!("{}", usize::MAX));
    }
}
