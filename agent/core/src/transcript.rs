//! What exactly is signed and hashed: the domain strings and digests that bind the three messages
//! to each other (documented byte for byte in `docs/protocol.md`).
//!
//! Every signature covers a distinct context string, so a signature made for one message can never
//! verify as another. Nothing here may panic or allocate.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::limits::{HASH_LEN, KEY_LEN, MAX_PAYLOAD, SIGNATURE_LEN};

/// Context of the host's signature over a challenge body.
pub(crate) const CHALLENGE_CONTEXT: &[u8] = b"tessera-v1 challenge\0";
/// Context of the admin's SSHSIG message over an unlock body.
pub(crate) const UNLOCK_CONTEXT: &[u8] = b"tessera-v1 unlock\0";
/// Context of the host's signature over a result body.
pub(crate) const RESULT_CONTEXT: &[u8] = b"tessera-v1 result\0";
/// Context of the heartbeat key's signature over a heartbeat body.
pub(crate) const HEARTBEAT_CONTEXT: &[u8] = b"tessera-v1 heartbeat\0";

/// Longest SSHSIG message: context, challenge hash, unlock body.
pub(crate) const MAX_UNLOCK_MESSAGE: usize = UNLOCK_CONTEXT.len() + HASH_LEN + MAX_PAYLOAD;

/// Longest host-signed message: context, a hash, a body.
const MAX_HOST_SIGNED: usize = RESULT_CONTEXT.len() + HASH_LEN + MAX_PAYLOAD;

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; HASH_LEN] {
    Sha256::digest(bytes).into()
}

/// Concatenates `parts` into `buf`; `None` if they do not fit.
fn concat<'b, const N: usize>(buf: &'b mut [u8; N], parts: &[&[u8]]) -> Option<&'b [u8]> {
    let mut len = 0usize;
    for p in parts {
        let end = len.checked_add(p.len())?;
        buf.get_mut(len..end)?.copy_from_slice(p);
        len = end;
    }
    buf.get(..len)
}

/// The host signs `context ‖ parts...`.
pub(crate) fn host_sign(key: &SigningKey, parts: &[&[u8]]) -> Option<[u8; SIGNATURE_LEN]> {
    let mut buf = [0u8; MAX_HOST_SIGNED];
    let msg = concat(&mut buf, parts)?;
    Some(key.sign(msg).to_bytes())
}

/// Checks a host signature over `parts...` with `verify_strict`.
pub(crate) fn host_verify(key: &[u8; KEY_LEN], parts: &[&[u8]], sig: &[u8; SIGNATURE_LEN]) -> bool {
    let mut buf = [0u8; MAX_HOST_SIGNED];
    let Some(msg) = concat(&mut buf, parts) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(key) else {
        return false;
    };
    vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
        .is_ok()
}

/// Writes the SSHSIG message of an unlock body into `out`; returns its length.
pub(crate) fn unlock_message(
    challenge_hash: &[u8; HASH_LEN],
    body: &[u8],
    out: &mut [u8; MAX_UNLOCK_MESSAGE],
) -> Option<usize> {
    concat(out, &[UNLOCK_CONTEXT, challenge_hash, body]).map(|m| m.len())
}
