//! Property tests: frames survive any chunking and any console noise, arbitrary bytes never
//! panic or wedge the state machines, and no damaged or truncated token is ever accepted.

use proptest::prelude::*;
use tessera_core::agent::AgentEvent;
use tessera_core::client::{ClientEvent, HostKeyCheck};
use tessera_core::limits::{MAX_FRAME, MAX_PAYLOAD};
use tessera_core::testkit::{self, ADMIN_SEED, SEAL_IKM, SECRET, VOLUME};
use tessera_core::{frame, openssh, Agent, Client, Decoded, Decoder};

fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    let n = frame::encode(payload, &mut out).unwrap();
    out[..n].to_vec()
}

/// Feeds `input` in chunks of the given sizes (cycled); returns text, frames and error count.
fn decode_all(input: &[u8], chunks: &[usize]) -> (Vec<u8>, Vec<Vec<u8>>, usize) {
    let mut d = Decoder::new();
    let (mut text, mut frames, mut errors) = (Vec::new(), Vec::new(), 0);
    let mut start = 0;
    let mut i = 0;
    while start < input.len() {
        let len = chunks[i % chunks.len()].max(1).min(input.len() - start);
        i += 1;
        let mut rest = &input[start..start + len];
        start += len;
        loop {
            let (used, ev) = d.decode(rest);
            match ev {
                Decoded::NeedMore => break,
                Decoded::Text(t) => text.extend_from_slice(t),
                Decoded::Frame(f) => frames.push(f.to_vec()),
                Decoded::Error(_) => errors += 1,
            }
            assert!(used > 0, "progress on every non-NeedMore result");
            rest = &rest[used..];
        }
    }
    (text, frames, errors)
}

fn is_subsequence(needles: &[Vec<u8>], hay: &[Vec<u8>]) -> bool {
    let mut it = hay.iter();
    needles.iter().all(|n| it.any(|h| h == n))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn frame_roundtrips_in_any_chunking(
        payload in proptest::collection::vec(any::<u8>(), 1..=MAX_PAYLOAD),
        chunks in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let f = encode_frame(&payload);
        prop_assert!(f.len() <= MAX_FRAME);
        let (text, frames, errors) = decode_all(&f, &chunks);
        prop_assert!(text.is_empty());
        prop_assert_eq!(errors, 0);
        prop_assert_eq!(frames, vec![payload]);
    }

    #[test]
    fn text_without_nul_comes_back_exactly_between_frames(
        parts in proptest::collection::vec(
            (proptest::collection::vec(1u8..=255, 0..200), proptest::collection::vec(any::<u8>(), 1..300)),
            1..6),
        chunks in proptest::collection::vec(1usize..100, 1..8),
    ) {
        let mut input = Vec::new();
        let mut want_text = Vec::new();
        let mut want_frames = Vec::new();
        for (noise, payload) in &parts {
            input.extend_from_slice(noise);
            want_text.extend_from_slice(noise);
            input.extend(encode_frame(payload));
            want_frames.push(payload.clone());
        }
        let (text, frames, _) = decode_all(&input, &chunks);
        // Noise that happens to start with FE right after a frame's end 00 opens a (dropped)
        // frame; every other noise byte comes back as text.
        if parts.iter().all(|(n, _)| n.first() != Some(&0xFE)) {
            prop_assert_eq!(text, want_text);
        }
        prop_assert!(is_subsequence(&want_frames, &frames));
    }

    #[test]
    fn frames_survive_arbitrary_noise(
        parts in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..3000), proptest::collection::vec(any::<u8>(), 1..200)),
            1..5),
        chunks in proptest::collection::vec(1usize..500, 1..8),
    ) {
        let mut input = Vec::new();
        let mut want = Vec::new();
        for (noise, payload) in &parts {
            input.extend_from_slice(noise);
            input.extend(encode_frame(payload));
            want.push(payload.clone());
        }
        let (_, frames, _) = decode_all(&input, &chunks);
        prop_assert!(is_subsequence(&want, &frames), "every frame after noise is recovered");
    }

    #[test]
    fn agent_never_panics_and_always_progresses(input in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut agent = testkit::agent();
        let mut rest = &input[..];
        let mut out = [0u8; MAX_FRAME];
        let mut steps = 0;
        loop {
            steps += 1;
            prop_assert!(steps < 10_000);
            let (used, ev) = agent.process(rest);
            match ev {
                AgentEvent::NeedMore => break,
                AgentEvent::ResultPending | AgentEvent::Refused(_) | AgentEvent::Unlock { .. } => {
                    prop_assert!(!matches!(ev, AgentEvent::Unlock { .. }), "random bytes opened a secret");
                    agent.write_result(&mut out).unwrap();
                }
                _ => {}
            }
            rest = &rest[used..];
        }
    }

    #[test]
    fn client_never_panics_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut client = Client::new(HostKeyCheck::FirstUse);
        let mut rest = &input[..];
        loop {
            let (used, ev) = client.process(rest);
            if ev == ClientEvent::NeedMore {
                break;
            }
            prop_assert!(used > 0);
            rest = &rest[used..];
        }
    }
}

/// A valid token frame and its payload, answering the test agent's challenge.
fn valid_token() -> (Agent, Vec<u8>) {
    let agent = testkit::agent();
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_challenge(&mut out).unwrap();
    let mut client = Client::new(HostKeyCheck::FirstUse);
    let (_, ev) = client.process(&out[..n]);
    assert!(matches!(ev, ClientEvent::Challenge { .. }));
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
    (agent, out[..n].to_vec())
}

/// Feeds a whole input; returns whether the agent accepted a token (and answers every event).
fn accepted(agent: &mut Agent, input: &[u8]) -> bool {
    let mut rest = input;
    let mut out = [0u8; MAX_FRAME];
    let mut unlocked = false;
    loop {
        let (used, ev) = agent.process(rest);
        match ev {
            AgentEvent::NeedMore => break,
            AgentEvent::Unlock { .. } => {
                unlocked = true;
                agent.write_result(&mut out).unwrap();
            }
            AgentEvent::Refused(_) | AgentEvent::ResultPending => {
                agent.write_result(&mut out).unwrap();
            }
            _ => {}
        }
        rest = &rest[used..];
    }
    agent.write_result(&mut out).ok();
    // Each input stands alone: a partial frame must not join the next input.
    agent.reset_input();
    unlocked
}

fn payload_of(frame_bytes: &[u8]) -> Vec<u8> {
    let mut d = Decoder::new();
    match d.decode(frame_bytes) {
        (_, Decoded::Frame(p)) => p.to_vec(),
        other => panic!("not a frame: {other:?}"),
    }
}

#[test]
fn valid_token_is_accepted_once_as_control() {
    let (mut agent, tok) = valid_token();
    assert!(accepted(&mut agent, &tok));
}

#[test]
fn every_single_bit_flip_of_an_unlock_frame_is_refused() {
    let (mut agent, tok) = valid_token();
    for bit in 0..tok.len() * 8 {
        let mut bad = tok.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(
            !accepted(&mut agent, &bad),
            "bit {bit} of the frame flipped was accepted"
        );
    }
    // The agent still works after all of that.
    assert!(accepted(&mut agent, &tok));
}

#[test]
fn every_single_bit_flip_of_the_payload_is_refused_even_with_a_good_crc() {
    let (mut agent, tok) = valid_token();
    let payload = payload_of(&tok);
    for bit in 0..payload.len() * 8 {
        let mut bad = payload.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(
            !accepted(&mut agent, &encode_frame(&bad)),
            "payload bit {bit} flipped was accepted"
        );
    }
}

#[test]
fn every_truncation_is_refused() {
    let (mut agent, tok) = valid_token();
    for len in 0..tok.len() {
        assert!(
            !accepted(&mut agent, &tok[..len]),
            "frame prefix of {len} bytes accepted"
        );
        let mut fresh = testkit::agent();
        assert!(!accepted(&mut fresh, &tok[..len]));
    }
    let payload = payload_of(&tok);
    for len in 1..payload.len() {
        assert!(
            !accepted(&mut agent, &encode_frame(&payload[..len])),
            "payload prefix {len} accepted"
        );
    }
}

mod messages {
    use proptest::prelude::*;
    use tessera_core::limits::{MAX_PAYLOAD, MAX_VOLUMES};
    use tessera_core::message::{
        Challenge, ChallengeBody, Message, Outcome, Refusal, ResultBody, Signature, UnlockResult,
        Verdict, VolumeInfo, VolumeOutcome, VolumeState,
    };
    use tessera_core::Name;

    fn name() -> impl Strategy<Value = Name> {
        "[A-Za-z0-9._-]{1,32}".prop_map(|s| Name::new(&s).unwrap())
    }

    fn challenge() -> impl Strategy<Value = Message> {
        (
            name(),
            any::<[u8; 32]>(),
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            proptest::collection::vec((name(), any::<bool>()), 0..=MAX_VOLUMES),
            any::<[u8; 32]>(),
        )
            .prop_map(|(host_id, host_key, boot_id, ephemeral_key, vols, sig)| {
                let volumes = vols
                    .into_iter()
                    .map(|(name, w)| VolumeInfo {
                        name,
                        state: if w {
                            VolumeState::Waiting
                        } else {
                            VolumeState::Unlocked
                        },
                    })
                    .collect::<Vec<_>>();
                let mut s = [0u8; 64];
                s[..32].copy_from_slice(&sig);
                Message::Challenge(Challenge {
                    body: ChallengeBody {
                        version: 1,
                        host_id,
                        host_key,
                        boot_id,
                        ephemeral_key,
                        volumes: heapless::Vec::from_slice(&volumes).unwrap(),
                    },
                    signature: Signature(s),
                })
            })
    }

    fn result() -> impl Strategy<Value = Message> {
        let outcome = prop_oneof![
            Just(Outcome::Unlocked),
            Just(Outcome::WrongSecret),
            Just(Outcome::NotWaiting),
            Just(Outcome::Error)
        ];
        let refusal = prop_oneof![
            Just(Refusal::Malformed),
            Just(Refusal::WrongHost),
            Just(Refusal::StaleBoot),
            Just(Refusal::UnknownAdmin),
            Just(Refusal::BadSignature),
            Just(Refusal::Undecryptable),
            Just(Refusal::Replayed)
        ];
        let verdict = prop_oneof![
            refusal.prop_map(Verdict::Refused),
            proptest::collection::vec((name(), outcome), 0..=MAX_VOLUMES).prop_map(|v| {
                let lines: Vec<_> = v
                    .into_iter()
                    .map(|(name, outcome)| VolumeOutcome { name, outcome })
                    .collect();
                Verdict::Outcomes(heapless::Vec::from_slice(&lines).unwrap())
            }),
        ];
        (any::<[u8; 16]>(), verdict).prop_map(|(boot_id, verdict)| {
            Message::Result(UnlockResult {
                body: ResultBody { boot_id, verdict },
                signature: Signature([7; 64]),
            })
        })
    }

    proptest! {
        #[test]
        fn messages_roundtrip_canonically(m in prop_oneof![challenge(), result()]) {
            let mut buf = [0u8; MAX_PAYLOAD];
            let n = m.encode(&mut buf).unwrap();
            prop_assert_eq!(Message::decode(&buf[..n]).unwrap(), m);
            // Any trailing byte or any truncation is refused.
            prop_assert!(Message::decode(&buf[..n + 1]).is_err());
            prop_assert!(Message::decode(&buf[..n - 1]).is_err());
        }
    }
}
