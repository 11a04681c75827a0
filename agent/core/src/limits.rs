//! Every size of the protocol, in one place.
//!
//! A reader can add up the worst-case memory of the agent from these constants: every buffer in
//! the crate is a fixed array or a `heapless` collection whose capacity is one of them. Changing a
//! value here changes the wire format's limits (not its encoding); keep `docs/protocol.md` in step.

/// Protocol version carried in every challenge and hello.
pub const PROTOCOL_VERSION: u8 = 1;

/// Longest host id or volume name, in bytes (printable ASCII, no spaces).
pub const MAX_NAME: usize = 32;

/// Most volumes one agent offers in a challenge and one token carries.
pub const MAX_VOLUMES: usize = 8;

/// Longest secret (LUKS passphrase or key file) one volume can receive, in bytes.
pub const MAX_SECRET: usize = 512;

/// ChaCha20-Poly1305 tag length: a sealed secret is this much longer than the secret.
pub const AEAD_TAG_LEN: usize = 16;

/// Longest sealed secret (ciphertext with its tag).
pub const MAX_SEALED: usize = MAX_SECRET + AEAD_TAG_LEN;

/// Most admin keys an agent accepts tokens from.
pub const MAX_ADMINS: usize = 32;

/// Most tokens one challenge accepts; each accepted token's hash is remembered so that no token
/// is used twice.
pub const MAX_TOKENS_PER_CHALLENGE: usize = 8;

/// Length of the random `boot_id` the agent draws at start.
pub const BOOT_ID_LEN: usize = 16;

/// Length of an ed25519 or X25519 public key, of an ed25519 seed and of an X25519 secret.
pub const KEY_LEN: usize = 32;

/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Length of the SHA-256 digests that bind messages to each other.
pub const HASH_LEN: usize = 32;

/// Hard maximum of one frame on the wire, including the `00 FE` start and the `00` end.
pub const MAX_FRAME: usize = 2048;

/// Bytes of the frame that are not COBS data: the `00 FE` start marker and the `00` end.
pub const FRAME_MARKERS: usize = 3;

/// Length of the CRC-32 that follows the payload inside the COBS data.
pub const CRC_LEN: usize = 4;

/// Most COBS-encoded bytes between the start marker and the end of a frame.
pub const MAX_COBS: usize = MAX_FRAME - FRAME_MARKERS;

/// Largest postcard payload of one frame (a message), chosen so that its worst-case COBS
/// encoding with the CRC still fits in [`MAX_COBS`].
pub const MAX_PAYLOAD: usize = 2016;

/// Longest COBS encoding of `n` bytes: one overhead byte per 254 bytes, plus one.
#[allow(clippy::arithmetic_side_effects)] // used on the constants above, checked at compile time
pub const fn cobs_max_len(n: usize) -> usize {
    n + n / 254 + 1
}

const _: () = assert!(cobs_max_len(MAX_PAYLOAD + CRC_LEN) <= MAX_COBS);
const _: () = assert!(MAX_COBS >= MAX_PAYLOAD + CRC_LEN);
