//! OpenSSH SSHSIG signatures (PROTOCOL.sshsig) for unlock tokens, without allocation.
//!
//! Admins keep their ed25519 keys in `ssh-agent` or in OpenSSH key files. Either can sign a token:
//! `ssh-keygen -Y sign -n unlock@tessera -f KEY` over the token's message, or an ssh-agent sign
//! request over [`signed_data`]. The wire carries only the 64-byte ed25519 signature; the agent
//! rebuilds the SSHSIG envelope (magic, namespace, hash algorithm, SHA-512 of the message) and
//! verifies with `verify_strict`. [`parse_armored`] takes the signature out of `ssh-keygen`'s
//! armored output. Nothing here may panic or allocate.

use core::fmt;

use base64ct::{Base64, Encoding};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha512};

use crate::limits::{KEY_LEN, SIGNATURE_LEN};

/// The SSHSIG namespace of tessera unlock tokens (`ssh-keygen -Y sign -n unlock@tessera`).
pub const NAMESPACE: &str = "unlock@tessera";

/// The SSHSIG hash algorithm tessera uses.
pub const HASH_ALGORITHM: &str = "sha512";

const MAGIC: &[u8; 6] = b"SSHSIG";

/// Length of [`signed_data`]: magic, namespace, reserved, hash algorithm, 64-byte hash.
pub const SIGNED_DATA_LEN: usize =
    MAGIC.len() + 4 + NAMESPACE.len() + 4 + 4 + HASH_ALGORITHM.len() + 4 + 64;

/// The bytes an ed25519 key signs for `message` in SSHSIG form (what ssh-agent is asked to sign).
pub fn signed_data(message: &[u8]) -> [u8; SIGNED_DATA_LEN] {
    let hash: [u8; 64] = Sha512::digest(message).into();
    signed_data_for_hash(&hash)
}

/// [`signed_data`] from the SHA-512 of the message.
pub fn signed_data_for_hash(hash: &[u8; 64]) -> [u8; SIGNED_DATA_LEN] {
    let mut out = [0u8; SIGNED_DATA_LEN];
    let mut w = Writer {
        buf: &mut out,
        len: 0,
    };
    w.raw(MAGIC);
    w.string(NAMESPACE.as_bytes());
    w.string(b"");
    w.string(HASH_ALGORITHM.as_bytes());
    w.string(hash);
    out
}

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn raw(&mut self, b: &[u8]) {
        let end = self.len.saturating_add(b.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(b);
            self.len = end;
        }
    }

    fn string(&mut self, b: &[u8]) {
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.raw(&len.to_be_bytes());
        self.raw(b);
    }
}

/// Checks an SSHSIG ed25519 signature over `message` with `verify_strict`.
pub fn verify(key: &[u8; KEY_LEN], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
    verify_signed_data(key, &signed_data(message), signature)
}

/// Checks an ed25519 signature over already built [`signed_data`].
pub fn verify_signed_data(
    key: &[u8; KEY_LEN],
    data: &[u8; SIGNED_DATA_LEN],
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(key) else {
        return false;
    };
    vk.verify_strict(data, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// Why an armored SSHSIG signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshsigError {
    /// No `-----BEGIN SSH SIGNATURE-----` block, or bad base64.
    NotArmored,
    /// The blob is not a version 1 SSHSIG structure.
    Malformed,
    /// The signature is not made by an ssh-ed25519 key.
    NotEd25519,
    /// The namespace is not [`NAMESPACE`].
    WrongNamespace,
    /// The hash algorithm is not [`HASH_ALGORITHM`].
    WrongHash,
}

impl SshsigError {
    /// What went wrong, in one line.
    pub fn message(self) -> &'static str {
        match self {
            SshsigError::NotArmored => "not an armored SSH signature",
            SshsigError::Malformed => "malformed SSH signature",
            SshsigError::NotEd25519 => "SSH signature is not from an ed25519 key",
            SshsigError::WrongNamespace => "SSH signature has the wrong namespace",
            SshsigError::WrongHash => "SSH signature does not use sha512",
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        match self {
            SshsigError::NotEd25519 => "use an ssh-ed25519 key (ssh-keygen -t ed25519)",
            _ => "sign with: ssh-keygen -Y sign -n unlock@tessera -O hashalg=sha512 -f KEY",
        }
    }
}

impl fmt::Display for SshsigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SshsigError {}

/// Longest armored text [`parse_armored`] reads (an ed25519 SSHSIG is about 300 bytes).
pub const MAX_ARMORED: usize = 1024;

/// Takes the signer's public key and the 64-byte signature out of `ssh-keygen -Y sign` output.
///
/// Checks the namespace and hash algorithm; the signature itself is checked later by
/// [`verify`] against the token's message.
pub fn parse_armored(text: &[u8]) -> Result<([u8; KEY_LEN], [u8; SIGNATURE_LEN]), SshsigError> {
    const BEGIN: &[u8] = b"-----BEGIN SSH SIGNATURE-----";
    const END: &[u8] = b"-----END SSH SIGNATURE-----";
    let start = find(text, BEGIN).ok_or(SshsigError::NotArmored)?;
    let after = text
        .get(start.saturating_add(BEGIN.len())..)
        .ok_or(SshsigError::NotArmored)?;
    let end = find(after, END).ok_or(SshsigError::NotArmored)?;
    let b64 = after.get(..end).ok_or(SshsigError::NotArmored)?;
    let mut joined = [0u8; MAX_ARMORED];
    let mut n = 0usize;
    for &b in b64.iter().filter(|b| !b.is_ascii_whitespace()) {
        *joined.get_mut(n).ok_or(SshsigError::NotArmored)? = b;
        n = n.saturating_add(1);
    }
    let mut blob = [0u8; MAX_ARMORED];
    let blob = Base64::decode(joined.get(..n).unwrap_or(&[]), &mut blob)
        .map_err(|_| SshsigError::NotArmored)?;
    parse_blob(blob)
}

/// Parses a binary SSHSIG blob: see [`parse_armored`].
pub fn parse_blob(blob: &[u8]) -> Result<([u8; KEY_LEN], [u8; SIGNATURE_LEN]), SshsigError> {
    let mut r = Reader(blob);
    if r.take(MAGIC.len()) != Some(MAGIC.as_slice()) || r.u32() != Some(1) {
        return Err(SshsigError::Malformed);
    }
    let mut pk = Reader(r.string().ok_or(SshsigError::Malformed)?);
    if pk.string() != Some(b"ssh-ed25519".as_slice()) {
        return Err(SshsigError::NotEd25519);
    }
    let key: [u8; KEY_LEN] = pk
        .string()
        .and_then(|k| k.try_into().ok())
        .ok_or(SshsigError::Malformed)?;
    let namespace = r.string().ok_or(SshsigError::Malformed)?;
    let _reserved = r.string().ok_or(SshsigError::Malformed)?;
    let hash = r.string().ok_or(SshsigError::Malformed)?;
    let mut sig = Reader(r.string().ok_or(SshsigError::Malformed)?);
    if !r.0.is_empty() || !pk.0.is_empty() {
        return Err(SshsigError::Malformed);
    }
    if namespace != NAMESPACE.as_bytes() {
        return Err(SshsigError::WrongNamespace);
    }
    if hash != HASH_ALGORITHM.as_bytes() {
        return Err(SshsigError::WrongHash);
    }
    if sig.string() != Some(b"ssh-ed25519".as_slice()) {
        return Err(SshsigError::NotEd25519);
    }
    let signature: [u8; SIGNATURE_LEN] = sig
        .string()
        .and_then(|s| s.try_into().ok())
        .ok_or(SshsigError::Malformed)?;
    if !sig.0.is_empty() {
        return Err(SshsigError::Malformed);
    }
    Ok((key, signature))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_data_layout_matches_protocol_sshsig() {
        let d = signed_data(b"msg");
        assert_eq!(&d[..6], b"SSHSIG");
        assert_eq!(&d[6..10], &14u32.to_be_bytes());
        assert_eq!(&d[10..24], b"unlock@tessera");
        assert_eq!(&d[24..28], &[0, 0, 0, 0]);
        assert_eq!(&d[28..32], &6u32.to_be_bytes());
        assert_eq!(&d[32..38], b"sha512");
        assert_eq!(&d[38..42], &64u32.to_be_bytes());
        assert_eq!(d.len(), 106);
    }

    #[test]
    fn sign_verify_and_tamper() {
        let seed = [7u8; 32];
        let pk = crate::openssh::public_key(&seed);
        let sig = crate::openssh::sign(&seed, b"token");
        assert!(verify(&pk, b"token", &sig));
        assert!(!verify(&pk, b"tokeN", &sig));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!verify(&pk, b"token", &bad));
    }
}
