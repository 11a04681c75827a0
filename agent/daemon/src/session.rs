//! One conversation with the host tool, over a TCP connection or the serial line, driving the
//! core's sans-IO agent state machine (`tessera_core::Agent`).
//!
//! Each conversation gets a fresh challenge (fresh X25519 key, the boot's `boot_id`, the volume table
//! as it is now), so a token answers exactly one challenge. A hello is answered with the same
//! challenge unless the volume table changed (or its replay set is full): the host tool repeats its
//! hello every 2 s on a serial line, and a new challenge would cross a token already in flight. The
//! core remembers every token per challenge, so answering one challenge many times stays replay-safe.
//! When a hello does bring a new challenge, the one before is kept too, and a token that answers it
//! is still taken (not refused as a bad signature, nor counted by the rate limiter). Verified secrets go to
//! [`Shared::unlock`]; refusals are answered with their reason, and the suspicious ones feed the
//! rate limiter. Nothing here logs a secret or trusts a length from the wire.

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::Async;

type TcpStream = Async<std::net::TcpStream>;
use tessera_core::frame::{self, Decoded, Decoder};
use tessera_core::limits::{MAX_ADMINS, MAX_FRAME, MAX_TOKENS_PER_CHALLENGE, MAX_VOLUMES};
use tessera_core::message::{Key, VolumeInfo, VolumeState};
use tessera_core::{Agent, AgentConfig, AgentEvent, Name, Outcome, Refusal};
use zeroize::Zeroizing;

use crate::backend;
use crate::config::Config;
use crate::keys::{self, SEED_LEN};
use crate::log;
use crate::net::{IDLE_TIMEOUT, TOTAL_TIMEOUT};
use crate::ratelimit::Peer;
use crate::state::{SessionGuard, Shared, VolState};

/// What stays the same for every challenge of this boot.
pub struct Protocol {
    host_key: Zeroizing<[u8; SEED_LEN]>,
    host_id: Name,
    boot_id: [u8; 16],
    admins: heapless::Vec<Key, MAX_ADMINS>,
}

#[derive(Debug)]
pub struct ProtocolError(String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Protocol {
    pub fn new(
        cfg: &Config,
        seed: &[u8; SEED_LEN],
        admins: &[[u8; 32]],
    ) -> Result<Protocol, ProtocolError> {
        let host_id = Name::new(&cfg.host_id).map_err(|e| {
            ProtocolError(format!(
                "host id {}: {}; {}",
                cfg.host_id,
                e.message(),
                e.hint()
            ))
        })?;
        for v in &cfg.volumes {
            Name::new(&v.name).map_err(|e| {
                ProtocolError(format!("volume {}: {}; {}", v.name, e.message(), e.hint()))
            })?;
        }
        let mut list = heapless::Vec::new();
        for a in admins.iter().take(MAX_ADMINS) {
            let _ = list.push(*a);
        }
        if admins.len() > MAX_ADMINS {
            log!("only the first {MAX_ADMINS} admin keys are used");
        }
        let mut boot_id = [0u8; 16];
        keys::fill_random(&mut boot_id)
            .map_err(|e| ProtocolError(format!("cannot read random bytes: {e}")))?;
        Ok(Protocol {
            host_key: Zeroizing::new(*seed),
            host_id,
            boot_id,
            admins: list,
        })
    }

    /// A fresh challenge (new X25519 key) for the volume table `volumes`.
    fn new_agent(&self, volumes: Volumes) -> std::io::Result<Agent> {
        // Zeroizing: the copy moved into the config is wiped by the config's own Drop, this one
        // here; no copy of the secret outlives the call.
        let mut ephemeral = Zeroizing::new([0u8; 32]);
        keys::fill_random(&mut ephemeral[..])?;
        Ok(Agent::new(AgentConfig {
            host_key: *self.host_key,
            host_id: self.host_id.clone(),
            boot_id: self.boot_id,
            ephemeral_secret: *ephemeral,
            admins: self.admins.clone(),
            volumes,
        }))
    }
}

type Volumes = heapless::Vec<VolumeInfo, MAX_VOLUMES>;

/// The volume table as it is now, as a challenge lists it.
fn volume_table(shared: &Shared) -> Volumes {
    let mut volumes = Volumes::new();
    for (i, v) in shared.cfg.volumes.iter().enumerate() {
        let state = match shared.state(i) {
            VolState::Waiting => VolumeState::Waiting,
            VolState::HandingOff | VolState::Done => VolumeState::Unlocked,
        };
        // Names were checked in Protocol::new; the config holds at most MAX_VOLUMES.
        if let Ok(name) = Name::new(&v.name) {
            let _ = volumes.push(VolumeInfo { name, state });
        }
    }
    volumes
}

/// What the agent machine asked for, detached from its borrow of the input.
enum Step {
    NeedMore,
    Text(Zeroizing<Vec<u8>>),
    BadFrame(&'static str),
    Challenge,
    Token { admin: Key },
    Refused(Refusal),
    Pending,
}

/// One challenge and how many tokens it has verified (the core's replay set holds
/// [`MAX_TOKENS_PER_CHALLENGE`]; a full one refuses every token, so the next hello replaces it).
struct Issued {
    agent: Agent,
    verified: usize,
}

/// One peer's conversation: the machine plus the peer's identity for logs and rate limits.
pub struct Session {
    shared: Rc<Shared>,
    agent: Agent,
    verified: usize,
    /// The challenge sent before the current one, for a token that crossed the newer challenge.
    previous: Option<Issued>,
    /// Follows the same bytes as the agent's decoder, to keep the last frame's payload: a token
    /// refused by the current challenge is tried on the previous one.
    mirror: Decoder,
    last_frame: Vec<u8>,
    pub peer: Peer,
    label: String,
    /// Held from a verified token until its result is sent (see [`Shared::begin_session`]).
    owes_result: Option<SessionGuard>,
}

impl Session {
    pub fn new(shared: &Rc<Shared>, peer: Peer, label: String) -> std::io::Result<Session> {
        Ok(Session {
            agent: shared.protocol.new_agent(volume_table(shared))?,
            verified: 0,
            previous: None,
            mirror: Decoder::new(),
            last_frame: Vec::new(),
            shared: Rc::clone(shared),
            peer,
            label,
            owes_result: None,
        })
    }

    /// Whether a frame has started and not ended (see [`Agent::in_frame`]).
    pub fn in_frame(&self) -> bool {
        self.agent.in_frame()
    }

    /// Drops a partial frame (a stray `00 FE` on a quiet serial line).
    pub fn reset_input(&mut self) {
        self.agent.reset_input();
        self.mirror.reset();
    }

    /// The caller has sent the last result: the agent may now exit if every volume is open.
    pub fn result_sent(&mut self) {
        self.owes_result = None;
    }

    pub fn challenge_frame(&self) -> Vec<u8> {
        let mut out = vec![0u8; MAX_FRAME];
        let n = self.agent.write_challenge(&mut out).unwrap_or(0);
        out.truncate(n);
        out
    }

    /// Feeds bytes; returns console text (for the serial line editor) and frames to send.
    /// `used` bytes of `input` were consumed; call again with the rest until it returns 0 used.
    pub async fn step(&mut self, input: &[u8]) -> (usize, Reply) {
        let (used, step) = {
            let (used, ev) = self.agent.process(input);
            let mut rest = input.get(..used).unwrap_or(&[]);
            while !rest.is_empty() {
                let (n, what) = self.mirror.decode(rest);
                if let Decoded::Frame(p) = what {
                    self.last_frame.clear();
                    self.last_frame.extend_from_slice(p);
                }
                rest = rest.get(n.max(1)..).unwrap_or(&[]);
            }
            let step = match ev {
                AgentEvent::NeedMore => Step::NeedMore,
                AgentEvent::Text(t) => Step::Text(Zeroizing::new(t.to_vec())),
                AgentEvent::BadFrame(e) => Step::BadFrame(e.message()),
                AgentEvent::ChallengeRequested => Step::Challenge,
                AgentEvent::Unlock { admin } => Step::Token { admin },
                AgentEvent::Refused(r) => Step::Refused(r),
                AgentEvent::ResultPending => Step::Pending,
            };
            (used, step)
        };
        let reply = match step {
            Step::NeedMore => Reply::None,
            Step::Text(t) => Reply::Text(t),
            Step::BadFrame(what) => {
                log!("{}: {what}", self.label);
                Reply::BadFrame
            }
            Step::Challenge => {
                self.renew_if_stale();
                Reply::Frame(self.challenge_frame(), false)
            }
            Step::Token { admin } => Reply::Frame(self.unlock(admin).await, true),
            Step::Refused(Refusal::BadSignature) => match self.try_previous() {
                Some(Step::Token { admin }) => Reply::Frame(self.unlock(admin).await, true),
                Some(Step::Refused(r)) => self.refused(r),
                _ => self.refused(Refusal::BadSignature),
            },
            Step::Refused(r) => self.refused(r),
            Step::Pending => Reply::Frame(self.result(), true),
        };
        (used, reply)
    }

    /// A hello: a new challenge only when the volume table changed (a new one lists volumes
    /// opened since) or the replay set is full; the replaced one is kept as the previous one.
    fn renew_if_stale(&mut self) {
        let now = volume_table(&self.shared);
        if now == self.agent.challenge().body.volumes && self.verified < MAX_TOKENS_PER_CHALLENGE {
            return;
        }
        match self.shared.protocol.new_agent(now) {
            Ok(a) => {
                let old = std::mem::replace(&mut self.agent, a);
                self.previous = Some(Issued {
                    agent: old,
                    verified: std::mem::take(&mut self.verified),
                });
                // The new agent's decoder starts afresh; so does its mirror.
                self.mirror.reset();
            }
            Err(e) => log!("{}: cannot make a new challenge: {e}", self.label),
        }
    }

    /// The token just refused by the current challenge as a bad signature: does it answer the
    /// previous challenge (a hello brought a new challenge while the token was on its way)? If so
    /// the previous challenge becomes the current one, with the token's verdict pending in it,
    /// and the current one's refusal is dropped unsent. `None`: a bad signature indeed.
    fn try_previous(&mut self) -> Option<Step> {
        let prev = self.previous.as_mut()?;
        let mut f = vec![0u8; MAX_FRAME];
        let n = frame::encode(&self.last_frame, &mut f).ok()?;
        prev.agent.reset_input();
        let (_, ev) = prev.agent.process(f.get(..n).unwrap_or(&[]));
        let step = match ev {
            AgentEvent::Unlock { admin } => Step::Token { admin },
            AgentEvent::Refused(r) if r != Refusal::BadSignature => Step::Refused(r),
            _ => {
                // Not signed for the previous challenge either: clear what it holds pending.
                let mut scratch = vec![0u8; MAX_FRAME];
                let _ = prev.agent.write_result(&mut scratch);
                return None;
            }
        };
        let mut scratch = vec![0u8; MAX_FRAME];
        let _ = self.agent.write_result(&mut scratch);
        std::mem::swap(&mut self.agent, &mut prev.agent);
        std::mem::swap(&mut self.verified, &mut prev.verified);
        // The swapped-in agent's decoder has just read this frame; the mirror follows it.
        self.mirror.reset();
        let mut rest = f.get(..n).unwrap_or(&[]);
        while !rest.is_empty() {
            let (used, _) = self.mirror.decode(rest);
            rest = rest.get(used.max(1)..).unwrap_or(&[]);
        }
        log!("{}: token answers the previous challenge", self.label);
        Some(step)
    }

    fn refused(&mut self, r: Refusal) -> Reply {
        log!("{}: token refused: {}", self.label, r.message());
        if r.is_suspicious() {
            let now = Instant::now();
            let mut limiter = self.shared.limiter.borrow_mut();
            limiter.failed(self.peer, now);
            if let Some(d) = limiter.locked_for(self.peer, now) {
                log!("{}: rate limited for {}s", self.label, d.as_secs());
            }
        }
        Reply::Frame(self.result(), true)
    }

    async fn unlock(&mut self, admin: Key) -> Vec<u8> {
        self.verified = self.verified.saturating_add(1);
        self.owes_result = Some(self.shared.begin_session());
        let mut line = [0u8; tessera_core::openssh::ENCODED_LEN];
        let who = tessera_core::openssh::encode(&admin, &mut line).to_string();
        let short = who.get(who.len().saturating_sub(12)..).unwrap_or("");
        log!("{}: token from admin key ...{short} verified", self.label);
        let secrets: Vec<(usize, String, Zeroizing<Vec<u8>>)> = self
            .agent
            .secrets()
            .map(|p| {
                (
                    p.index,
                    p.name.as_str().to_string(),
                    Zeroizing::new(p.secret.as_bytes().to_vec()),
                )
            })
            .collect();
        for (index, name, secret) in secrets {
            let outcome = match self.shared.index_of(&name) {
                Some(i) => self.shared.unlock(i, secret, &self.label).await,
                None => backend::Outcome::NotWaiting,
            };
            let _ = self.agent.set_outcome(index, to_wire(&outcome));
        }
        self.result()
    }

    fn result(&mut self) -> Vec<u8> {
        let mut out = vec![0u8; MAX_FRAME];
        let n = self.agent.write_result(&mut out).unwrap_or(0);
        out.truncate(n);
        out
    }
}

pub enum Reply {
    None,
    Text(Zeroizing<Vec<u8>>),
    BadFrame,
    /// A frame to send; `true` when it is a result, which ends a TCP conversation.
    Frame(Vec<u8>, bool),
}

fn to_wire(o: &backend::Outcome) -> Outcome {
    match o {
        backend::Outcome::Unlocked => Outcome::Unlocked,
        backend::Outcome::WrongSecret => Outcome::WrongSecret,
        backend::Outcome::NotWaiting => Outcome::NotWaiting,
        backend::Outcome::Error(_) => Outcome::Error,
    }
}

/// Serves one TCP connection: challenge on connect, one token, its result, close.
pub async fn tcp(shared: Rc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let label = format!("tcp {peer}");
    let mut session = match Session::new(&shared, Peer::Ip(peer.ip().to_canonical()), label.clone())
    {
        Ok(s) => s,
        Err(e) => {
            log!("{label}: {e}");
            return;
        }
    };
    let deadline = Instant::now() + TOTAL_TIMEOUT;
    let hello = session.challenge_frame();
    if stream.write_all(&hello).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    loop {
        let wait = IDLE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        let n = match read_timeout(&mut stream, &mut buf, wait).await {
            Some(Ok(0)) => {
                log!("{label}: closed by the peer");
                return;
            }
            Some(Err(e)) => {
                log!("{label}: read failed ({e}), closed");
                return;
            }
            Some(Ok(n)) => n,
            None => {
                log!("{label}: closed after {}s without a token", wait.as_secs());
                return;
            }
        };
        let mut input = &buf[..n];
        loop {
            let (used, reply) = session.step(input).await;
            input = input.get(used..).unwrap_or(&[]);
            match reply {
                Reply::None => {
                    if used == 0 {
                        break;
                    }
                }
                Reply::Text(_) => {
                    // TCP carries frames only; text means garbage or a damaged frame start.
                    log!("{label}: closed, sent bytes that are not a frame");
                    return;
                }
                Reply::BadFrame => return,
                Reply::Frame(f, ends) => {
                    let _ = stream.write_all(&f).await;
                    let _ = stream.flush().await;
                    if ends {
                        return;
                    }
                }
            }
            if input.is_empty() {
                break;
            }
        }
    }
}

async fn read_timeout(
    stream: &mut TcpStream,
    buf: &mut [u8],
    wait: Duration,
) -> Option<std::io::Result<usize>> {
    smol::future::or(async { Some(stream.read(buf).await) }, async {
        smol::Timer::after(wait).await;
        None
    })
    .await
}
