//! The agent state machine on hostile input. The first byte picks how the rest is used:
//! raw line bytes (framing and text), a payload framed with a good CRC (the parser and checks),
//! a valid token with bytes XORed in (signature and sealing checks), or the challenge window:
//! hellos before and after the (possibly damaged) token, each renewing the challenge or not.
//! Never panics, never wedges, and never opens a secret from anything but the untouched valid
//! token, which the window takes exactly while its challenge is current or previous.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_core::agent::AgentEvent;
use tessera_core::client::{Client, HostKeyCheck};
use tessera_core::limits::MAX_FRAME;
use tessera_core::message::VolumeState;
use tessera_core::testkit::{self, ADMIN_SEED, SECRET, VOLUME};
use tessera_core::{frame, Agent, Decoded, Decoder};

fn valid_token_payload() -> &'static [u8] {
    static TOKEN: OnceLock<Vec<u8>> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut out = [0u8; MAX_FRAME];
        let n = testkit::agent().write_challenge(&mut out).unwrap();
        let challenge = out[..n].to_vec();
        let name = testkit::name(VOLUME);
        let n =
            testkit::unlock_frame(&challenge, &ADMIN_SEED, &[(&name, SECRET)], &mut out).unwrap();
        match Decoder::new().decode(&out[..n]) {
            (_, Decoded::Frame(p)) => p.to_vec(),
            _ => unreachable!(),
        }
    })
}

fn hello_frame() -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    let n = Client::new(HostKeyCheck::FirstUse)
        .write_hello(&mut out)
        .unwrap();
    out[..n].to_vec()
}

thread_local! {
    // One agent for all inputs but the window's: after `write_result` and `reset_input` it is
    // back in its start state (no hello ever renews its challenge), and making a new one (a
    // signature, an X25519 key) would dominate the run time.
    static AGENT: std::cell::RefCell<Agent> = std::cell::RefCell::new(testkit::agent());
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    match frame::encode(payload, &mut out) {
        Ok(n) => out[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

/// The valid token's payload with `pairs` of (position, XOR byte) applied; and whether it is
/// still untouched.
fn damaged_token(pairs: &[u8]) -> (Vec<u8>, bool) {
    let valid = valid_token_payload();
    let mut p = valid.to_vec();
    for pair in pairs.chunks(2) {
        if let [pos, x] = pair {
            let i = usize::from(*pos) * 7 % p.len();
            p[i] ^= x;
        }
    }
    let untouched = p == valid;
    (p, untouched)
}

/// How the window run answers hellos: with the volume table flipped on every hello when
/// `changing` (which renews the challenge), else unchanged. Runs without one never renew.
struct Hellos {
    changing: bool,
    renewals: usize,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            AGENT.with_borrow_mut(|agent| run(agent, rest, false, None));
        }
        1 => {
            AGENT.with_borrow_mut(|agent| run(agent, &framed(rest), false, None));
        }
        2 => {
            let (token, untouched) = damaged_token(rest);
            AGENT.with_borrow_mut(|agent| run(agent, &framed(&token), untouched, None));
        }
        _ => {
            let Some((&plan, pairs)) = rest.split_first() else {
                return;
            };
            let before = usize::from(plan & 3);
            let changing = plan & 4 != 0;
            let (token, untouched) = damaged_token(pairs);
            let hello = hello_frame();
            let mut input = Vec::new();
            for _ in 0..before {
                input.extend_from_slice(&hello);
            }
            input.extend_from_slice(&framed(&token));
            input.extend_from_slice(&hello);
            // The token's challenge is the first one: still in the window after at most one
            // renewal, forgotten after two.
            let renewals_before = if changing { before } else { 0 };
            let may_unlock = untouched && renewals_before <= 1;
            let mut hellos = Hellos {
                changing,
                renewals: 0,
            };
            let unlocked = run(&mut testkit::agent(), &input, may_unlock, Some(&mut hellos));
            assert_eq!(unlocked, may_unlock, "the window took the wrong tokens");
        }
    }
});

/// Feeds `input`, answering every event; returns whether a token opened its secrets.
fn run(agent: &mut Agent, input: &[u8], may_unlock: bool, mut hellos: Option<&mut Hellos>) -> bool {
    agent.reset_input();
    let mut out = [0u8; MAX_FRAME];
    let mut buf = input;
    let mut steps = 0usize;
    let mut unlocked = false;
    loop {
        steps += 1;
        assert!(steps <= input.len() + 2, "no progress");
        let (used, ev) = agent.process(buf);
        match ev {
            AgentEvent::NeedMore => break,
            AgentEvent::Unlock { .. } => {
                assert!(may_unlock, "a damaged or forgotten token opened a secret");
                let s: Vec<_> = agent
                    .secrets()
                    .map(|s| s.secret.as_bytes().to_vec())
                    .collect();
                assert_eq!(s, [SECRET.to_vec()]);
                unlocked = true;
                agent.write_result(&mut out).unwrap();
            }
            AgentEvent::Refused(_) | AgentEvent::ResultPending => {
                agent.write_result(&mut out).unwrap();
            }
            AgentEvent::ChallengeRequested => {
                if let Some(h) = hellos.as_deref_mut() {
                    // The test agent's table, its volume Waiting or Unlocked by turns.
                    let flip = if h.changing {
                        h.renewals + 1
                    } else {
                        h.renewals
                    };
                    let mut volumes = testkit::agent_config().volumes.clone();
                    for v in volumes.iter_mut() {
                        v.state = if flip % 2 == 0 {
                            VolumeState::Waiting
                        } else {
                            VolumeState::Unlocked
                        };
                    }
                    let fresh = [h.renewals as u8; 32];
                    if agent.answer_hello(volumes, || Ok::<_, ()>(fresh)) == Ok(true) {
                        h.renewals += 1;
                    }
                }
                agent.write_challenge(&mut out).unwrap();
            }
            _ => {}
        }
        buf = &buf[used..];
    }
    unlocked
}
