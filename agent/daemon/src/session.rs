//! One conversation with the host tool, over a TCP connection or the serial line, driving the
//! core's sans-IO agent state machine (`tessera_core::Agent`).
//!
//! Each conversation gets its own challenges; which challenge a hello gets and which tokens are
//! still taken is the rule of docs/protocol.md §5. Verified secrets go to [`Shared::unlock`];
//! refusals are answered with their reason, and the suspicious ones feed the rate limiter. Nothing
//! here logs a secret or trusts a length from the wire.

use std::rc::Rc;
use std::time::Instant;

use tessera_core::limits::MAX_FRAME;
use tessera_core::message::Key;
use tessera_core::{Agent, AgentEvent, Outcome, Refusal};
use zeroize::Zeroizing;

use crate::backend;
use crate::challenge;
use crate::log::log;
use crate::ratelimit::Peer;
use crate::state::{SessionGuard, Shared};

/// What the agent machine asked for, detached from its borrow of the input.
enum Step {
    NeedMore,
    Text(Zeroizing<Vec<u8>>),
    BadFrame(&'static str),
    Challenge,
    Token { admin: Key },
    Refused(Refusal),
    Pending,
    Dropped,
}

/// One peer's conversation: the machine plus the peer's identity for logs and rate limits.
pub struct Session {
    shared: Rc<Shared>,
    agent: Agent,
    pub peer: Peer,
    label: String,
    /// Held from a verified token until its result is sent (see [`Shared::begin_session`]).
    owes_result: Option<SessionGuard>,
}

impl Session {
    pub fn new(shared: &Rc<Shared>, peer: Peer, label: String) -> std::io::Result<Session> {
        Ok(Session {
            agent: shared.identity.new_agent(shared.volume_table())?,
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
    }

    /// While `locked`, frames are dropped unread and only text comes out (see
    /// [`Agent::drop_frames`]); set before each [`Session::step`].
    pub fn drop_frames(&mut self, locked: bool) {
        self.agent.drop_frames(locked);
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
        let answering = *self.agent.challenge_hash();
        let (used, step) = {
            let (used, ev) = self.agent.process(input);
            let step = match ev {
                AgentEvent::NeedMore => Step::NeedMore,
                AgentEvent::Text(t) => Step::Text(Zeroizing::new(t.to_vec())),
                AgentEvent::BadFrame(e) => Step::BadFrame(e.message()),
                AgentEvent::ChallengeRequested => Step::Challenge,
                AgentEvent::Unlock { admin } => Step::Token { admin },
                AgentEvent::Refused(r) => Step::Refused(r),
                AgentEvent::ResultPending => Step::Pending,
                AgentEvent::FrameDropped => Step::Dropped,
            };
            (used, step)
        };
        if matches!(step, Step::Token { .. } | Step::Refused(_))
            && *self.agent.challenge_hash() != answering
        {
            log!("{}: token answers the previous challenge", self.label);
        }
        let reply = match step {
            Step::NeedMore => Reply::None,
            Step::Text(t) => Reply::Text(t),
            Step::BadFrame(what) => {
                // A locked-out peer's frames are not read, damaged ones included.
                if !self.agent.frames_dropped() {
                    log!("{}: {what}", self.label);
                }
                Reply::BadFrame
            }
            Step::Challenge => {
                let now = self.shared.volume_table();
                if let Err(e) = self.agent.answer_hello(now, challenge::fresh_ephemeral) {
                    log!("{}: cannot make a new challenge: {e}", self.label);
                }
                Reply::Frame(self.challenge_frame(), false)
            }
            Step::Token { admin } => Reply::Frame(self.unlock(admin).await, true),
            Step::Refused(r) => self.refused(r),
            Step::Pending => Reply::Frame(self.result(), true),
            Step::Dropped => Reply::Dropped,
        };
        (used, reply)
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
                None => backend::Attempt::NotWaiting,
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
    /// A frame was dropped unread (the peer is locked out): nothing to send.
    Dropped,
    /// A frame to send; `true` when it is a result, which ends a TCP conversation.
    Frame(Vec<u8>, bool),
}

fn to_wire(o: &backend::Attempt) -> Outcome {
    match o {
        backend::Attempt::Unlocked => Outcome::Unlocked,
        backend::Attempt::WrongSecret => Outcome::WrongSecret,
        backend::Attempt::NotWaiting => Outcome::NotWaiting,
        backend::Attempt::Error(_) => Outcome::Error,
    }
}
