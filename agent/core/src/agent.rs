//! The agent's side of the protocol as a sans-IO state machine (in the shape of rustls'
//! `process_tls_records`): the caller hands in bytes, the agent says how many it used and what
//! the caller must do next.
//!
//! One [`Agent`] is one conversation of one boot: one boot id, and a window of two challenges,
//! each with its own ephemeral X25519 key, snapshot of the volume table and replay set. A hello is
//! answered by the window rule of docs/protocol.md §5 ([`Agent::answer_hello`]): the current
//! challenge again, or a new one that pushes the current one back to "previous", where a token
//! already on its way for it is still taken. Which challenge a token answers is told by the
//! challenge hash its signature covers. On a verified token the agent opens every secret and
//! lends them to the caller ([`Agent::secrets`]), takes each volume's outcome
//! ([`Agent::set_outcome`]) and signs the result ([`Agent::write_result`]), which also wipes the
//! secrets. A refused token yields no secret, only a signed result with the reason. While the
//! caller locks a peer out, frames are dropped unread ([`Agent::drop_frames`]) and text still
//! flows, so a serial line is read by this one decoder in every mode.
//!
//! This module owns no socket, clock or RNG, and must never panic or allocate: every input is
//! attacker-controlled.

use core::fmt;

use ed25519_dalek::SigningKey;
use heapless::Vec;
use zeroize::Zeroize;

use crate::drive::{self, Side};
use crate::frame::{Decoded, Decoder};
use crate::limits::{
    AEAD_TAG_LEN, HASH_LEN, MAX_ADMINS, MAX_PAYLOAD, MAX_TOKENS_PER_CHALLENGE, MAX_VOLUMES,
    PROTOCOL_VERSION,
};
use crate::message::{
    split_signed, BootId, Challenge, ChallengeBody, Key, Message, Outcome, Refusal, ResultBody,
    Signature, Unlock, UnlockResult, Verdict, VolumeInfo, VolumeOutcome, VolumeState,
};
use crate::name::Name;
use crate::seal::{self, Opener};
use crate::secret::Secret;
use crate::transcript::{self, CHALLENGE_CONTEXT, RESULT_CONTEXT};
use crate::{frame::FrameError, sshsig};

/// What an agent is made from. The caller supplies all randomness (the core has no RNG).
#[derive(Clone)]
pub struct AgentConfig {
    /// The host's ed25519 seed (32 bytes, from the host key file).
    pub host_key: Key,
    /// The host id from the config.
    pub host_id: Name,
    /// 16 random bytes drawn once at agent start.
    pub boot_id: BootId,
    /// 32 fresh random bytes: the X25519 secret of this challenge. Draw new ones for every
    /// `Agent`, never only once per boot: two agents with the same boot id, key and volume states
    /// make the same challenge, so a token used on one would be accepted again by the other
    /// (each agent remembers only its own tokens).
    pub ephemeral_secret: Key,
    /// ed25519 public keys of the admins whose tokens are accepted.
    pub admins: Vec<Key, MAX_ADMINS>,
    /// The volumes, in config order, with their current state.
    pub volumes: Vec<VolumeInfo, MAX_VOLUMES>,
}

impl Drop for AgentConfig {
    fn drop(&mut self) {
        self.host_key.zeroize();
        self.ephemeral_secret.zeroize();
    }
}

/// What [`Agent::process`] found; each variant says what the caller must do.
#[derive(Debug, PartialEq, Eq)]
pub enum AgentEvent<'a> {
    /// All input was used; read more bytes and call `process` again.
    NeedMore,
    /// Console text (e.g. a person typing a passphrase): use or show it.
    Text(&'a [u8]),
    /// A damaged frame was dropped; log it if you like and carry on.
    BadFrame(FrameError),
    /// The tool asked for the challenge: call [`Agent::answer_hello`] with the volume table as
    /// it is now, then send [`Agent::write_challenge`]'s frame.
    ChallengeRequested,
    /// A token was verified and its secrets opened: try each of [`Agent::secrets`], report with
    /// [`Agent::set_outcome`], then send [`Agent::write_result`]'s frame.
    Unlock {
        /// The admin key that signed the token (for the log).
        admin: Key,
    },
    /// A token was refused whole: send [`Agent::write_result`]'s frame. Nothing was opened.
    /// [`Refusal::is_suspicious`] tells whether to slow down.
    Refused(Refusal),
    /// A result is still pending: call [`Agent::write_result`] before processing more input.
    ResultPending,
    /// A whole frame was dropped unread because [`Agent::drop_frames`] is on: nothing to send.
    FrameDropped,
}

/// A misuse of the agent's API (never caused by bytes from the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentError {
    /// No token is pending: there is no result to write or outcome to set.
    NothingPending,
    /// The index does not name a secret of the pending token.
    NoSuchSecret,
    /// The output buffer is too small for a frame (give [`crate::limits::MAX_FRAME`] bytes).
    BufferTooSmall,
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentError::NothingPending => "no token pending",
            AgentError::NoSuchSecret => "no such secret in the pending token",
            AgentError::BufferTooSmall => "output buffer too small: give limits::MAX_FRAME bytes",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AgentError {}

/// One secret the caller should try, lent by [`Agent::secrets`].
#[derive(Debug)]
pub struct PendingSecret<'a> {
    /// Index to pass to [`Agent::set_outcome`].
    pub index: usize,
    /// The volume it is for.
    pub name: &'a Name,
    /// The secret (wiped by [`Agent::write_result`]).
    pub secret: &'a Secret,
}

enum Slot {
    Open {
        secret: Secret,
        outcome: Option<Outcome>,
    },
    NotWaiting,
}

struct TokenVolume {
    name: Name,
    slot: Slot,
}

enum Pending {
    None,
    Refused {
        token_hash: [u8; HASH_LEN],
        reason: Refusal,
    },
    Accepted {
        token_hash: [u8; HASH_LEN],
        volumes: Vec<TokenVolume, MAX_VOLUMES>,
    },
}

/// One challenge the agent has sent: its X25519 secret, the signed challenge, and the hashes of
/// the tokens it has taken (its replay set).
struct Issued {
    ephemeral: Key,
    challenge: Challenge,
    challenge_hash: [u8; HASH_LEN],
    used_tokens: Vec<[u8; HASH_LEN], MAX_TOKENS_PER_CHALLENGE>,
}

impl Drop for Issued {
    fn drop(&mut self) {
        self.ephemeral.zeroize();
    }
}

impl Issued {
    /// Makes and signs a challenge for `volumes` with the X25519 secret `ephemeral`.
    fn new(
        signing: &SigningKey,
        host_id: &Name,
        boot_id: BootId,
        ephemeral: Key,
        volumes: Vec<VolumeInfo, MAX_VOLUMES>,
    ) -> Issued {
        let body = ChallengeBody {
            version: PROTOCOL_VERSION,
            host_id: host_id.clone(),
            host_key: signing.verifying_key().to_bytes(),
            boot_id,
            ephemeral_key: seal::public_key(&ephemeral),
            volumes,
        };
        let mut buf = [0u8; MAX_PAYLOAD];
        // A body of bounded names and at most MAX_VOLUMES entries always fits MAX_PAYLOAD.
        let n = postcard::to_slice(&body, &mut buf)
            .map(|s| s.len())
            .unwrap_or(0);
        let sig = transcript::host_sign(signing, &[CHALLENGE_CONTEXT, buf.get(..n).unwrap_or(&[])])
            .unwrap_or([0; 64]);
        let challenge = Challenge {
            body,
            signature: Signature(sig),
        };
        let n = Message::Challenge(challenge.clone())
            .encode(&mut buf)
            .unwrap_or(0);
        let challenge_hash = transcript::sha256(buf.get(..n).unwrap_or(&[]));
        Issued {
            ephemeral,
            challenge,
            challenge_hash,
            used_tokens: Vec::new(),
        }
    }
}

/// The agent's state machine. See the module documentation.
pub struct Agent {
    signing: SigningKey,
    admins: Vec<Key, MAX_ADMINS>,
    /// The challenge a hello is answered with.
    current: Issued,
    /// The challenge the current one replaced, for a token that crossed the newer challenge.
    previous: Option<Issued>,
    decoder: Decoder,
    pending: Pending,
    /// Whole frames are dropped unread (see [`Agent::drop_frames`]).
    frames_dropped: bool,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("host_id", &self.current.challenge.body.host_id)
            .field("volumes", &self.current.challenge.body.volumes)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Makes the agent and signs its first challenge.
    pub fn new(config: AgentConfig) -> Agent {
        let signing = SigningKey::from_bytes(&config.host_key);
        let current = Issued::new(
            &signing,
            &config.host_id,
            config.boot_id,
            config.ephemeral_secret,
            config.volumes.clone(),
        );
        Agent {
            signing,
            admins: config.admins.clone(),
            current,
            previous: None,
            decoder: Decoder::new(),
            pending: Pending::None,
            frames_dropped: false,
        }
    }

    /// Answers a hello ([`AgentEvent::ChallengeRequested`]) by the window rule of
    /// docs/protocol.md §5. The current challenge stays unless `volumes`, the volume table as it
    /// is now, differs from the one it lists, or it has taken [`MAX_TOKENS_PER_CHALLENGE`]
    /// tokens. Then `fresh_ephemeral` is asked for a new X25519 secret (32 fresh random bytes),
    /// the new challenge becomes the current one and the one it replaces the previous one (the
    /// one before that is forgotten). Returns whether the challenge changed; either way, send
    /// [`Agent::write_challenge`]'s frame next. An error from `fresh_ephemeral` leaves the window
    /// as it was.
    pub fn answer_hello<E>(
        &mut self,
        volumes: Vec<VolumeInfo, MAX_VOLUMES>,
        fresh_ephemeral: impl FnOnce() -> Result<Key, E>,
    ) -> Result<bool, E> {
        let current = &self.current;
        if volumes == current.challenge.body.volumes && !current.used_tokens.is_full() {
            return Ok(false);
        }
        let mut ephemeral = fresh_ephemeral()?;
        let next = Issued::new(
            &self.signing,
            &current.challenge.body.host_id,
            current.challenge.body.boot_id,
            ephemeral,
            volumes,
        );
        ephemeral.zeroize();
        self.previous = Some(core::mem::replace(&mut self.current, next));
        Ok(true)
    }

    /// Frames dropped unread, for a peer the caller has locked out (docs/protocol.md §5): while
    /// on, every whole frame is dropped without being parsed (no hello answered, no token looked
    /// at) and reported as [`AgentEvent::FrameDropped`]; console text still comes out as
    /// [`AgentEvent::Text`]. A frame that began while dropping is dropped even if the mode ends
    /// before the frame does. Set it before each [`Agent::process`].
    pub fn drop_frames(&mut self, on: bool) {
        self.frames_dropped = on || (self.frames_dropped && self.decoder.in_frame());
    }

    /// Whether whole frames are being dropped unread (see [`Agent::drop_frames`]).
    pub fn frames_dropped(&self) -> bool {
        self.frames_dropped
    }

    /// The current signed challenge (the one a hello is answered with).
    pub fn challenge(&self) -> &Challenge {
        &self.current.challenge
    }

    /// SHA-256 of the current challenge's payload: what tokens for it are bound to.
    pub fn challenge_hash(&self) -> &[u8; HASH_LEN] {
        &self.current.challenge_hash
    }

    /// The host's ed25519 public key.
    pub fn host_public_key(&self) -> Key {
        self.signing.verifying_key().to_bytes()
    }

    /// Writes the challenge frame into `out` (send it on connect and on every hello).
    pub fn write_challenge(&self, out: &mut [u8]) -> Result<usize, AgentError> {
        Message::Challenge(self.current.challenge.clone())
            .encode_frame(out)
            .map_err(|_| AgentError::BufferTooSmall)
    }

    /// Drops a partial frame (call when the connection behind the bytes changes or times out).
    pub fn reset_input(&mut self) {
        self.decoder.reset();
    }

    /// Whether a frame has started and not ended: on a console, call [`Self::reset_input`] when
    /// this stays true with the line quiet for about a second (see [`Decoder::in_frame`]).
    ///
    /// [`Decoder::in_frame`]: crate::frame::Decoder::in_frame
    pub fn in_frame(&self) -> bool {
        self.decoder.in_frame()
    }

    /// Takes bytes from the connection; returns how many were used and what to do next.
    ///
    /// Call again with the unused rest until [`AgentEvent::NeedMore`]. Only `NeedMore` and
    /// `ResultPending` may use 0 bytes.
    pub fn process<'a>(&'a mut self, incoming: &'a [u8]) -> (usize, AgentEvent<'a>) {
        if !matches!(self.pending, Pending::None) {
            return (0, AgentEvent::ResultPending);
        }
        let (used, read) = drive::process(self, incoming);
        let ev = match read {
            Decoded::NeedMore => AgentEvent::NeedMore,
            Decoded::Text(text) => AgentEvent::Text(text),
            Decoded::Error(e) => AgentEvent::BadFrame(e),
            Decoded::Frame(ev) => ev,
        };
        (used, ev)
    }

    fn on_frame(&mut self, payload: &[u8]) -> Option<AgentEvent<'static>> {
        if self.frames_dropped {
            return Some(AgentEvent::FrameDropped);
        }
        let token_hash = transcript::sha256(payload);
        let unlock = match Message::decode(payload) {
            Ok(Message::Hello(_)) => return Some(AgentEvent::ChallengeRequested),
            // Our own frames echoed back by a tty: skip them silently.
            Ok(Message::Challenge(_)) | Ok(Message::Result(_)) => return None,
            Ok(Message::Unlock(u)) => u,
            Err(_) => return Some(self.refuse(token_hash, Refusal::Malformed)),
        };
        let checked = match take_token(
            &mut self.current,
            &self.admins,
            &mut self.pending,
            payload,
            &unlock,
            token_hash,
        ) {
            // Signed for another challenge: perhaps the previous one, crossed by a hello.
            Err(Refusal::BadSignature) => self.try_previous(payload, &unlock, token_hash),
            checked => checked,
        };
        match checked {
            Ok(()) => Some(AgentEvent::Unlock {
                admin: unlock.body.admin_key,
            }),
            // Replacing the pending token drops (and wipes) whatever secret was opened.
            Err(reason) => Some(self.refuse(token_hash, reason)),
        }
    }

    /// A token the current challenge refused as a bad signature, checked against the previous
    /// challenge. Unless that refuses it as a bad signature too, the previous challenge becomes
    /// the current one (the token answered it, and a result is owed for it) and its verdict
    /// stands.
    fn try_previous(
        &mut self,
        payload: &[u8],
        unlock: &Unlock,
        token_hash: [u8; HASH_LEN],
    ) -> Result<(), Refusal> {
        let Some(previous) = self.previous.as_mut() else {
            return Err(Refusal::BadSignature);
        };
        match take_token(
            previous,
            &self.admins,
            &mut self.pending,
            payload,
            unlock,
            token_hash,
        ) {
            Err(Refusal::BadSignature) => Err(Refusal::BadSignature),
            checked => {
                core::mem::swap(&mut self.current, previous);
                checked
            }
        }
    }

    fn refuse(&mut self, token_hash: [u8; HASH_LEN], reason: Refusal) -> AgentEvent<'static> {
        self.pending = Pending::Refused { token_hash, reason };
        AgentEvent::Refused(reason)
    }

    /// The secrets of the verified token, for the caller to try (empty unless
    /// [`AgentEvent::Unlock`] was returned and the result is not yet written).
    pub fn secrets(&self) -> impl Iterator<Item = PendingSecret<'_>> {
        let volumes: &[TokenVolume] = match &self.pending {
            Pending::Accepted { volumes, .. } => volumes,
            _ => &[],
        };
        volumes
            .iter()
            .enumerate()
            .filter_map(|(index, v)| match &v.slot {
                Slot::Open { secret, .. } => Some(PendingSecret {
                    index,
                    name: &v.name,
                    secret,
                }),
                Slot::NotWaiting => None,
            })
    }

    /// Records what happened with secret `index`. Secrets left without an outcome are reported
    /// as [`Outcome::Error`].
    pub fn set_outcome(&mut self, index: usize, outcome: Outcome) -> Result<(), AgentError> {
        let Pending::Accepted { volumes, .. } = &mut self.pending else {
            return Err(AgentError::NothingPending);
        };
        match volumes.get_mut(index).map(|v| &mut v.slot) {
            Some(Slot::Open { outcome: o, .. }) => {
                *o = Some(outcome);
                Ok(())
            }
            _ => Err(AgentError::NoSuchSecret),
        }
    }

    /// Whether a token's result waits to be written.
    pub fn result_pending(&self) -> bool {
        !matches!(self.pending, Pending::None)
    }

    /// Signs the pending result into a frame in `out`, wipes the token's secrets and returns to
    /// listening. Returns the frame length.
    pub fn write_result(&mut self, out: &mut [u8]) -> Result<usize, AgentError> {
        let (token_hash, verdict) = match &self.pending {
            Pending::None => return Err(AgentError::NothingPending),
            Pending::Refused { token_hash, reason } => (*token_hash, Verdict::Refused(*reason)),
            Pending::Accepted {
                token_hash,
                volumes,
            } => {
                let mut lines = Vec::new();
                for v in volumes {
                    let outcome = match &v.slot {
                        Slot::Open { outcome, .. } => outcome.unwrap_or(Outcome::Error),
                        Slot::NotWaiting => Outcome::NotWaiting,
                    };
                    // Same capacity as `volumes`: cannot overflow.
                    let _ = lines.push(VolumeOutcome {
                        name: v.name.clone(),
                        outcome,
                    });
                }
                (*token_hash, Verdict::Outcomes(lines))
            }
        };
        let body = ResultBody {
            boot_id: self.current.challenge.body.boot_id,
            verdict,
        };
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = postcard::to_slice(&body, &mut buf)
            .map(|s| s.len())
            .unwrap_or(0);
        let sig = transcript::host_sign(
            &self.signing,
            &[RESULT_CONTEXT, &token_hash, buf.get(..n).unwrap_or(&[])],
        )
        .unwrap_or([0; 64]);
        let frame = Message::Result(UnlockResult {
            body,
            signature: Signature(sig),
        })
        .encode_frame(out)
        .map_err(|_| AgentError::BufferTooSmall)?;
        // Dropping the slots zeroizes every Secret.
        self.pending = Pending::None;
        Ok(frame)
    }
}

impl Side for Agent {
    type Handled = AgentEvent<'static>;

    fn decoder(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    fn handle_frame(&mut self, payload: &[u8]) -> Option<Self::Handled> {
        self.on_frame(payload)
    }
}

/// Checks a token against one challenge of the window: its replay set, then [`verify`], with
/// the secrets opened straight into `pending`. A token taken joins the challenge's replay set.
fn take_token(
    issued: &mut Issued,
    admins: &[Key],
    pending: &mut Pending,
    payload: &[u8],
    unlock: &Unlock,
    token_hash: [u8; HASH_LEN],
) -> Result<(), Refusal> {
    // Payloads are canonical and signatures strict, so a token has exactly one byte string:
    // remembering accepted tokens' hashes stops every replay within this challenge.
    if issued.used_tokens.contains(&token_hash) || issued.used_tokens.is_full() {
        return Err(Refusal::Replayed);
    }
    // The secrets are opened straight into `pending`, never moved afterwards: a move is a copy
    // that zeroize-on-drop cannot reach.
    *pending = Pending::Accepted {
        token_hash,
        volumes: Vec::new(),
    };
    let Pending::Accepted { volumes, .. } = pending else {
        return Err(Refusal::Malformed);
    };
    verify(
        Checks {
            challenge: &issued.challenge,
            challenge_hash: &issued.challenge_hash,
            ephemeral: &issued.ephemeral,
            admins,
        },
        payload,
        unlock,
        volumes,
    )?;
    // Room was checked above.
    let _ = issued.used_tokens.push(token_hash);
    Ok(())
}

/// What [`verify`] checks a token against: the parts of the [`Agent`] it only reads.
struct Checks<'a> {
    challenge: &'a Challenge,
    challenge_hash: &'a [u8; HASH_LEN],
    ephemeral: &'a Key,
    admins: &'a [Key],
}

/// Checks a token in the order that gives the clearest reason; opens its secrets last, straight
/// into `out` (the agent's pending token).
fn verify(
    checks: Checks<'_>,
    payload: &[u8],
    unlock: &Unlock,
    out: &mut Vec<TokenVolume, MAX_VOLUMES>,
) -> Result<(), Refusal> {
    let body = &unlock.body;
    let ours = &checks.challenge.body;
    // docs/protocol.md: 1..=8 volumes, each ciphertext at least a tag long. The decoder
    // enforces the upper bounds; a token outside the lower ones is malformed, not a token
    // that merely fails to open.
    if body.volumes.is_empty() {
        return Err(Refusal::Malformed);
    }
    for (i, v) in body.volumes.iter().enumerate() {
        if v.ciphertext.len() < AEAD_TAG_LEN {
            return Err(Refusal::Malformed);
        }
        if body
            .volumes
            .iter()
            .skip(i.saturating_add(1))
            .any(|w| w.name == v.name)
        {
            return Err(Refusal::Malformed);
        }
    }
    if body.host_id != ours.host_id {
        return Err(Refusal::WrongHost);
    }
    if body.boot_id != ours.boot_id {
        return Err(Refusal::StaleBoot);
    }
    if !checks.admins.contains(&body.admin_key) {
        return Err(Refusal::UnknownAdmin);
    }
    let (body_bytes, signature) = split_signed(payload).ok_or(Refusal::Malformed)?;
    let mut msg = [0u8; transcript::MAX_UNLOCK_MESSAGE];
    let n = transcript::unlock_message(checks.challenge_hash, body_bytes, &mut msg)
        .ok_or(Refusal::Malformed)?;
    if !sshsig::verify(&body.admin_key, msg.get(..n).unwrap_or(&[]), signature) {
        return Err(Refusal::BadSignature);
    }
    let info = seal::info(&ours.host_id, &ours.boot_id, checks.challenge_hash);
    let mut opener =
        Opener::new(checks.ephemeral, &body.enc, &info).map_err(|_| Refusal::Undecryptable)?;
    for v in &body.volumes {
        let waiting = ours
            .volumes
            .iter()
            .any(|w| w.name == v.name && w.state == VolumeState::Waiting);
        let slot = if waiting {
            Slot::Open {
                secret: Secret::empty(),
                outcome: None,
            }
        } else {
            Slot::NotWaiting
        };
        out.push(TokenVolume {
            name: v.name.clone(),
            slot,
        })
        .map_err(|_| Refusal::Malformed)?;
        // Every secret is opened, in order, even for volumes that do not wait: the HPKE
        // sequence number advances with each one. A discarded one is wiped where it lies.
        let mut discard = Secret::empty();
        let into = match out.last_mut().map(|t| &mut t.slot) {
            Some(Slot::Open { secret, .. }) => secret,
            _ => &mut discard,
        };
        opener
            .open_into(&v.ciphertext, &seal::aad(&v.name), into)
            .map_err(|_| Refusal::Undecryptable)?;
    }
    Ok(())
}
