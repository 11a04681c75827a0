//! The heartbeat: a running host's signed "alive" message to its wardens, and the warden's
//! unsigned acknowledgement (`docs/protocol.md` §8).
//!
//! A heartbeat travels in an ordinary frame whose payload starts with [`HEARTBEAT_TAG`] instead
//! of a v1 [`Message`](crate::Message) variant byte, so one warden port takes both agents
//! dialing out and heartbeats. It is signed with the host's *heartbeat key*, which lives only on
//! the encrypted root: a thief holding the powered-off disk cannot make one. The counter only
//! grows; the warden refuses a counter it has already seen (a replay or a reordering) and says
//! which counter it holds, so a host that lost its counter file can continue above it — only the
//! key's holder can sign the higher one. Times are not in the message: the warden's receive time
//! is the clock (boards have none).
//!
//! Like the rest of the core this module must never panic or allocate.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::limits::{BOOT_ID_LEN, KEY_LEN, MAX_PAYLOAD, SIGNATURE_LEN};
use crate::message::{BootId, Signature};
use crate::name::Name;
use crate::transcript::{self, HEARTBEAT_CONTEXT};

/// First payload byte of a heartbeat frame (`H`; v1 messages use variants 0–3).
pub const HEARTBEAT_TAG: u8 = 0x48;
/// First payload byte of the warden's answer (`A`).
pub const ACK_TAG: u8 = 0x41;
/// The heartbeat format's version.
pub const HEARTBEAT_VERSION: u8 = 1;

/// UPS status flags, one bit per NUT `ups.status` word.
pub mod ups {
    /// On line power.
    pub const OL: u16 = 1 << 0;
    /// On battery.
    pub const OB: u16 = 1 << 1;
    /// Low battery.
    pub const LB: u16 = 1 << 2;
    /// High battery.
    pub const HB: u16 = 1 << 3;
    /// Replace battery.
    pub const RB: u16 = 1 << 4;
    /// Charging.
    pub const CHRG: u16 = 1 << 5;
    /// Discharging.
    pub const DISCHRG: u16 = 1 << 6;
    /// On bypass.
    pub const BYPASS: u16 = 1 << 7;
    /// Calibrating.
    pub const CAL: u16 = 1 << 8;
    /// Output off.
    pub const OFF: u16 = 1 << 9;
    /// Overloaded.
    pub const OVER: u16 = 1 << 10;
    /// Trimming voltage.
    pub const TRIM: u16 = 1 << 11;
    /// Boosting voltage.
    pub const BOOST: u16 = 1 << 12;
    /// Forced shutdown.
    pub const FSD: u16 = 1 << 13;

    /// The NUT words in bit order.
    pub const WORDS: [(&str, u16); 14] = [
        ("OL", OL),
        ("OB", OB),
        ("LB", LB),
        ("HB", HB),
        ("RB", RB),
        ("CHRG", CHRG),
        ("DISCHRG", DISCHRG),
        ("BYPASS", BYPASS),
        ("CAL", CAL),
        ("OFF", OFF),
        ("OVER", OVER),
        ("TRIM", TRIM),
        ("BOOST", BOOST),
        ("FSD", FSD),
    ];

    /// The flags of a NUT status string such as `OB DISCHRG`; unknown words are ignored.
    pub fn parse(status: &str) -> u16 {
        status
            .split_ascii_whitespace()
            .filter_map(|w| WORDS.iter().find(|(n, _)| *n == w).map(|(_, b)| *b))
            .fold(0, |a, b| a | b)
    }

    /// The power is out or about to be: on battery, low battery, or forced shutdown.
    pub fn is_outage(flags: u16) -> bool {
        flags & (OB | LB | FSD) != 0
    }
}

/// What a host's UPS said when the heartbeat was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsReport {
    /// [`ups`] flags.
    pub status: u16,
    /// Battery charge in percent, when the UPS reports it.
    pub charge: Option<u8>,
}

/// The signed part of a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatBody {
    /// [`HEARTBEAT_VERSION`].
    pub version: u8,
    /// The host id, as in the agent's challenges.
    pub host_id: Name,
    /// The running kernel's boot id (`/proc/sys/kernel/random/boot_id` as 16 bytes).
    pub boot_id: BootId,
    /// Grows by at least one per heartbeat, across boots.
    pub counter: u64,
    /// The host's UPS, when it reads one.
    pub ups: Option<UpsReport>,
}

/// Why the warden did not take a heartbeat (or did).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckStatus {
    /// Recorded.
    Accepted,
    /// The warden has no such host.
    UnknownHost,
    /// The signature is not the host's heartbeat key's.
    BadSignature,
    /// The counter is not above the one the warden holds (in [`Ack::last_counter`]).
    Replayed,
    /// Not a canonical heartbeat.
    Malformed,
}

impl AckStatus {
    /// What it means, in one line.
    pub fn message(self) -> &'static str {
        match self {
            AckStatus::Accepted => "heartbeat recorded",
            AckStatus::UnknownHost => "the warden has no host of this id",
            AckStatus::BadSignature => "not signed by the heartbeat key the warden holds",
            AckStatus::Replayed => "counter not above the last one the warden recorded",
            AckStatus::Malformed => "not a canonical heartbeat message",
        }
    }
}

/// The warden's unsigned answer: a hint for the sender, never a proof of anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// What the warden did.
    pub status: AckStatus,
    /// The highest counter the warden holds for the host (0 if none).
    pub last_counter: u64,
}

/// Why bytes are not a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatError {
    /// Not tagged, not canonical postcard, trailing bytes, or too large.
    Malformed,
    /// The signature does not verify with the given key.
    BadSignature,
}

/// The longest heartbeat payload.
pub const MAX_HEARTBEAT: usize = 1 + MAX_BODY + SIGNATURE_LEN;
/// The longest encoded body: version, name, boot id, counter, UPS (generously rounded).
const MAX_BODY: usize = 1 + 1 + crate::limits::MAX_NAME + BOOT_ID_LEN + 10 + 1 + 3 + 2;

const _: () = assert!(MAX_HEARTBEAT <= MAX_PAYLOAD);

/// Encodes and signs `body` with the heartbeat key's seed; returns the payload length.
pub fn encode(
    body: &HeartbeatBody,
    seed: &[u8; KEY_LEN],
    out: &mut [u8; MAX_HEARTBEAT],
) -> Result<usize, HeartbeatError> {
    let (tag, rest) = out.split_first_mut().ok_or(HeartbeatError::Malformed)?;
    *tag = HEARTBEAT_TAG;
    let body_len = postcard::to_slice(body, rest)
        .map_err(|_| HeartbeatError::Malformed)?
        .len();
    let body_bytes = rest.get(..body_len).ok_or(HeartbeatError::Malformed)?;
    let sig = transcript::host_sign(
        &ed25519_dalek::SigningKey::from_bytes(seed),
        &[HEARTBEAT_CONTEXT, body_bytes],
    )
    .ok_or(HeartbeatError::Malformed)?;
    let end = body_len
        .checked_add(SIGNATURE_LEN)
        .ok_or(HeartbeatError::Malformed)?;
    rest.get_mut(body_len..end)
        .ok_or(HeartbeatError::Malformed)?
        .copy_from_slice(&sig);
    end.checked_add(1).ok_or(HeartbeatError::Malformed)
}

/// Decodes a heartbeat payload *without* checking its signature: the caller looks up the host's
/// heartbeat key by `host_id`, then calls [`verify`]. Accepts only the canonical encoding.
pub fn decode(payload: &[u8]) -> Result<(HeartbeatBody, Signature), HeartbeatError> {
    let rest = match payload.split_first() {
        Some((&HEARTBEAT_TAG, rest)) if payload.len() <= MAX_HEARTBEAT => rest,
        _ => return Err(HeartbeatError::Malformed),
    };
    let body_len = rest
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(HeartbeatError::Malformed)?;
    let (body_bytes, sig) = rest
        .split_at_checked(body_len)
        .ok_or(HeartbeatError::Malformed)?;
    let (body, trailing) = postcard::take_from_bytes::<HeartbeatBody>(body_bytes)
        .map_err(|_| HeartbeatError::Malformed)?;
    if !trailing.is_empty() || body.version != HEARTBEAT_VERSION {
        return Err(HeartbeatError::Malformed);
    }
    let mut again = [0u8; MAX_BODY];
    let n = postcard::to_slice(&body, &mut again)
        .map_err(|_| HeartbeatError::Malformed)?
        .len();
    if again.get(..n) != Some(body_bytes) {
        return Err(HeartbeatError::Malformed);
    }
    let sig: [u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| HeartbeatError::Malformed)?;
    Ok((body, Signature(sig)))
}

/// Checks that `payload` (a canonical heartbeat, see [`decode`]) is signed by `key`.
pub fn verify(payload: &[u8], key: &[u8; KEY_LEN]) -> Result<HeartbeatBody, HeartbeatError> {
    let (body, sig) = decode(payload)?;
    let signed = payload
        .get(1..payload.len().saturating_sub(SIGNATURE_LEN))
        .ok_or(HeartbeatError::Malformed)?;
    if transcript::host_verify(key, &[HEARTBEAT_CONTEXT, signed], &sig.0) {
        Ok(body)
    } else {
        Err(HeartbeatError::BadSignature)
    }
}

/// The longest ack payload.
pub const MAX_ACK: usize = 1 + 1 + 10;

/// Encodes the warden's answer; returns the payload length.
pub fn encode_ack(ack: &Ack, out: &mut [u8; MAX_ACK]) -> usize {
    let (tag, rest) = out.split_at_mut(1);
    tag.fill(ACK_TAG);
    postcard::to_slice(ack, rest).map_or(0, |s| s.len().saturating_add(1))
}

/// Decodes the warden's answer (its canonical encoding only).
pub fn decode_ack(payload: &[u8]) -> Option<Ack> {
    let rest = payload.strip_prefix(&[ACK_TAG])?;
    let ack = match postcard::take_from_bytes::<Ack>(rest) {
        Ok((ack, [])) => ack,
        _ => return None,
    };
    let mut again = [0u8; MAX_ACK];
    let n = encode_ack(&ack, &mut again);
    (again.get(..n) == Some(payload)).then_some(ack)
}

/// Parses a kernel boot id (`/proc/sys/kernel/random/boot_id`: a UUID with dashes) into bytes.
pub fn parse_boot_id(text: &str) -> Option<BootId> {
    let mut out = [0u8; BOOT_ID_LEN];
    let hex: Vec<u8, 32> = text
        .trim()
        .bytes()
        .filter(|b| *b != b'-')
        .try_fold(Vec::new(), |mut v, b| v.push(b).ok().map(|_| v))?;
    if hex.len() != 32 {
        return None;
    }
    for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let s = core::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> HeartbeatBody {
        HeartbeatBody {
            version: HEARTBEAT_VERSION,
            host_id: Name::new("web1").unwrap(),
            boot_id: [0x55; 16],
            counter: 300,
            ups: Some(UpsReport {
                status: ups::parse("OB DISCHRG"),
                charge: Some(87),
            }),
        }
    }

    #[test]
    fn signs_verifies_and_refuses_other_keys_and_changed_bytes() {
        let seed = [0x33; 32];
        let mut out = [0u8; MAX_HEARTBEAT];
        let n = encode(&body(), &seed, &mut out).unwrap();
        let key = crate::openssh::public_key(&seed);
        assert_eq!(verify(&out[..n], &key).unwrap(), body());
        let other = crate::openssh::public_key(&[0x11; 32]);
        assert_eq!(verify(&out[..n], &other), Err(HeartbeatError::BadSignature));
        for i in 0..n {
            let mut bad = out;
            bad[i] ^= 0x01;
            assert!(verify(&bad[..n], &key).is_err(), "byte {i} flipped");
        }
        assert_eq!(
            verify(&out[..n - 1], &key),
            Err(HeartbeatError::Malformed),
            "truncated"
        );
    }

    #[test]
    fn ups_words_and_outage() {
        let f = ups::parse("OB LB DISCHRG WHATEVER");
        assert_eq!(f, ups::OB | ups::LB | ups::DISCHRG);
        assert!(ups::is_outage(f));
        assert!(!ups::is_outage(ups::parse("OL CHRG")));
        assert!(ups::is_outage(ups::parse("OL FSD")));
    }

    #[test]
    fn ack_roundtrip_and_boot_id() {
        let ack = Ack {
            status: AckStatus::Replayed,
            last_counter: 77,
        };
        let mut out = [0u8; MAX_ACK];
        let n = encode_ack(&ack, &mut out);
        assert_eq!(decode_ack(&out[..n]), Some(ack));
        assert_eq!(decode_ack(&out[1..n]), None);
        assert_eq!(
            parse_boot_id("6a2f3c9e-0b1d-4e5f-8a7b-9c0d1e2f3a4b\n"),
            Some([
                0x6a, 0x2f, 0x3c, 0x9e, 0x0b, 0x1d, 0x4e, 0x5f, 0x8a, 0x7b, 0x9c, 0x0d, 0x1e, 0x2f,
                0x3a, 0x4b
            ])
        );
        assert_eq!(parse_boot_id("6a2f"), None);
        assert_eq!(parse_boot_id("zz2f3c9e-0b1d-4e5f-8a7b-9c0d1e2f3a4b"), None);
    }
}
