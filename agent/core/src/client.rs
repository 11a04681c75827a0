//! The tool's side of the protocol as a sans-IO state machine (the shape of rustls'
//! `process_tls_records`): the caller hands in bytes, the client says how many it used and what
//! the caller must do next.
//!
//! Flow: (send [`Client::write_hello`] on a serial line) → a verified challenge
//! ([`ClientEvent::Challenge`]) → [`Client::prepare_unlock`] seals the secrets and returns what
//! to sign, because the admin's key may live in ssh-agent → [`Client::write_unlock`] takes the
//! 64-byte signature and makes the token frame → a verified result ([`ClientEvent::Result`]).
//! The host key is pinned ([`HostKeyCheck::Pinned`]) or reported for first-use pinning.
//!
//! This module owns no socket, clock or RNG and must never panic or allocate: the bytes come from
//! a possibly hostile agent or line.

use core::fmt;

use heapless::Vec;

use crate::drive::{self, Side};
use crate::frame::{Decoded, Decoder, FrameError};
use crate::limits::{HASH_LEN, MAX_PAYLOAD, MAX_VOLUMES, PROTOCOL_VERSION, SIGNATURE_LEN};
use crate::message::{
    split_signed, Challenge, Key, Message, MessageError, ResultBody, SealedVolume, Signature,
    Unlock, UnlockBody,
};
use crate::name::Name;
use crate::seal::{self, Sealer};
use crate::sshsig;
use crate::text::message;
use crate::transcript::{self, CHALLENGE_CONTEXT, MAX_UNLOCK_MESSAGE, RESULT_CONTEXT};

/// How the client checks the host key in a challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// Accept only this ed25519 host key (from known_hosts or flash time).
    Pinned(Key),
    /// Accept any correctly self-signed challenge and report its key for pinning; later
    /// challenges of the same [`Client`] must carry that same key.
    FirstUse,
}

/// What [`Client::process`] found; each variant says what the caller must do.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent<'a> {
    /// All input was used; read more bytes and call `process` again.
    NeedMore,
    /// Console text from the line (boot messages, prompts): show it if you like. Raw bytes
    /// from the host, unlike names in signed messages: strip control bytes (ESC sequences can
    /// rewrite the admin's terminal) before printing.
    Text(&'a [u8]),
    /// A damaged frame was dropped; carry on (a hello asks again).
    BadFrame(FrameError),
    /// A challenge verified (signature and host key): look at it, then call
    /// [`Client::prepare_unlock`]. `first_use` is true when the key was not pinned: pin
    /// `challenge.body.host_key` if the admin agrees.
    Challenge {
        /// The verified challenge.
        challenge: &'a Challenge,
        /// The host key was accepted on first use, not checked against a pin.
        first_use: bool,
    },
    /// The agent's signed answer to our token: done.
    Result(&'a ResultBody),
    /// A frame was refused (bad signature, unpinned key, garbage); the state did not change.
    Rejected(ClientError),
}

/// Why the client refused a frame or a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The frame is not a canonical tessera v1 message.
    Malformed(MessageError),
    /// The agent speaks another protocol version.
    Version(u8),
    /// The challenge's host key is not the pinned one.
    HostKeyMismatch,
    /// The host's signature over a challenge or result does not verify.
    BadHostSignature,
    /// A result arrived that does not answer our token (or none was sent).
    UnexpectedResult,
    /// `prepare_unlock` / `write_unlock` called without a challenge or prepared token.
    NoChallenge,
    /// A volume to unlock is not in the challenge, or named twice.
    UnknownVolume,
    /// No volume to unlock, or more than [`MAX_VOLUMES`].
    VolumeCount,
    /// A secret is longer than [`crate::limits::MAX_SECRET`], or the token exceeds one frame.
    TooLarge,
    /// The challenge's ephemeral key is unusable.
    BadEphemeralKey,
    /// The signature handed to `write_unlock` does not verify with the admin key.
    BadAdminSignature,
    /// The output buffer is too small (give [`crate::limits::MAX_FRAME`] bytes).
    BufferTooSmall,
}

impl ClientError {
    /// What went wrong, in one line.
    pub fn message(self) -> &'static str {
        match self {
            ClientError::Malformed(e) => e.message(),
            ClientError::Version(_) => "the agent speaks another protocol version",
            ClientError::HostKeyMismatch => "the host key does not match the pinned key",
            ClientError::BadHostSignature => "the host's signature does not verify",
            ClientError::UnexpectedResult => "a result that does not answer our token",
            ClientError::NoChallenge => "no challenge received yet",
            ClientError::UnknownVolume => "volume not offered by the agent, or named twice",
            ClientError::VolumeCount => {
                message!(Str("no volume to unlock, or more than "), Num(MAX_VOLUMES))
            }
            ClientError::TooLarge => "secrets too large for one token",
            ClientError::BadEphemeralKey => "the agent's ephemeral key is unusable",
            ClientError::BadAdminSignature => "the signature does not verify with the admin key",
            ClientError::BufferTooSmall => "output buffer too small",
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        match self {
            ClientError::Malformed(_) | ClientError::Version(_) => {
                "install the same tessera version on the host (tessera flash)"
            }
            ClientError::HostKeyMismatch => {
                "someone may impersonate the host; if it was re-flashed, update its known_hosts line"
            }
            ClientError::BadHostSignature | ClientError::UnexpectedResult => {
                "the line may be tampered with; try again"
            }
            ClientError::NoChallenge => "wait for the agent's challenge first",
            ClientError::UnknownVolume => "check the volume names with tessera status",
            ClientError::VolumeCount | ClientError::TooLarge => {
                "send fewer or shorter secrets per token (--volume)"
            }
            ClientError::BadEphemeralKey => "restart the agent (reboot the host)",
            ClientError::BadAdminSignature => "sign with the key whose public half you gave",
            ClientError::BufferTooSmall => "give a buffer of limits::MAX_FRAME bytes",
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ClientError {}

/// What the admin's key must sign for a prepared token; see [`Client::sign_request`].
#[derive(Debug)]
pub struct SignRequest<'a> {
    /// The message, for `ssh-keygen -Y sign -n unlock@tessera` (stdin).
    pub message: &'a [u8],
    /// The SSHSIG signed data over `message`, for an ssh-agent sign request or a raw ed25519 key.
    pub signed_data: [u8; sshsig::SIGNED_DATA_LEN],
    /// The SSHSIG namespace ([`sshsig::NAMESPACE`]).
    pub namespace: &'static str,
}

#[derive(Clone)]
enum State {
    AwaitChallenge,
    Challenged,
    Prepared {
        body: UnlockBody,
        message: Vec<u8, MAX_UNLOCK_MESSAGE>,
    },
    AwaitResult {
        token_hash: [u8; HASH_LEN],
    },
    Done,
}

/// The tool's state machine. See the module documentation.
///
/// It holds no private key and no plaintext secret, so cloning it (e.g. to retry) is harmless.
#[derive(Clone)]
pub struct Client {
    check: HostKeyCheck,
    decoder: Decoder,
    challenge: Option<(Challenge, [u8; HASH_LEN])>,
    state: State,
    result: Option<ResultBody>,
}

impl Side for Client {
    type Handled = Result<Handled, ClientError>;

    fn decoder(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    fn handle_frame(&mut self, payload: &[u8]) -> Option<Self::Handled> {
        match self.on_frame(payload) {
            Ok(Handled::Ignored) => None,
            other => Some(other),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("check", &self.check)
            .field(
                "challenge",
                &self.challenge.as_ref().map(|c| &c.0.body.host_id),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client waiting for a challenge.
    pub fn new(check: HostKeyCheck) -> Client {
        Client {
            check,
            decoder: Decoder::new(),
            challenge: None,
            state: State::AwaitChallenge,
            result: None,
        }
    }

    /// Writes a hello frame (asks the agent for its challenge) into `out`.
    pub fn write_hello(&self, out: &mut [u8]) -> Result<usize, ClientError> {
        Message::hello()
            .encode_frame(out)
            .map_err(|_| ClientError::BufferTooSmall)
    }

    /// The last verified challenge, if any.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref().map(|c| &c.0)
    }

    /// The verified result, once [`ClientEvent::Result`] was returned.
    pub fn result(&self) -> Option<&ResultBody> {
        self.result.as_ref()
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
    /// Call again with the unused rest until [`ClientEvent::NeedMore`].
    pub fn process<'a>(&'a mut self, incoming: &'a [u8]) -> (usize, ClientEvent<'a>) {
        let (pos, read) = drive::process(self, incoming);
        let handled = match read {
            Decoded::NeedMore => return (pos, ClientEvent::NeedMore),
            Decoded::Text(text) => return (pos, ClientEvent::Text(text)),
            Decoded::Error(e) => return (pos, ClientEvent::BadFrame(e)),
            Decoded::Frame(handled) => handled,
        };
        let ev = match handled {
            Ok(Handled::Challenge { first_use }) => match &self.challenge {
                Some((challenge, _)) => ClientEvent::Challenge {
                    challenge,
                    first_use,
                },
                None => ClientEvent::Rejected(ClientError::NoChallenge),
            },
            Ok(Handled::Result) => match &self.result {
                Some(r) => ClientEvent::Result(r),
                None => ClientEvent::Rejected(ClientError::UnexpectedResult),
            },
            // Skipped by handle_frame's `None`.
            Ok(Handled::Ignored) => ClientEvent::NeedMore,
            Err(e) => ClientEvent::Rejected(e),
        };
        (pos, ev)
    }

    fn on_frame(&mut self, payload: &[u8]) -> Result<Handled, ClientError> {
        match Message::decode(payload) {
            Ok(Message::Challenge(c)) => self.on_challenge(payload, c),
            Ok(Message::Result(r)) => self.on_result(payload, r.body),
            // Our own frames echoed back by a tty.
            Ok(Message::Hello(_)) | Ok(Message::Unlock(_)) => Ok(Handled::Ignored),
            Err(e) => {
                // A newer agent: say so instead of "malformed" when the version byte tells.
                if let [1, v, ..] = payload {
                    if *v != PROTOCOL_VERSION {
                        return Err(ClientError::Version(*v));
                    }
                }
                Err(ClientError::Malformed(e))
            }
        }
    }

    fn on_challenge(&mut self, payload: &[u8], c: Challenge) -> Result<Handled, ClientError> {
        // The same challenge again (a resend, a duplicated frame) after a token was prepared
        // changes nothing: keep the token, or the genuine result would be refused.
        let hash = transcript::sha256(payload);
        let past_challenge = matches!(
            self.state,
            State::Prepared { .. } | State::AwaitResult { .. } | State::Done
        );
        if past_challenge && self.challenge.as_ref().is_some_and(|(_, h)| *h == hash) {
            return Ok(Handled::Ignored);
        }
        if c.body.version != PROTOCOL_VERSION {
            return Err(ClientError::Version(c.body.version));
        }
        let first_use = match self.check {
            HostKeyCheck::Pinned(k) if k != c.body.host_key => {
                return Err(ClientError::HostKeyMismatch)
            }
            HostKeyCheck::Pinned(_) => false,
            // The admin is shown the first key; a later challenge in this session signed by
            // another key must not slip in under the approval (prepare_unlock seals to it).
            HostKeyCheck::FirstUse => match &self.challenge {
                Some((first, _)) if first.body.host_key != c.body.host_key => {
                    return Err(ClientError::HostKeyMismatch)
                }
                _ => true,
            },
        };
        let (body, sig) =
            split_signed(payload).ok_or(ClientError::Malformed(MessageError::Invalid))?;
        if !transcript::host_verify(&c.body.host_key, &[CHALLENGE_CONTEXT, body], sig) {
            return Err(ClientError::BadHostSignature);
        }
        // A fresh challenge (e.g. the agent restarted) replaces any earlier one and a token
        // prepared for it. A token already sent still gets its answer (signed over its hash by
        // the same host key): a challenge may cross it on the wire, e.g. a serial agent answering
        // a second hello.
        self.challenge = Some((c, hash));
        if !matches!(self.state, State::AwaitResult { .. }) {
            self.state = State::Challenged;
            self.result = None;
        }
        Ok(Handled::Challenge { first_use })
    }

    fn on_result(&mut self, payload: &[u8], body: ResultBody) -> Result<Handled, ClientError> {
        let State::AwaitResult { token_hash } = &self.state else {
            return Err(ClientError::UnexpectedResult);
        };
        let Some((challenge, _)) = &self.challenge else {
            return Err(ClientError::UnexpectedResult);
        };
        let (body_bytes, sig) =
            split_signed(payload).ok_or(ClientError::Malformed(MessageError::Invalid))?;
        if !transcript::host_verify(
            &challenge.body.host_key,
            &[RESULT_CONTEXT, token_hash, body_bytes],
            sig,
        ) {
            return Err(ClientError::BadHostSignature);
        }
        self.result = Some(body);
        self.state = State::Done;
        Ok(Handled::Result)
    }

    /// Seals `secrets` (volume name, secret) to the challenge and prepares the token for
    /// `admin_key`; returns what must be signed (also available later from
    /// [`Client::sign_request`]).
    ///
    /// `ikm` must be 32 fresh random bytes (the HPKE sender's ephemeral key).
    pub fn prepare_unlock(
        &mut self,
        admin_key: &Key,
        secrets: &[(&Name, &[u8])],
        ikm: &[u8; 32],
    ) -> Result<SignRequest<'_>, ClientError> {
        let Some((challenge, challenge_hash)) = &self.challenge else {
            return Err(ClientError::NoChallenge);
        };
        if secrets.is_empty() || secrets.len() > MAX_VOLUMES {
            return Err(ClientError::VolumeCount);
        }
        for (i, (name, _)) in secrets.iter().enumerate() {
            let offered = challenge.body.volumes.iter().any(|v| &v.name == *name);
            let twice = secrets
                .iter()
                .skip(i.saturating_add(1))
                .any(|(n, _)| n == name);
            if !offered || twice {
                return Err(ClientError::UnknownVolume);
            }
        }
        let cb = &challenge.body;
        let info = seal::info(&cb.host_id, &cb.boot_id, challenge_hash);
        let (mut sealer, enc) =
            Sealer::new(&cb.ephemeral_key, &info, ikm).map_err(|_| ClientError::BadEphemeralKey)?;
        let mut volumes: Vec<SealedVolume, MAX_VOLUMES> = Vec::new();
        for (name, secret) in secrets {
            let ciphertext = sealer
                .seal(secret, &seal::aad(name))
                .map_err(|_| ClientError::TooLarge)?;
            volumes
                .push(SealedVolume {
                    name: (*name).clone(),
                    ciphertext,
                })
                .map_err(|_| ClientError::VolumeCount)?;
        }
        let body = UnlockBody {
            host_id: cb.host_id.clone(),
            boot_id: cb.boot_id,
            admin_key: *admin_key,
            enc,
            volumes,
        };
        let mut body_buf = [0u8; MAX_PAYLOAD];
        let n = postcard::to_slice(&body, &mut body_buf)
            .map(|s| s.len())
            .map_err(|_| ClientError::TooLarge)?;
        // The whole token (variant byte, body, signature) must fit one frame.
        if n.saturating_add(1).saturating_add(SIGNATURE_LEN) > MAX_PAYLOAD {
            return Err(ClientError::TooLarge);
        }
        let mut msg = [0u8; MAX_UNLOCK_MESSAGE];
        let m =
            transcript::unlock_message(challenge_hash, body_buf.get(..n).unwrap_or(&[]), &mut msg)
                .ok_or(ClientError::TooLarge)?;
        let mut message = Vec::new();
        message
            .extend_from_slice(msg.get(..m).unwrap_or(&[]))
            .map_err(|_| ClientError::TooLarge)?;
        self.state = State::Prepared { body, message };
        self.sign_request().ok_or(ClientError::NoChallenge)
    }

    /// What the prepared token needs signed, if a token is prepared.
    pub fn sign_request(&self) -> Option<SignRequest<'_>> {
        match &self.state {
            State::Prepared { message, .. } => Some(SignRequest {
                message,
                signed_data: sshsig::signed_data(message),
                namespace: sshsig::NAMESPACE,
            }),
            _ => None,
        }
    }

    /// Takes the admin's 64-byte ed25519 signature over the SSHSIG signed data, checks it, and
    /// writes the token frame into `out`. Returns the frame length; then wait for the result.
    pub fn write_unlock(
        &mut self,
        signature: &[u8; SIGNATURE_LEN],
        out: &mut [u8],
    ) -> Result<usize, ClientError> {
        let State::Prepared { body, message } = &self.state else {
            return Err(ClientError::NoChallenge);
        };
        if !sshsig::verify(&body.admin_key, message, signature) {
            return Err(ClientError::BadAdminSignature);
        }
        let msg = Message::Unlock(Unlock {
            body: body.clone(),
            signature: Signature(*signature),
        });
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = msg
            .encode(&mut payload)
            .map_err(|_| ClientError::TooLarge)?;
        let p = payload.get(..n).unwrap_or(&[]);
        let len = crate::frame::encode(p, out).map_err(|_| ClientError::BufferTooSmall)?;
        self.state = State::AwaitResult {
            token_hash: transcript::sha256(p),
        };
        Ok(len)
    }
}

pub(crate) enum Handled {
    Challenge { first_use: bool },
    Result,
    Ignored,
}
