//! The four messages of protocol v1 and their canonical postcard encoding.
//!
//! A frame's payload is one [`Message`]: postcard encodes the variant index as one byte, then the
//! fields in the order written here (see `docs/protocol.md` for the byte layout). Signed messages
//! are a body followed by a 64-byte signature, so the signed bytes are exactly the payload between
//! the variant byte and the signature. Decoding accepts only the canonical encoding (postcard
//! accepts overlong varints, so every decoded message is encoded again and compared): one message
//! has one byte string, and a signature over it cannot be replayed under another spelling.
//!
//! This module must never panic or allocate; every collection's capacity is a [`limits`] const.
//!
//! [`limits`]: crate::limits

use core::fmt;

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::limits::{
    BOOT_ID_LEN, KEY_LEN, MAX_PAYLOAD, MAX_SEALED, MAX_VOLUMES, PROTOCOL_VERSION, SIGNATURE_LEN,
};
use crate::name::Name;

/// An ed25519 or X25519 public key, or an ed25519 seed.
pub type Key = [u8; KEY_LEN];

/// The random id an agent draws once per boot.
pub type BootId = [u8; BOOT_ID_LEN];

/// An ed25519 signature: 64 bytes, encoded without a length prefix.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(SIGNATURE_LEN)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Signature, A::Error> {
                let mut out = [0u8; SIGNATURE_LEN];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(Signature(out))
            }
        }
        d.deserialize_tuple(SIGNATURE_LEN, V)
    }
}

/// Tool → agent: "send me your challenge". Optional on TCP (the agent sends it on connect),
/// needed on the serial line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The highest protocol version the tool speaks.
    pub version: u8,
}

/// What an agent says about one volume in its challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeState {
    /// Locked; the agent waits for its secret.
    Waiting,
    /// Already unlocked (by a token or by a person at the console).
    Unlocked,
}

/// One volume of a challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// The volume's name, as in crypttab.
    pub name: Name,
    /// Whether it still waits.
    pub state: VolumeState,
}

/// The signed part of a [`Challenge`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeBody {
    /// [`PROTOCOL_VERSION`] of the agent.
    pub version: u8,
    /// The agent's host id.
    pub host_id: Name,
    /// The host's ed25519 public key (the tool pins it; reported for first use).
    pub host_key: Key,
    /// Random per boot: a token for an earlier boot is refused as stale.
    pub boot_id: BootId,
    /// The agent's fresh X25519 public key: secrets are sealed to it (HPKE).
    pub ephemeral_key: Key,
    /// The volumes the agent knows, in its config's order.
    pub volumes: Vec<VolumeInfo, MAX_VOLUMES>,
}

/// Agent → tool, first: who the agent is, what waits, where to seal to. Signed by the host key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// What is signed.
    pub body: ChallengeBody,
    /// ed25519 (host key) over `"tessera-v1 challenge\0" ‖ postcard(body)`.
    pub signature: Signature,
}

/// One volume's secret in an [`Unlock`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedVolume {
    /// The volume's name, as in the challenge.
    pub name: Name,
    /// The secret sealed with the token's HPKE context (ciphertext ‖ 16-byte tag).
    pub ciphertext: Vec<u8, MAX_SEALED>,
}

/// The signed part of an [`Unlock`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockBody {
    /// Host id copied from the challenge (refused as "wrong host" if it differs).
    pub host_id: Name,
    /// Boot id copied from the challenge (refused as "stale boot" if it differs).
    pub boot_id: BootId,
    /// The admin's ed25519 public key; must be in the agent's authorized keys.
    pub admin_key: Key,
    /// HPKE encapsulated key (the sender's ephemeral X25519 public key).
    pub enc: Key,
    /// The sealed secrets, sealed in this order (HPKE sequence numbers 0, 1, ...).
    pub volumes: Vec<SealedVolume, MAX_VOLUMES>,
}

/// Tool → agent: the token. Signed by the admin in OpenSSH SSHSIG form (see [`crate::sshsig`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unlock {
    /// What is signed (inside the SSHSIG envelope).
    pub body: UnlockBody,
    /// The ed25519 signature from the SSHSIG envelope (64 bytes; the envelope is rebuilt).
    pub signature: Signature,
}

/// What happened to one volume of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The secret opened the volume.
    Unlocked,
    /// cryptsetup refused the secret.
    WrongSecret,
    /// The agent does not wait for this volume (unknown or already unlocked).
    NotWaiting,
    /// Something else failed (e.g. cryptsetup could not run).
    Error,
}

impl Outcome {
    /// One line for a person.
    pub fn message(self) -> &'static str {
        match self {
            Outcome::Unlocked => "unlocked",
            Outcome::WrongSecret => "wrong secret",
            Outcome::NotWaiting => "not waiting",
            Outcome::Error => "error while unlocking",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl fmt::Display for VolumeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VolumeState::Waiting => "waiting",
            VolumeState::Unlocked => "unlocked",
        })
    }
}

/// Why an agent refused a whole token; nothing in it was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The frame is not a canonical message, or the token is inconsistent (no volume, a
    /// ciphertext shorter than its tag, a volume named twice).
    Malformed,
    /// The token names another host.
    WrongHost,
    /// The token answers a challenge of an earlier boot.
    StaleBoot,
    /// The token's admin key is not in the agent's authorized keys.
    UnknownAdmin,
    /// The admin signature does not verify (tampered token, or made for another challenge).
    BadSignature,
    /// A secret does not open with the agent's ephemeral key.
    Undecryptable,
    /// The exact token was already used for this challenge (or this challenge took its fill of
    /// tokens): a replay.
    Replayed,
}

impl Refusal {
    /// What went wrong, in one line.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Malformed => "the agent could not parse the token",
            Refusal::WrongHost => "the token is for another host",
            Refusal::StaleBoot => "the token answers a challenge from an earlier boot",
            Refusal::UnknownAdmin => "the admin key is not authorized on this host",
            Refusal::BadSignature => "the token's signature does not verify",
            Refusal::Undecryptable => "the agent could not open the sealed secrets",
            Refusal::Replayed => "the token was already used",
        }
    }

    /// What the admin should do next.
    pub fn hint(self) -> &'static str {
        match self {
            Refusal::Replayed => "run tessera unlock again: it asks for a fresh challenge",
            Refusal::Malformed => "update tessera on both ends to the same version",
            Refusal::WrongHost => "check the host you connected to and its known_hosts entry",
            Refusal::StaleBoot => "run tessera unlock again to answer the current challenge",
            Refusal::UnknownAdmin => {
                "add your ssh-ed25519 key to the host's authorized_keys and flash again"
            }
            Refusal::BadSignature => {
                "run tessera unlock again; if it persists, the line is tampered with"
            }
            Refusal::Undecryptable => "run tessera unlock again to seal to the current challenge",
        }
    }

    /// Whether the refusal suggests someone probing (the agent may slow down answers).
    pub fn is_suspicious(self) -> bool {
        matches!(
            self,
            Refusal::BadSignature | Refusal::UnknownAdmin | Refusal::Undecryptable
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// One volume's line in a [`UnlockResult`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeOutcome {
    /// The volume's name, in the token's order.
    pub name: Name,
    /// What happened.
    pub outcome: Outcome,
}

/// The agent's verdict on a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The token was refused whole.
    Refused(Refusal),
    /// The token was accepted; one line per volume of the token.
    Outcomes(Vec<VolumeOutcome, MAX_VOLUMES>),
}

/// The signed part of an [`UnlockResult`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultBody {
    /// The agent's current boot id (differs from the tool's on a stale token).
    pub boot_id: BootId,
    /// What the agent did.
    pub verdict: Verdict,
}

/// Agent → tool: what happened. Signed by the host key, bound to the token it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockResult {
    /// What is signed.
    pub body: ResultBody,
    /// ed25519 (host key) over `"tessera-v1 result\0" ‖ SHA-256(token payload) ‖ postcard(body)`.
    pub signature: Signature,
}

/// Everything that travels in a frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Tool → agent: please send your challenge (variant byte 0).
    Hello(Hello),
    /// Agent → tool (variant byte 1).
    Challenge(Challenge),
    /// Tool → agent (variant byte 2).
    Unlock(Unlock),
    /// Agent → tool (variant byte 3).
    Result(UnlockResult),
}

/// Why a payload is not a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// postcard could not decode it (wrong type, bad length, bad name, truncated...).
    Invalid,
    /// Bytes follow the message.
    TrailingBytes,
    /// The message decodes but is not in canonical form (e.g. an overlong varint).
    NotCanonical,
    /// The message does not fit in [`MAX_PAYLOAD`] bytes.
    TooLarge,
}

impl MessageError {
    /// What went wrong, in one line.
    pub fn message(self) -> &'static str {
        match self {
            MessageError::Invalid => "not a tessera v1 message",
            MessageError::TrailingBytes => "bytes after the message",
            MessageError::NotCanonical => "message not in canonical encoding",
            MessageError::TooLarge => "message too large for one frame",
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        match self {
            MessageError::TooLarge => "send fewer or shorter secrets per token",
            _ => "update tessera on both ends to the same version",
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for MessageError {}

impl Message {
    /// A hello for this crate's [`PROTOCOL_VERSION`].
    pub fn hello() -> Message {
        Message::Hello(Hello {
            version: PROTOCOL_VERSION,
        })
    }

    /// Encodes the message into `out`; returns the payload length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, MessageError> {
        let limit = out.len().min(MAX_PAYLOAD);
        let out = out.get_mut(..limit).ok_or(MessageError::TooLarge)?;
        postcard::to_slice(self, out)
            .map(|s| s.len())
            .map_err(|_| MessageError::TooLarge)
    }

    /// Encodes the message and wraps it into a frame in `out`; returns the frame length.
    pub fn encode_frame(&self, out: &mut [u8]) -> Result<usize, MessageError> {
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = self.encode(&mut payload)?;
        let p = payload.get(..n).ok_or(MessageError::TooLarge)?;
        crate::frame::encode(p, out).map_err(|_| MessageError::TooLarge)
    }

    /// Decodes a frame payload; accepts only the canonical encoding of exactly one message.
    pub fn decode(payload: &[u8]) -> Result<Message, MessageError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(MessageError::TooLarge);
        }
        let (msg, rest) =
            postcard::take_from_bytes::<Message>(payload).map_err(|_| MessageError::Invalid)?;
        if !rest.is_empty() {
            return Err(MessageError::TrailingBytes);
        }
        let mut again = [0u8; MAX_PAYLOAD];
        let n = msg
            .encode(&mut again)
            .map_err(|_| MessageError::NotCanonical)?;
        if again.get(..n) != Some(payload) {
            return Err(MessageError::NotCanonical);
        }
        Ok(msg)
    }

    /// A short name of the message kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Challenge(_) => "challenge",
            Message::Unlock(_) => "unlock",
            Message::Result(_) => "result",
        }
    }
}

/// Splits a canonical payload of a signed message into (variant byte, body bytes, signature).
///
/// Valid because every signed message is `variant ‖ body ‖ 64-byte signature` in postcard.
pub(crate) fn split_signed(payload: &[u8]) -> Option<(&[u8], &[u8; SIGNATURE_LEN])> {
    let (_variant, rest) = payload.split_first()?;
    let body_len = rest.len().checked_sub(SIGNATURE_LEN)?;
    let (body, sig) = rest.split_at_checked(body_len)?;
    Some((body, sig.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn sample_challenge() -> Message {
        let mut volumes = Vec::new();
        volumes
            .push(VolumeInfo {
                name: name("root"),
                state: VolumeState::Waiting,
            })
            .unwrap();
        Message::Challenge(Challenge {
            body: ChallengeBody {
                version: PROTOCOL_VERSION,
                host_id: name("web1"),
                host_key: [1; 32],
                boot_id: [2; 16],
                ephemeral_key: [3; 32],
                volumes,
            },
            signature: Signature([4; 64]),
        })
    }

    #[test]
    fn roundtrip_and_layout() {
        let m = sample_challenge();
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = m.encode(&mut buf).unwrap();
        assert_eq!(buf[0], 1, "variant byte of Challenge");
        assert_eq!(buf[1], PROTOCOL_VERSION);
        assert_eq!(&buf[2..7], b"\x04web1");
        assert_eq!(Message::decode(&buf[..n]).unwrap(), m);
        let (body, sig) = split_signed(&buf[..n]).unwrap();
        assert_eq!(sig, &[4; 64]);
        assert_eq!(body.len(), n - 65);
    }

    #[test]
    fn refuses_overlong_varint_trailing_bytes_and_bad_names() {
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = Message::hello().encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[0, 1]);
        // Variant 0 spelled as an overlong varint (0x80 0x00) decodes in postcard.
        assert_eq!(
            Message::decode(&[0x80, 0x00, 1]),
            Err(MessageError::NotCanonical)
        );
        assert_eq!(
            Message::decode(&[0, 1, 0]),
            Err(MessageError::TrailingBytes)
        );
        assert_eq!(Message::decode(&[9]), Err(MessageError::Invalid));
        let m = sample_challenge();
        let n = m.encode(&mut buf).unwrap();
        buf[3] = b' ';
        assert_eq!(Message::decode(&buf[..n]), Err(MessageError::Invalid));
    }
}
