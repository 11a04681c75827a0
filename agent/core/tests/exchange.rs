//! A full in-memory exchange between the agent and client state machines, and every refusal.

use tessera_core::agent::AgentEvent;
use tessera_core::client::{ClientError, ClientEvent, HostKeyCheck};
use tessera_core::limits::MAX_FRAME;
use tessera_core::message::{Outcome, Refusal, Verdict, VolumeOutcome};
use tessera_core::testkit::{self, ADMIN_SEED, OTHER_ADMIN_SEED, SEAL_IKM, SECRET, VOLUME};
use tessera_core::{openssh, Agent, AgentConfig, Client};

/// Feeds `bytes` to the agent; returns the first event that is not NeedMore/Text, as owned data.
fn agent_feed(agent: &mut Agent, bytes: &[u8]) -> Option<AgentEventOwned> {
    let mut rest = bytes;
    loop {
        let (used, ev) = agent.process(rest);
        let owned = match ev {
            AgentEvent::NeedMore => return None,
            AgentEvent::Text(_) => None,
            AgentEvent::BadFrame(_) => Some(AgentEventOwned::BadFrame),
            AgentEvent::ChallengeRequested => Some(AgentEventOwned::ChallengeRequested),
            AgentEvent::Unlock { .. } => Some(AgentEventOwned::Unlock),
            AgentEvent::Refused(r) => Some(AgentEventOwned::Refused(r)),
            AgentEvent::ResultPending => Some(AgentEventOwned::ResultPending),
        };
        rest = &rest[used..];
        if owned.is_some() {
            return owned;
        }
    }
}

#[derive(Debug, PartialEq)]
enum AgentEventOwned {
    BadFrame,
    ChallengeRequested,
    Unlock,
    Refused(Refusal),
    ResultPending,
}

fn client_feed(client: &mut Client, bytes: &[u8]) -> Result<(), ClientError> {
    let mut rest = bytes;
    loop {
        let (used, ev) = client.process(rest);
        match ev {
            ClientEvent::NeedMore => return Ok(()),
            ClientEvent::Rejected(e) => return Err(e),
            _ => {}
        }
        rest = &rest[used..];
    }
}

struct Exchange {
    agent: Agent,
    client: Client,
    challenge: Vec<u8>,
}

fn start(config: AgentConfig) -> Exchange {
    let agent = Agent::new(config);
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_challenge(&mut out).unwrap();
    let challenge = out[..n].to_vec();
    let mut client = Client::new(HostKeyCheck::Pinned(testkit::public_key(
        &testkit::HOST_SEED,
    )));
    client_feed(&mut client, &challenge).unwrap();
    Exchange {
        agent,
        client,
        challenge,
    }
}

fn token(client: &mut Client, signer: &[u8; 32], secret: &[u8]) -> Vec<u8> {
    let admin = testkit::public_key(signer);
    let name = testkit::name(VOLUME);
    let req = client
        .prepare_unlock(&admin, &[(&name, secret)], &SEAL_IKM)
        .unwrap();
    let sig = openssh::sign(signer, req.message);
    let mut out = [0u8; MAX_FRAME];
    let n = client.write_unlock(&sig, &mut out).unwrap();
    out[..n].to_vec()
}

fn result(agent: &mut Agent) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_result(&mut out).unwrap();
    out[..n].to_vec()
}

#[test]
fn full_exchange_unlocks_one_volume_within_the_wire_budget() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    assert_eq!(
        agent_feed(&mut x.agent, &tok),
        Some(AgentEventOwned::Unlock)
    );
    let secrets: Vec<_> = x
        .agent
        .secrets()
        .map(|s| (s.index, s.name.to_string(), s.secret.as_bytes().to_vec()))
        .collect();
    assert_eq!(secrets, [(0, VOLUME.to_string(), SECRET.to_vec())]);
    x.agent.set_outcome(0, Outcome::Unlocked).unwrap();
    let res = result(&mut x.agent);
    assert_eq!(
        x.agent.secrets().count(),
        0,
        "secrets are gone after the result"
    );
    client_feed(&mut x.client, &res).unwrap();
    let body = x.client.result().unwrap();
    assert_eq!(
        body.verdict,
        Verdict::Outcomes(
            heapless::Vec::from_slice(&[VolumeOutcome {
                name: testkit::name(VOLUME),
                outcome: Outcome::Unlocked
            }])
            .unwrap()
        )
    );
    let total = x.challenge.len() + tok.len() + res.len();
    println!(
        "wire: challenge {} + unlock {} + result {} = {total} bytes",
        x.challenge.len(),
        tok.len(),
        res.len()
    );
    assert!(
        total <= 600,
        "one-volume exchange is {total} bytes, budget 600"
    );
}

#[test]
fn hello_asks_for_the_challenge_and_console_text_passes_through() {
    let mut agent = testkit::agent();
    let client = Client::new(HostKeyCheck::FirstUse);
    let mut out = [0u8; MAX_FRAME];
    let n = client.write_hello(&mut out).unwrap();
    let mut input = b"typed pass".to_vec();
    input.extend_from_slice(&out[..n]);
    let (used, ev) = agent.process(&input);
    assert_eq!(ev, AgentEvent::Text(b"typed pass"));
    let (_, ev) = agent.process(&input[used..]);
    assert_eq!(ev, AgentEvent::ChallengeRequested);
}

#[test]
fn first_use_reports_the_key_and_a_wrong_pin_is_refused() {
    let agent = testkit::agent();
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_challenge(&mut out).unwrap();
    let mut tofu = Client::new(HostKeyCheck::FirstUse);
    let (_, ev) = tofu.process(&out[..n]);
    match ev {
        ClientEvent::Challenge {
            challenge,
            first_use,
        } => {
            assert!(first_use);
            assert_eq!(
                challenge.body.host_key,
                testkit::public_key(&testkit::HOST_SEED)
            );
        }
        other => panic!("expected a challenge, got {other:?}"),
    }
    let mut pinned = Client::new(HostKeyCheck::Pinned([9; 32]));
    assert_eq!(
        client_feed(&mut pinned, &out[..n]),
        Err(ClientError::HostKeyMismatch)
    );
}

/// The admin approved the first host key shown; a later challenge on the same line signed by
/// another key must not take its place, or `prepare_unlock` would seal to the newcomer.
#[test]
fn first_use_sticks_to_the_first_key_for_the_session() {
    let mut out = [0u8; MAX_FRAME];
    let n = testkit::agent().write_challenge(&mut out).unwrap();
    let genuine = out[..n].to_vec();
    let mut evil = testkit::agent_config();
    evil.host_key = [0x99; 32];
    evil.ephemeral_secret = [0x98; 32];
    let n = Agent::new(evil).write_challenge(&mut out).unwrap();
    let impostor = out[..n].to_vec();

    let mut tofu = Client::new(HostKeyCheck::FirstUse);
    client_feed(&mut tofu, &genuine).unwrap();
    assert_eq!(
        client_feed(&mut tofu, &impostor),
        Err(ClientError::HostKeyMismatch)
    );
    assert_eq!(
        tofu.challenge().unwrap().body.host_key,
        testkit::public_key(&testkit::HOST_SEED)
    );
    // Control: a fresh challenge from the same host (new ephemeral key) still replaces it.
    let mut again = testkit::agent_config();
    again.ephemeral_secret = [0x97; 32];
    let n = Agent::new(again).write_challenge(&mut out).unwrap();
    client_feed(&mut tofu, &out[..n]).unwrap();
    assert_eq!(
        tofu.challenge().unwrap().body.ephemeral_key,
        tessera_core::seal::public_key(&[0x97; 32])
    );
}

#[test]
fn wrong_secret_is_reported_per_volume() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, b"wrong");
    assert_eq!(
        agent_feed(&mut x.agent, &tok),
        Some(AgentEventOwned::Unlock)
    );
    x.agent.set_outcome(0, Outcome::WrongSecret).unwrap();
    let res = result(&mut x.agent);
    client_feed(&mut x.client, &res).unwrap();
    assert!(
        matches!(&x.client.result().unwrap().verdict, Verdict::Outcomes(v) if v[0].outcome == Outcome::WrongSecret)
    );
}

/// The agent refuses `tok` with `reason`, yields nothing, and signs a refusal. When the client
/// sent `tok` itself, it verifies the refusal; otherwise the refusal is only decoded (a client
/// accepts only answers to its own token).
fn refused(x: &mut Exchange, tok: &[u8], reason: Refusal, sent_by_client: bool) {
    assert_eq!(
        agent_feed(&mut x.agent, tok),
        Some(AgentEventOwned::Refused(reason))
    );
    assert_eq!(
        x.agent.secrets().count(),
        0,
        "a refused token yields no secret"
    );
    assert_eq!(
        agent_feed(&mut x.agent, tok),
        Some(AgentEventOwned::ResultPending)
    );
    let res = result(&mut x.agent);
    if sent_by_client {
        client_feed(&mut x.client, &res).unwrap();
        assert_eq!(x.client.result().unwrap().verdict, Verdict::Refused(reason));
    } else {
        let mut decoder = tessera_core::Decoder::new();
        let (_, tessera_core::Decoded::Frame(p)) = decoder.decode(&res) else {
            panic!("no frame")
        };
        let tessera_core::Message::Result(r) = tessera_core::Message::decode(p).unwrap() else {
            panic!("not a result")
        };
        assert_eq!(r.body.verdict, Verdict::Refused(reason));
        let err = client_feed(&mut x.client, &res).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::BadHostSignature | ClientError::UnexpectedResult
            ),
            "{err:?}"
        );
    }
}

#[test]
fn unknown_admin_is_refused() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &OTHER_ADMIN_SEED, SECRET);
    refused(&mut x, &tok, Refusal::UnknownAdmin, true);
}

#[test]
fn wrong_host_is_refused() {
    let mut other = testkit::agent_config();
    other.host_id = testkit::name("db2");
    // The tool talks to an agent that calls itself db2 but sends the token to web1.
    let mut x = start(other);
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    let mut web1 = testkit::agent();
    assert_eq!(
        agent_feed(&mut web1, &tok),
        Some(AgentEventOwned::Refused(Refusal::WrongHost))
    );
}

#[test]
fn stale_boot_token_from_an_earlier_challenge_is_refused() {
    let mut earlier = testkit::agent_config();
    earlier.boot_id = [0xAA; 16];
    let mut x = start(earlier);
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    // The host rebooted: new boot id, new ephemeral key.
    let mut now = testkit::agent_config();
    now.ephemeral_secret = [0x77; 32];
    x.agent = Agent::new(now);
    refused(&mut x, &tok, Refusal::StaleBoot, true);
}

#[test]
fn token_for_another_challenge_of_the_same_boot_fails_its_signature() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    let mut fresh = testkit::agent_config();
    fresh.ephemeral_secret = [0x78; 32];
    let mut agent = Agent::new(fresh);
    assert_eq!(
        agent_feed(&mut agent, &tok),
        Some(AgentEventOwned::Refused(Refusal::BadSignature))
    );
}

#[test]
fn bad_signature_is_refused_and_flagged_suspicious() {
    let mut x = start(testkit::agent_config());
    let admin = testkit::public_key(&ADMIN_SEED);
    let name = testkit::name(VOLUME);
    let req = x
        .client
        .prepare_unlock(&admin, &[(&name, SECRET)], &SEAL_IKM)
        .unwrap();
    let mut msg = req.message.to_vec();
    msg.push(0);
    let sig = openssh::sign(&ADMIN_SEED, &msg);
    let mut out = [0u8; MAX_FRAME];
    assert_eq!(
        x.client.write_unlock(&sig, &mut out),
        Err(ClientError::BadAdminSignature)
    );
    // Force it onto the wire anyway by re-encoding a token with the wrong signature.
    let good = token(&mut x.client, &ADMIN_SEED, SECRET);
    let mut decoder = tessera_core::Decoder::new();
    let (_, tessera_core::Decoded::Frame(p)) = decoder.decode(&good) else {
        panic!()
    };
    let tessera_core::Message::Unlock(mut u) = tessera_core::Message::decode(p).unwrap() else {
        panic!()
    };
    u.signature.0 = sig;
    let n = tessera_core::Message::Unlock(u)
        .encode_frame(&mut out)
        .unwrap();
    assert!(Refusal::BadSignature.is_suspicious());
    refused(&mut x, &out[..n], Refusal::BadSignature, false);
}

#[test]
fn garbage_frame_is_refused_as_malformed() {
    let mut x = start(testkit::agent_config());
    let mut out = [0u8; MAX_FRAME];
    let n = tessera_core::frame::encode(b"\x02garbage", &mut out).unwrap();
    refused(&mut x, &out[..n], Refusal::Malformed, false);
}

#[test]
fn volume_not_waiting_gets_no_secret() {
    let mut cfg = testkit::agent_config();
    cfg.volumes[0].state = tessera_core::VolumeState::Unlocked;
    let mut x = start(cfg);
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    assert_eq!(
        agent_feed(&mut x.agent, &tok),
        Some(AgentEventOwned::Unlock)
    );
    assert_eq!(x.agent.secrets().count(), 0);
    let res = result(&mut x.agent);
    client_feed(&mut x.client, &res).unwrap();
    assert!(
        matches!(&x.client.result().unwrap().verdict, Verdict::Outcomes(v) if v[0].outcome == Outcome::NotWaiting)
    );
}

#[test]
fn result_for_another_token_is_rejected_by_the_client() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    // The agent answers a different token (a malformed one) and the answer is replayed.
    let mut out = [0u8; MAX_FRAME];
    let n = tessera_core::frame::encode(b"\x02x", &mut out).unwrap();
    agent_feed(&mut x.agent, &out[..n]);
    let replayed = result(&mut x.agent);
    assert_eq!(
        client_feed(&mut x.client, &replayed),
        Err(ClientError::BadHostSignature)
    );
    let _ = tok;
}

/// A challenge frame that arrives twice (a resend, a duplicated line) must not make the client
/// forget the token it sent, or the genuine result would be refused.
#[test]
fn a_repeated_challenge_does_not_drop_the_sent_token() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    client_feed(&mut x.client, &x.challenge).unwrap();
    assert_eq!(
        agent_feed(&mut x.agent, &tok),
        Some(AgentEventOwned::Unlock)
    );
    x.agent.set_outcome(0, Outcome::Unlocked).unwrap();
    let res = result(&mut x.agent);
    client_feed(&mut x.client, &res).unwrap();
    assert!(matches!(
        &x.client.result().unwrap().verdict,
        Verdict::Outcomes(o) if o[0].outcome == Outcome::Unlocked
    ));
}

/// On a serial line the agent answers every hello with a fresh challenge; one that crosses the
/// token on the wire must not make the client drop the answer to the token it sent.
#[test]
fn a_newer_challenge_after_the_token_still_lets_its_result_in() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    let mut newer = testkit::agent_config();
    newer.ephemeral_secret = [0x97; 32];
    let mut out = [0u8; MAX_FRAME];
    let n = Agent::new(newer).write_challenge(&mut out).unwrap();
    client_feed(&mut x.client, &out[..n]).unwrap();
    assert_eq!(
        agent_feed(&mut x.agent, &tok),
        Some(AgentEventOwned::Unlock)
    );
    x.agent.set_outcome(0, Outcome::Unlocked).unwrap();
    let res = result(&mut x.agent);
    client_feed(&mut x.client, &res).unwrap();
    assert!(x.client.result().is_some());
    // The newer challenge is the one a next token answers.
    assert_eq!(
        x.client.challenge().unwrap().body.ephemeral_key,
        tessera_core::seal::public_key(&[0x97; 32])
    );
}

#[test]
fn replayed_token_is_refused_even_after_success() {
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    assert_eq!(
        agent_feed(&mut x.agent, &tok),
        Some(AgentEventOwned::Unlock)
    );
    x.agent.set_outcome(0, Outcome::WrongSecret).unwrap();
    result(&mut x.agent);
    assert_eq!(
        agent_feed(&mut x.agent, &tok),
        Some(AgentEventOwned::Refused(Refusal::Replayed))
    );
    assert_eq!(x.agent.secrets().count(), 0);
    result(&mut x.agent);
    // A new token for the same challenge (new HPKE key, new signature) is still accepted.
    let mut client = Client::new(HostKeyCheck::FirstUse);
    client_feed(&mut client, &x.challenge).unwrap();
    let admin = testkit::public_key(&ADMIN_SEED);
    let name = testkit::name(VOLUME);
    let req = client
        .prepare_unlock(&admin, &[(&name, SECRET)], &[0x99; 32])
        .unwrap();
    let sig = openssh::sign(&ADMIN_SEED, req.message);
    let mut out = [0u8; MAX_FRAME];
    let n = client.write_unlock(&sig, &mut out).unwrap();
    assert_eq!(
        agent_feed(&mut x.agent, &out[..n]),
        Some(AgentEventOwned::Unlock)
    );
}

#[test]
fn testkit_plays_the_tool_through_console_text() {
    let mut agent = testkit::agent();
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_challenge(&mut out).unwrap();
    let mut line = b"Begin: Running /scripts/local-top ... ".to_vec();
    line.extend_from_slice(&out[..n]);
    line.extend_from_slice(b"\r\nPlease unlock disk root_crypt: ");
    let name = testkit::name(VOLUME);
    let n = testkit::unlock_frame(&line, &ADMIN_SEED, &[(&name, SECRET)], &mut out).unwrap();
    assert_eq!(
        agent_feed(&mut agent, &out[..n]),
        Some(AgentEventOwned::Unlock)
    );
    assert_eq!(
        testkit::unlock_frame(b"no frame here", &ADMIN_SEED, &[(&name, SECRET)], &mut out),
        Err(ClientError::NoChallenge)
    );
}

/// Re-signs `tok` (a token frame for `agent`'s challenge) by the authorized admin after `edit`
/// changed its body: what a buggy or hostile tool holding an admin key could send.
fn resigned(
    agent: &Agent,
    tok: &[u8],
    edit: impl FnOnce(&mut tessera_core::message::UnlockBody),
) -> Vec<u8> {
    let mut decoder = tessera_core::Decoder::new();
    let (_, tessera_core::Decoded::Frame(p)) = decoder.decode(tok) else {
        panic!("no frame")
    };
    let tessera_core::Message::Unlock(mut u) = tessera_core::Message::decode(p).unwrap() else {
        panic!("not an unlock")
    };
    edit(&mut u.body);
    let mut body = [0u8; MAX_FRAME];
    let body = postcard::to_slice(&u.body, &mut body).unwrap();
    let mut msg = b"tessera-v1 unlock\0".to_vec();
    msg.extend_from_slice(agent.challenge_hash());
    msg.extend_from_slice(body);
    u.signature.0 = openssh::sign(&ADMIN_SEED, &msg);
    let mut out = [0u8; MAX_FRAME];
    let n = tessera_core::Message::Unlock(u)
        .encode_frame(&mut out)
        .unwrap();
    out[..n].to_vec()
}

#[test]
fn signed_token_outside_the_documented_ranges_is_malformed() {
    // Control: re-signing without a change is accepted.
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    let same = resigned(&x.agent, &tok, |_| {});
    assert_eq!(
        agent_feed(&mut x.agent, &same),
        Some(AgentEventOwned::Unlock)
    );

    // docs/protocol.md: volumes 1..=8, ciphertext 16..=528 bytes.
    let mut x = start(testkit::agent_config());
    let tok = token(&mut x.client, &ADMIN_SEED, SECRET);
    let empty = resigned(&x.agent, &tok, |b| b.volumes.clear());
    refused(&mut x, &empty, Refusal::Malformed, false);
    let short = resigned(&x.agent, &tok, |b| b.volumes[0].ciphertext.truncate(15));
    refused(&mut x, &short, Refusal::Malformed, false);
}

#[test]
fn a_stray_frame_start_is_visible_and_reset_returns_typed_text() {
    let mut agent = testkit::agent();
    assert_eq!(agent_feed(&mut agent, b"\x00\xFEpassw"), None);
    assert!(
        agent.in_frame(),
        "typed bytes are swallowed by the open frame"
    );
    agent.reset_input();
    assert!(!agent.in_frame());
    let (_, ev) = agent.process(b"ord");
    assert_eq!(ev, AgentEvent::Text(b"ord"));
    let mut client = Client::new(HostKeyCheck::FirstUse);
    client.process(b"\x00\xFE\x01");
    assert!(client.in_frame());
    client.reset_input();
    assert!(!client.in_frame());
}
