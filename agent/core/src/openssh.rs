//! OpenSSH ed25519 public keys, without allocation: `authorized_keys` / `known_hosts` / `.pub`
//! lines both ways, the key blob, the `SHA256:` fingerprint, and the public key (and SSHSIG
//! signature) of a 32-byte seed.
//!
//! The agent reads the admins' keys from an OpenSSH `authorized_keys` file in the initramfs and
//! writes its host key's `.pub` line; the host tool and flash read and write their `known_hosts`
//! pins (`HOST-ID ssh-ed25519 BASE64`, through `tessera-conf`) and print fingerprints with this
//! module. All need `ssh-ed25519 BASE64 comment` → 32-byte key and back. Options before the key
//! type (`from="..." ssh-ed25519 ...`) are skipped as OpenSSH skips them (and not enforced:
//! tessera has no `from=` or `expiry-time=`; a `cert-authority` line is ignored), other key types
//! are reported so the caller can say which lines it ignored. Bytes come from files an attacker
//! may have touched: this module must never panic.

use core::fmt;

use base64ct::{Base64, Base64Unpadded, Encoding};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::limits::{KEY_LEN, SIGNATURE_LEN};
use crate::sshsig::{signed_data, SIGNED_DATA_LEN};

/// Length of an ed25519 seed: what a host key file (`tessera-agent --gen-host-key`) holds.
pub const SEED_LEN: usize = KEY_LEN;

const KEY_TYPE: &[u8] = b"ssh-ed25519";

/// Length of the binary ssh-ed25519 public key blob: string(type) ‖ string(key).
pub const BLOB_LEN: usize = 4 + KEY_TYPE.len() + 4 + KEY_LEN;

/// Length of the base64 of the blob.
const BLOB_B64_LEN: usize = BLOB_LEN.div_ceil(3) * 4;

/// Length of `ssh-ed25519 ` plus the base64 of the blob (no comment).
pub const ENCODED_LEN: usize = KEY_TYPE.len() + 1 + BLOB_B64_LEN;

/// What one line holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyLine<'a> {
    /// Empty or a `#` comment.
    Blank,
    /// An ssh-ed25519 key and its comment (may be empty).
    Ed25519 {
        /// The 32-byte public key.
        key: [u8; KEY_LEN],
        /// The rest of the line after the key, trimmed.
        comment: &'a [u8],
    },
    /// A key of another type (ssh-rsa, ecdsa-...), or a `cert-authority` key (it vouches only
    /// for certificates): tessera ignores it.
    OtherKeyType,
}

/// Why a line that looks like an ssh-ed25519 key is not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyLineError {
    /// `ssh-ed25519` is not followed by base64 data.
    MissingKey,
    /// The key data is not valid base64.
    BadBase64,
    /// The decoded blob is not `string("ssh-ed25519") ‖ string(32 bytes)`.
    BadBlob,
}

impl KeyLineError {
    /// What went wrong, in one line.
    pub fn message(self) -> &'static str {
        match self {
            KeyLineError::MissingKey => "ssh-ed25519 without key data",
            KeyLineError::BadBase64 => "ssh-ed25519 key data is not base64",
            KeyLineError::BadBlob => "ssh-ed25519 key data is not an ed25519 public key",
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        "copy the whole line from the admin's ~/.ssh/id_ed25519.pub"
    }
}

impl fmt::Display for KeyLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyLineError {}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Splits off the first whitespace-separated field.
fn field(b: &[u8]) -> (&[u8], &[u8]) {
    let b = trim(b);
    let n = b
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let (head, rest) = b.split_at_checked(n).unwrap_or((b, &[]));
    (head, trim(rest))
}

/// Parses one line of an `authorized_keys` or `.pub` file (with or without the newline).
pub fn parse_line(line: &[u8]) -> Result<KeyLine<'_>, KeyLineError> {
    let line = trim(line);
    if line.is_empty() || line.first() == Some(&b'#') {
        return Ok(KeyLine::Blank);
    }
    // As OpenSSH (auth2-pubkeyfile.c): the key type is the first field, or else the field right
    // after the options, which may quote spaces. Never anywhere else: an RSA line's comment or
    // a quoted `command="..."` must not smuggle in an ed25519 key nobody meant to authorize.
    let (first, after) = field(line);
    let (ty, after) = if first == KEY_TYPE {
        (first, after)
    } else {
        match skip_options(line) {
            // OpenSSH accepts only certificates under a `cert-authority` key, never the CA key
            // itself; tessera has no certificates, so such a line authorizes nobody.
            Some((options, _)) if is_cert_authority(options) => return Ok(KeyLine::OtherKeyType),
            Some((_, rest)) => field(rest),
            None => return Ok(KeyLine::OtherKeyType),
        }
    };
    if ty != KEY_TYPE {
        return Ok(KeyLine::OtherKeyType);
    }
    let (b64, comment) = field(after);
    if b64.is_empty() {
        return Err(KeyLineError::MissingKey);
    }
    let key = decode_blob(b64)?;
    Ok(KeyLine::Ed25519 { key, comment })
}

/// Whether an options field holds `cert-authority` (OpenSSH matches option names without case,
/// by prefix; a longer name makes the line invalid there, so it is no plain key either).
fn is_cert_authority(options: &[u8]) -> bool {
    const CA: &[u8] = b"cert-authority";
    let mut quoted = false;
    let mut at_start = true;
    let mut i = 0usize;
    while let Some(&c) = options.get(i) {
        if at_start
            && !quoted
            && options
                .get(i..i.saturating_add(CA.len()))
                .is_some_and(|o| o.eq_ignore_ascii_case(CA))
        {
            return true;
        }
        at_start = false;
        if c == b'\\' && options.get(i.saturating_add(1)) == Some(&b'"') {
            i = i.saturating_add(1);
        } else if c == b'"' {
            quoted = !quoted;
        } else if c == b',' && !quoted {
            at_start = true;
        }
        i = i.saturating_add(1);
    }
    false
}

/// The options field of `line` and the rest after it (OpenSSH's `sshkey_advance_past_options`:
/// spaces inside double quotes do not end it, `\"` is a quote inside quotes); `None` if a quote
/// is left open.
fn skip_options(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut quoted = false;
    let mut i = 0usize;
    while let Some(&c) = line.get(i) {
        if !quoted && (c == b' ' || c == b'\t') {
            break;
        }
        if c == b'\\' && line.get(i.saturating_add(1)) == Some(&b'"') {
            i = i.saturating_add(1);
        } else if c == b'"' {
            quoted = !quoted;
        }
        i = i.saturating_add(1);
    }
    if quoted {
        return None;
    }
    line.split_at_checked(i)
}

fn decode_blob(b64: &[u8]) -> Result<[u8; KEY_LEN], KeyLineError> {
    let mut buf = [0u8; BLOB_LEN];
    if b64.len() != BLOB_B64_LEN {
        return Err(
            if b64
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(c))
            {
                KeyLineError::BadBlob
            } else {
                KeyLineError::BadBase64
            },
        );
    }
    let blob = Base64::decode(b64, &mut buf).map_err(|_| KeyLineError::BadBase64)?;
    let (len1, rest) = blob.split_first_chunk::<4>().ok_or(KeyLineError::BadBlob)?;
    let ty_len = usize::try_from(u32::from_be_bytes(*len1)).map_err(|_| KeyLineError::BadBlob)?;
    let (ty, rest) = rest.split_at_checked(ty_len).ok_or(KeyLineError::BadBlob)?;
    let (len2, key) = rest.split_first_chunk::<4>().ok_or(KeyLineError::BadBlob)?;
    if ty != KEY_TYPE || u32::from_be_bytes(*len2) != 32 {
        return Err(KeyLineError::BadBlob);
    }
    key.try_into().map_err(|_| KeyLineError::BadBlob)
}

/// The binary public key blob, `string("ssh-ed25519") ‖ string(key)`: what ssh-agent and SSHSIG
/// name a key by, and what a fingerprint hashes.
pub fn blob(key: &[u8; KEY_LEN]) -> [u8; BLOB_LEN] {
    let mut blob = [0u8; BLOB_LEN];
    let parts: [&[u8]; 4] = [&11u32.to_be_bytes(), KEY_TYPE, &32u32.to_be_bytes(), key];
    let mut pos = 0usize;
    for p in parts {
        let end = pos.saturating_add(p.len());
        if let Some(dst) = blob.get_mut(pos..end) {
            dst.copy_from_slice(p);
        }
        pos = end;
    }
    blob
}

/// Writes `ssh-ed25519 BASE64` (no comment) for `key` into `out`; returns it as text.
pub fn encode<'o>(key: &[u8; KEY_LEN], out: &'o mut [u8; ENCODED_LEN]) -> &'o str {
    let blob = blob(key);
    let (head, tail) = out.split_at_mut(KEY_TYPE.len().min(ENCODED_LEN));
    head.copy_from_slice(KEY_TYPE.get(..head.len()).unwrap_or(&[]));
    if let Some((space, b64)) = tail.split_first_mut() {
        *space = b' ';
        // The buffer is exactly the encoded length, so encoding cannot fail.
        let _ = Base64::encode(&blob, b64);
    }
    core::str::from_utf8(out).unwrap_or("")
}

/// Length of a fingerprint's text: `SHA256:` and the unpadded base64 of 32 bytes.
pub const FINGERPRINT_LEN: usize = 7 + 43;

/// A key's `SHA256:...` fingerprint as `ssh-keygen -l` prints it; shown with `Display`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `SHA256:` fingerprint of `key` (SHA-256 of its [`blob`], unpadded base64).
pub fn fingerprint(key: &[u8; KEY_LEN]) -> Fingerprint {
    let digest: [u8; 32] = Sha256::digest(blob(key)).into();
    let mut out = [0u8; FINGERPRINT_LEN];
    let (head, tail) = out.split_at_mut(7);
    head.copy_from_slice(b"SHA256:");
    // 32 bytes are exactly 43 unpadded base64 characters, so encoding cannot fail.
    let _ = Base64Unpadded::encode(&digest, tail);
    Fingerprint(out)
}

/// The ed25519 public key of a 32-byte seed (host key files and test keys hold seeds).
pub fn public_key(seed: &[u8; SEED_LEN]) -> [u8; KEY_LEN] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Signs `message` in SSHSIG form ([`signed_data`]) with an ed25519 seed (for keys the tool
/// holds itself); `sshsig::verify` checks it.
pub fn sign(seed: &[u8; SEED_LEN], message: &[u8]) -> [u8; SIGNATURE_LEN] {
    sign_signed_data(seed, &signed_data(message))
}

/// Signs already built [`signed_data`] (what an ssh-agent would be asked to sign).
pub fn sign_signed_data(
    seed: &[u8; SEED_LEN],
    data: &[u8; SIGNED_DATA_LEN],
) -> [u8; SIGNATURE_LEN] {
    SigningKey::from_bytes(seed).sign(data).to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key made by `ssh-keygen -t ed25519` (public half only).
    const LINE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@laptop";

    #[test]
    fn ssh_keygen_prints_the_same_fingerprint() {
        // `ssh-keygen -lf` of LINE.
        let KeyLine::Ed25519 { key, .. } = parse_line(LINE.as_bytes()).unwrap() else {
            panic!("not parsed as ed25519");
        };
        let fp = fingerprint(&key);
        assert_eq!(fp.as_str().len(), FINGERPRINT_LEN);
        assert_eq!(
            fp.as_str(),
            "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
        );
        assert_eq!(blob(&key).len(), BLOB_LEN);
    }

    #[test]
    fn parses_and_reencodes_an_openssh_line() {
        let KeyLine::Ed25519 { key, comment } = parse_line(LINE.as_bytes()).unwrap() else {
            panic!("not parsed as ed25519");
        };
        assert_eq!(comment, b"admin@laptop");
        let mut out = [0u8; ENCODED_LEN];
        assert_eq!(encode(&key, &mut out), LINE.rsplit_once(' ').unwrap().0);
    }

    /// OpenSSH reads the key type as the first field, or as the field after the options (which
    /// may quote spaces); a key anywhere else (a comment, a quoted option) is not the line's key.
    #[test]
    fn key_is_taken_only_where_openssh_takes_it() {
        let mut a = [0u8; ENCODED_LEN];
        let a = std::string::String::from(encode(&[0xAA; 32], &mut a));
        let mut b = [0u8; ENCODED_LEN];
        let b = std::string::String::from(encode(&[0xBB; 32], &mut b));
        let rsa_with_comment = std::format!("ssh-rsa AAAAB3NzaC1yc2E rsa-key {a}");
        assert_eq!(
            parse_line(rsa_with_comment.as_bytes()),
            Ok(KeyLine::OtherKeyType),
            "an ed25519 key in the comment of an RSA line"
        );
        let quoted = std::format!("command=\"echo {a}\",no-pty {b} admin");
        assert!(matches!(
            parse_line(quoted.as_bytes()),
            Ok(KeyLine::Ed25519 { key, comment }) if key == [0xBB; 32] && comment == b"admin"
        ));
        for ca in [
            std::format!("cert-authority {b}"),
            std::format!("restrict,CERT-AUTHORITY,from=\"10.0.0.1\" {b}"),
        ] {
            assert_eq!(
                parse_line(ca.as_bytes()),
                Ok(KeyLine::OtherKeyType),
                "a CA key only vouches for certificates (tessera has none): {ca}"
            );
        }
        let quoted_ca = std::format!("from=\"x,cert-authority\" {b}");
        assert!(matches!(
            parse_line(quoted_ca.as_bytes()),
            Ok(KeyLine::Ed25519 { key, .. }) if key == [0xBB; 32]
        ));
        let escaped = std::format!("command=\"echo \\\" {a}\" {b}");
        assert!(matches!(
            parse_line(escaped.as_bytes()),
            Ok(KeyLine::Ed25519 { key, .. }) if key == [0xBB; 32]
        ));
        let unterminated = std::format!("command=\"echo {b}");
        assert_eq!(
            parse_line(unterminated.as_bytes()),
            Ok(KeyLine::OtherKeyType)
        );
        let comment_key = std::format!("{b} laptop {a}");
        assert!(matches!(
            parse_line(comment_key.as_bytes()),
            Ok(KeyLine::Ed25519 { key, .. }) if key == [0xBB; 32]
        ));
    }

    #[test]
    fn options_comments_other_types_and_errors() {
        let with_opts = std::format!("from=\"10.0.0.1\",no-pty {LINE}\n");
        assert!(matches!(
            parse_line(with_opts.as_bytes()),
            Ok(KeyLine::Ed25519 { .. })
        ));
        assert_eq!(parse_line(b"  # comment"), Ok(KeyLine::Blank));
        assert_eq!(parse_line(b"\r\n"), Ok(KeyLine::Blank));
        assert_eq!(
            parse_line(b"ssh-rsa AAAAB3NzaC1yc2E x"),
            Ok(KeyLine::OtherKeyType)
        );
        assert_eq!(parse_line(b"ssh-ed25519"), Err(KeyLineError::MissingKey));
        assert_eq!(parse_line(b"ssh-ed25519 !!!"), Err(KeyLineError::BadBase64));
        assert_eq!(parse_line(b"ssh-ed25519 AAAA"), Err(KeyLineError::BadBlob));
        // Right length, wrong type inside.
        let mut out = [0u8; ENCODED_LEN];
        let good = std::string::String::from(encode(&[5; 32], &mut out));
        assert!(
            matches!(parse_line(good.as_bytes()), Ok(KeyLine::Ed25519 { key, .. }) if key == [5; 32])
        );
    }
}
