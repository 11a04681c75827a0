//! Framing: one format for TCP and the serial console.
//!
//! A frame on the wire is `00 FE` + COBS(payload ‖ CRC-32(payload), little-endian) + `00`. COBS
//! removes every `00` from the data, so `00` only ever delimits; the `FE` after it tells a frame
//! from console text (neither `00` nor `FE` appear in text a person types, and `FE` never appears
//! in UTF-8). The end `00` of one frame may be the start `00` of the next.
//!
//! [`Decoder`] picks frames out of a byte stream full of console text and hands the text back. It
//! never wedges: every `00` resets it, an over-long frame is dropped after [`MAX_COBS`] bytes, and
//! its memory is one fixed buffer, wiped whenever it drops what it holds (console text a stray
//! `00 FE` swallowed may be a typed passphrase). This module must never panic, allocate or block.

use core::fmt;

use zeroize::Zeroize;

use crate::limits::{CRC_LEN, FRAME_MARKERS, MAX_COBS, MAX_FRAME, MAX_PAYLOAD};
use crate::text::message;

/// Byte that follows the delimiting `00` to start a frame.
pub const START_MARKER: u8 = 0xFE;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Why a frame could not be made or was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The payload is larger than [`MAX_PAYLOAD`].
    PayloadTooLarge,
    /// The output buffer cannot hold the frame.
    BufferTooSmall,
    /// More than [`MAX_COBS`] bytes followed a start marker without an end, or the frame holds
    /// more than [`MAX_PAYLOAD`] bytes: dropped.
    TooLong,
    /// The frame is too short to hold a CRC and a message.
    TooShort,
    /// The bytes are not valid COBS.
    BadCobs,
    /// The CRC does not match: the frame was damaged on the way.
    BadCrc,
}

impl FrameError {
    /// What went wrong, in one line.
    pub fn message(self) -> &'static str {
        match self {
            FrameError::PayloadTooLarge => "message too large for one frame",
            FrameError::BufferTooSmall => "output buffer too small for the frame",
            FrameError::TooLong => message!(
                Str("frame over the size limit ("),
                Num(MAX_FRAME),
                Str(" bytes, "),
                Num(MAX_PAYLOAD),
                Str(" of message) dropped"),
            ),
            FrameError::TooShort => "frame too short dropped",
            FrameError::BadCobs => "frame with bad COBS encoding dropped",
            FrameError::BadCrc => "frame with bad CRC dropped",
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        match self {
            FrameError::PayloadTooLarge => "send fewer or shorter secrets per token",
            FrameError::BufferTooSmall => "give a buffer of limits::MAX_FRAME bytes",
            _ => "check the line (baud rate, noise); the sender may retry",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// Wraps `payload` into a frame in `out`; returns the frame's length (at most [`MAX_FRAME`]).
pub fn encode(payload: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::PayloadTooLarge);
    }
    let crc = CRC.checksum(payload).to_le_bytes();
    let (head, rest) = out
        .split_first_chunk_mut::<2>()
        .ok_or(FrameError::BufferTooSmall)?;
    *head = [0x00, START_MARKER];
    let mut enc = cobs::CobsEncoder::new(rest);
    enc.push(payload).map_err(|_| FrameError::BufferTooSmall)?;
    enc.push(&crc).map_err(|_| FrameError::BufferTooSmall)?;
    let n = enc.finalize();
    let end = n.checked_add(2).ok_or(FrameError::BufferTooSmall)?;
    *out.get_mut(end).ok_or(FrameError::BufferTooSmall)? = 0x00;
    let total = end.checked_add(1).ok_or(FrameError::BufferTooSmall)?;
    debug_assert!((FRAME_MARKERS..=MAX_FRAME).contains(&total));
    Ok(total)
}

/// What a read step found at the front of the input: one enum for every reader of the stream.
///
/// `F` is what a whole frame gives: its payload for [`Decoder::decode`] (the default), its length
/// in the decoder's buffer inside the crate, and the handled message for the state machines
/// (`drive.rs`), which turn it into their own event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a, F = &'a [u8]> {
    /// All input was used and no frame is complete yet: read more bytes.
    NeedMore,
    /// Console text (never holding `00` bytes, which are delimiters): show or use it.
    Text(&'a [u8]),
    /// A complete frame whose CRC is good: its payload (a message to parse).
    Frame(F),
    /// A frame was dropped; the decoder has already resynchronised.
    Error(FrameError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    SawZero,
    InFrame,
}

/// Stream decoder: feed it bytes as they come, in any chunking.
///
/// Memory: one buffer of [`MAX_COBS`] bytes.
#[derive(Clone)]
pub struct Decoder {
    state: State,
    buf: [u8; MAX_COBS],
    len: usize,
    /// How far into `buf` bytes were written since the last wipe.
    dirty: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("state", &self.state)
            .field("len", &self.len)
            .finish()
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl Decoder {
    /// A decoder in text mode, waiting for `00 FE`.
    pub const fn new() -> Decoder {
        Decoder {
            state: State::Text,
            buf: [0; MAX_COBS],
            len: 0,
            dirty: 0,
        }
    }

    /// Drops any partial frame (wiping its bytes) and returns to text mode.
    pub fn reset(&mut self) {
        self.state = State::Text;
        self.len = 0;
        self.wipe();
    }

    /// Bytes buffered after a stray `00 FE` may be console text a person typed (a passphrase):
    /// whatever the decoder drops, it wipes. Only the bytes written since the last wipe, so that
    /// a flood of `00 FE 00` costs no more than reading it.
    fn wipe(&mut self) {
        let dirty = core::mem::take(&mut self.dirty);
        if let Some(used) = self.buf.get_mut(..dirty) {
            used.zeroize();
        }
    }

    /// Whether a frame has started and not yet ended.
    ///
    /// A sender writes a frame in one go, so a frame that stays open while the line is quiet is a
    /// stray `00 FE` (a tool killed mid-frame, noise) that swallows what a person types, up to
    /// [`MAX_COBS`] bytes. On a console, call [`Decoder::reset`] (or the state machines'
    /// `reset_input`) when this is true and no byte came for about a second.
    pub fn in_frame(&self) -> bool {
        self.state == State::InFrame
    }

    /// Looks at the front of `input` and returns how many bytes it used and what it found.
    ///
    /// Call again with the unused rest (`&input[used..]`) until it returns
    /// [`Decoded::NeedMore`]. `used` is never 0 unless the result is `NeedMore`, so a loop
    /// around this always ends.
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> (usize, Decoded<'a>) {
        let (used, step) = self.step(input);
        let ev = match step {
            Decoded::NeedMore => Decoded::NeedMore,
            Decoded::Text(t) => Decoded::Text(t),
            Decoded::Frame(n) => Decoded::Frame(self.payload(n)),
            Decoded::Error(e) => Decoded::Error(e),
        };
        (used, ev)
    }

    /// The payload of the frame the last [`Decoder::step`] returned as `Decoded::Frame(n)`.
    pub(crate) fn payload(&self, n: usize) -> &[u8] {
        self.buf.get(..n).unwrap_or(&[])
    }

    /// [`Decoder::decode`] with a whole frame given as its length in [`Decoder::payload`], so
    /// that the result does not borrow the decoder (for the state machines' read loop).
    pub(crate) fn step<'a>(&mut self, input: &'a [u8]) -> (usize, Decoded<'a, usize>) {
        let mut pos = 0usize;
        loop {
            let rest = input.get(pos..).unwrap_or(&[]);
            let Some(&first) = rest.first() else {
                return (pos, Decoded::NeedMore);
            };
            match self.state {
                State::Text => {
                    if first == 0 {
                        self.state = State::SawZero;
                        pos = pos.saturating_add(1);
                        continue;
                    }
                    let n = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                    let end = pos.saturating_add(n);
                    return (end, Decoded::Text(rest.get(..n).unwrap_or(&[])));
                }
                State::SawZero => match first {
                    0 => pos = pos.saturating_add(1),
                    START_MARKER => {
                        self.state = State::InFrame;
                        self.len = 0;
                        pos = pos.saturating_add(1);
                    }
                    _ => self.state = State::Text,
                },
                State::InFrame => {
                    let n = rest.iter().position(|&b| b == 0);
                    let chunk_len = n.unwrap_or(rest.len());
                    let chunk = rest.get(..chunk_len).unwrap_or(&[]);
                    let end = self.len.saturating_add(chunk_len);
                    let Some(dst) = self.buf.get_mut(self.len..end) else {
                        // Too long: whatever follows is treated as text again, so a stray
                        // `00 FE` in console output hides at most MAX_COBS bytes of it.
                        let room = MAX_COBS.saturating_sub(self.len);
                        self.reset();
                        let used = pos.saturating_add(room.max(1).min(chunk_len));
                        return (used, Decoded::Error(FrameError::TooLong));
                    };
                    dst.copy_from_slice(chunk);
                    self.len = end;
                    self.dirty = self.dirty.max(end);
                    pos = pos.saturating_add(chunk_len);
                    if n.is_some() {
                        // The end `00` may also start the next frame.
                        pos = pos.saturating_add(1);
                        self.state = State::SawZero;
                        let len = core::mem::take(&mut self.len);
                        let step = self.finish(len);
                        if let Decoded::Error(_) = step {
                            self.wipe();
                        }
                        return (pos, step);
                    }
                }
            }
        }
    }

    fn finish(&mut self, len: usize) -> Decoded<'static, usize> {
        if len == 0 {
            return Decoded::Error(FrameError::TooShort);
        }
        let Some(data) = self.buf.get_mut(..len) else {
            return Decoded::Error(FrameError::TooLong);
        };
        let n = match cobs::decode_in_place(data) {
            Ok(n) => n,
            Err(_) => return Decoded::Error(FrameError::BadCobs),
        };
        let Some(body_len) = n.checked_sub(CRC_LEN).filter(|&b| b > 0) else {
            return Decoded::Error(FrameError::TooShort);
        };
        // COBS data of MAX_COBS bytes can hold more than any sender frames: callers size their
        // buffers by MAX_PAYLOAD.
        if body_len > MAX_PAYLOAD {
            return Decoded::Error(FrameError::TooLong);
        }
        let (Some(payload), Some(crc)) = (data.get(..body_len), data.get(body_len..n)) else {
            return Decoded::Error(FrameError::TooShort);
        };
        let got = u32::from_le_bytes(crc.try_into().unwrap_or([0; 4]));
        if CRC.checksum(payload) != got {
            return Decoded::Error(FrameError::BadCrc);
        }
        Decoded::Frame(body_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME];
        let n = encode(payload, &mut out).unwrap();
        out[..n].to_vec()
    }

    /// Feeds `input` in chunks of `chunk` bytes; collects text, frames and errors.
    pub(crate) fn run(input: &[u8], chunk: usize) -> (Vec<u8>, Vec<Vec<u8>>, Vec<FrameError>) {
        let mut d = Decoder::new();
        let (mut text, mut frames, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            loop {
                let (used, ev) = d.decode(rest);
                match ev {
                    Decoded::NeedMore => {
                        assert_eq!(used, rest.len());
                        break;
                    }
                    Decoded::Text(t) => text.extend_from_slice(t),
                    Decoded::Frame(f) => frames.push(f.to_vec()),
                    Decoded::Error(e) => errors.push(e),
                }
                assert!(used > 0);
                rest = &rest[used..];
            }
        }
        (text, frames, errors)
    }

    #[test]
    fn frame_starts_with_marker_and_ends_with_zero() {
        let f = frame(b"hello");
        assert_eq!(&f[..2], &[0x00, 0xFE]);
        assert_eq!(*f.last().unwrap(), 0);
        assert!(!f[2..f.len() - 1].contains(&0));
    }

    #[test]
    fn text_and_frames_are_separated_in_any_chunking() {
        let mut input = b"Please unlock disk sda5_crypt: ".to_vec();
        input.extend(frame(b"\x00one\x00"));
        input.extend(b"typed text\r\n");
        input.extend(frame(b"two"));
        input.extend(frame(b"three"));
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let (text, frames, errors) = run(&input, chunk);
            assert_eq!(text, b"Please unlock disk sda5_crypt: typed text\r\n");
            assert_eq!(
                frames,
                [b"\x00one\x00".to_vec(), b"two".to_vec(), b"three".to_vec()]
            );
            assert!(errors.is_empty());
        }
    }

    #[test]
    fn damaged_frame_is_dropped_and_the_next_one_still_decodes() {
        let mut bad = frame(b"payload");
        bad[4] ^= 0x01;
        let mut input = bad;
        input.extend(frame(b"good"));
        let (_, frames, errors) = run(&input, 5);
        assert_eq!(frames, [b"good".to_vec()]);
        assert_eq!(errors, [FrameError::BadCrc]);
    }

    #[test]
    fn stray_marker_in_text_hides_at_most_one_frame_length() {
        let mut input = b"noise\x00\xFE".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_COBS + 100));
        input.extend(frame(b"after"));
        let (text, frames, errors) = run(&input, 100);
        assert_eq!(errors, [FrameError::TooLong]);
        assert_eq!(frames, [b"after".to_vec()]);
        assert!(
            text.len() >= 100,
            "text after the overflow comes back as text"
        );
    }

    #[test]
    fn zero_bytes_and_empty_frames_do_not_wedge() {
        let mut input = std::vec![0u8; 10];
        input.extend([0x00, 0xFE, 0x00, 0xFE, 0x01, 0x00]);
        input.extend(frame(b"ok"));
        let (text, frames, errors) = run(&input, 3);
        assert!(text.is_empty());
        assert_eq!(frames, [b"ok".to_vec()]);
        assert_eq!(errors, [FrameError::TooShort, FrameError::TooShort]);
    }

    /// A sender never frames more than MAX_PAYLOAD bytes, but MAX_COBS bytes of COBS data can
    /// hold up to 2040: such a frame, even with a good CRC, is dropped, not handed out.
    #[test]
    fn payload_over_the_limit_is_dropped_even_with_a_good_crc() {
        for len in [MAX_PAYLOAD + 1, MAX_COBS - 1 - CRC_LEN] {
            // Zeros cost COBS no overhead beyond its first byte.
            let mut data = std::vec![0; len];
            data.extend(CRC.checksum(&data[..len]).to_le_bytes());
            let mut cobs_data = std::vec![0u8; crate::limits::cobs_max_len(data.len())];
            let n = cobs::encode(&data, &mut cobs_data);
            assert!(
                n <= MAX_COBS,
                "control: the frame fits the decoder's buffer"
            );
            let mut input = std::vec![0x00, START_MARKER];
            input.extend(&cobs_data[..n]);
            input.push(0);
            let (_, frames, errors) = run(&input, 64);
            assert!(frames.is_empty(), "{len}-byte payload handed out");
            assert_eq!(errors, [FrameError::TooLong]);
        }
    }

    /// After a stray `00 FE` (a tool killed mid-frame, line noise), what a person types at the
    /// console lands in the frame buffer; it may be a passphrase, so every way of dropping it
    /// wipes it.
    #[test]
    fn dropped_bytes_are_wiped_from_the_buffer() {
        let typed = b"\x00\xFEhunter2 correct horse";
        let held = |d: &Decoder| d.buf.windows(7).any(|w| w == b"hunter2");

        let mut d = Decoder::new();
        assert_eq!(d.step(typed).1, Decoded::NeedMore);
        assert!(held(&d), "control: the typed bytes are buffered");
        d.reset();
        assert!(!held(&d), "reset wipes");

        let mut d = Decoder::new();
        d.step(typed);
        let (_, step) = d.step(b"\x00");
        assert!(matches!(step, Decoded::Error(_)), "{step:?}");
        assert!(!held(&d), "a bad frame is wiped");

        let mut d = Decoder::new();
        d.step(typed);
        let (_, step) = d.step(&[b'x'; MAX_COBS]);
        assert_eq!(step, Decoded::Error(FrameError::TooLong));
        assert!(!held(&d), "an over-long frame is wiped");
    }

    #[test]
    fn payload_limit_is_enforced_and_max_payload_fits() {
        let mut out = [0u8; MAX_FRAME];
        let max = [0xAB; MAX_PAYLOAD];
        let n = encode(&max, &mut out).unwrap();
        assert!(n <= MAX_FRAME);
        let (_, frames, _) = run(&out[..n], 999);
        assert_eq!(frames, [max.to_vec()]);
        assert_eq!(
            encode(&[0; MAX_PAYLOAD + 1], &mut out),
            Err(FrameError::PayloadTooLarge)
        );
        assert_eq!(encode(b"x", &mut out[..5]), Err(FrameError::BufferTooSmall));
    }
}
