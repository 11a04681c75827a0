//! The agent state machine on hostile input. The first byte picks how the rest is used:
//! raw line bytes (framing and text), a payload framed with a good CRC (the parser and checks),
//! or a valid token with bytes XORed in (signature and sealing checks). Never panics, never
//! wedges, and never opens a secret from anything but the untouched valid token.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_core::agent::AgentEvent;
use tessera_core::client::{ClientEvent, HostKeyCheck};
use tessera_core::limits::MAX_FRAME;
use tessera_core::testkit::{self, ADMIN_SEED, SEAL_IKM, SECRET, VOLUME};
use tessera_core::{frame, openssh, Agent, Client, Decoded, Decoder};

fn valid_token_payload() -> &'static [u8] {
    static TOKEN: OnceLock<Vec<u8>> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let agent = testkit::agent();
        let mut out = [0u8; MAX_FRAME];
        let n = agent.write_challenge(&mut out).unwrap();
        let mut client = Client::new(HostKeyCheck::FirstUse);
        assert!(matches!(
            client.process(&out[..n]).1,
            ClientEvent::Challenge { .. }
        ));
        let name = testkit::name(VOLUME);
        let req = client
            .prepare_unlock(
                &testkit::public_key(&ADMIN_SEED),
                &[(&name, SECRET)],
                &SEAL_IKM,
            )
            .unwrap();
        let sig = openssh::sign(&ADMIN_SEED, req.message);
        let n = client.write_unlock(&sig, &mut out).unwrap();
        match Decoder::new().decode(&out[..n]) {
            (_, Decoded::Frame(p)) => p.to_vec(),
            _ => unreachable!(),
        }
    })
}

thread_local! {
    // One agent for all inputs: after `write_result` and `reset_input` it is back in its start
    // state, and making a new one (a signature, an X25519 key) would dominate the run time.
    static AGENT: std::cell::RefCell<Agent> = std::cell::RefCell::new(testkit::agent());
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    match frame::encode(payload, &mut out) {
        Ok(n) => out[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (input, may_unlock) = match mode % 3 {
        0 => (rest.to_vec(), false),
        1 => (framed(rest), false),
        _ => {
            let valid = valid_token_payload();
            let mut p = valid.to_vec();
            for pair in rest.chunks(2) {
                if let [pos, x] = pair {
                    let i = usize::from(*pos) * 7 % p.len();
                    p[i] ^= x;
                }
            }
            let untouched = p == valid;
            (framed(&p), untouched)
        }
    };
    AGENT.with_borrow_mut(|agent| run(agent, &input, may_unlock));
});

fn run(agent: &mut Agent, input: &[u8], may_unlock: bool) {
    agent.reset_input();
    let mut out = [0u8; MAX_FRAME];
    let mut buf = input;
    let mut steps = 0usize;
    loop {
        steps += 1;
        assert!(steps <= input.len() + 2, "no progress");
        let (used, ev) = agent.process(buf);
        match ev {
            AgentEvent::NeedMore => break,
            AgentEvent::Unlock { .. } => {
                assert!(may_unlock, "a damaged token opened a secret");
                let s: Vec<_> = agent
                    .secrets()
                    .map(|s| s.secret.as_bytes().to_vec())
                    .collect();
                assert_eq!(s, [SECRET.to_vec()]);
                agent.write_result(&mut out).unwrap();
            }
            AgentEvent::Refused(_) | AgentEvent::ResultPending => {
                agent.write_result(&mut out).unwrap();
            }
            _ => {}
        }
        buf = &buf[used..];
    }
}
