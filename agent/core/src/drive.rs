//! The read loop both state machines share, in the shape of rustls'
//! `process_tls_records_common`: the agent and the client differ only in what a whole frame
//! means to them ([`Side::handle_frame`]); reading the stream, handing text back and skipping
//! frames they ignore is written once, here.
//!
//! Like the rest of the core this owns no socket, clock or RNG, and must never panic, allocate
//! or block. The payload of a frame is copied out of the decoder into a buffer on the stack that
//! is wiped on return, so a side may borrow itself mutably while it handles the frame.

use zeroize::Zeroizing;

use crate::frame::{Decoded, Decoder, FrameError};
use crate::limits::MAX_PAYLOAD;

/// One end of the protocol as the read loop sees it.
pub(crate) trait Side {
    /// What handling one frame gives the side's `process`.
    type Handled;

    /// The side's stream decoder.
    fn decoder(&mut self) -> &mut Decoder;

    /// Handles one whole frame's payload; `None` skips it (e.g. our own frame echoed by a tty)
    /// and the loop reads on.
    fn handle_frame(&mut self, payload: &[u8]) -> Option<Self::Handled>;
}

/// Reads `incoming` until something the caller must act on: text, a dropped frame, or a frame
/// the side handled. Returns how many bytes were used; only `NeedMore` ends the input.
pub(crate) fn process<'a, S: Side>(
    side: &mut S,
    incoming: &'a [u8],
) -> (usize, Decoded<'a, S::Handled>) {
    let mut payload = Zeroizing::new([0u8; MAX_PAYLOAD]);
    let mut pos = 0usize;
    loop {
        let rest = incoming.get(pos..).unwrap_or(&[]);
        let (used, step) = side.decoder().step(rest);
        pos = pos.saturating_add(used);
        let n = match step {
            Decoded::NeedMore => return (pos, Decoded::NeedMore),
            Decoded::Text(text) => return (pos, Decoded::Text(text)),
            Decoded::Error(e) => return (pos, Decoded::Error(e)),
            Decoded::Frame(len) => {
                let frame = side.decoder().payload(len);
                match payload.get_mut(..frame.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(frame);
                        frame.len()
                    }
                    // The decoder never yields more than MAX_PAYLOAD bytes.
                    None => return (pos, Decoded::Error(FrameError::TooLong)),
                }
            }
        };
        if let Some(handled) = side.handle_frame(payload.get(..n).unwrap_or(&[])) {
            return (pos, Decoded::Frame(handled));
        }
    }
}
