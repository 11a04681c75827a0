//! Checks the test vectors in docs/protocol.md byte for byte: every vector is computed again from
//! the fixed test keys (feature `test-keys`) and must equal the hex in the document, and the
//! document's frames must drive the state machines through a whole exchange.
//!
//! To print the vectors (when the format changes on purpose): `TESSERA_PRINT_VECTORS=1 cargo test
//! -p tessera-core --test tests vectors -- --nocapture`, then paste them into docs/protocol.md.

use std::collections::BTreeMap;

use tessera_core::agent::AgentEvent;
use tessera_core::client::{ClientEvent, HostKeyCheck};
use tessera_core::limits::MAX_FRAME;
use tessera_core::message::{Outcome, Refusal, Verdict, VolumeState};
use tessera_core::testkit::{
    self, ADMIN_SEED, EPHEMERAL_SECRET, HOST_SEED, SEAL_IKM, SECRET, VOLUME,
};
use tessera_core::{frame, openssh, seal, Agent, AgentConfig, Client, Decoded, Decoder};

const DOC: &str = include_str!("../../../docs/protocol.md");

fn payload(frame: &[u8]) -> Vec<u8> {
    match Decoder::new().decode(frame) {
        (_, Decoded::Frame(p)) => p.to_vec(),
        other => panic!("not a frame: {other:?}"),
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

/// The ephemeral X25519 secret of the challenge a hello brings once `root_crypt` is open.
const RENEWED_EPHEMERAL_SECRET: [u8; 32] = [0x77; 32];

/// The test agent's config with `root_crypt` listed as unlocked and the renewed ephemeral key.
fn renewed_config() -> AgentConfig {
    let mut config = testkit::agent_config();
    config.ephemeral_secret = RENEWED_EPHEMERAL_SECRET;
    for v in config.volumes.iter_mut() {
        v.state = VolumeState::Unlocked;
    }
    config
}

/// The signed result the agent sends for `token` (a frame), and the reason it refused it.
fn refusal(agent: &mut Agent, token: &[u8]) -> (Refusal, Vec<u8>) {
    let (_, ev) = agent.process(token);
    let AgentEvent::Refused(reason) = ev else {
        panic!("not refused: {ev:?}");
    };
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_result(&mut out).unwrap();
    (reason, out[..n].to_vec())
}

/// A token for the challenge of an agent made from `config`, as the tool makes it.
fn token_for(config: AgentConfig) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    let n = Agent::new(config).write_challenge(&mut out).unwrap();
    let challenge = out[..n].to_vec();
    let name = testkit::name(VOLUME);
    let n = testkit::unlock_frame(&challenge, &ADMIN_SEED, &[(&name, SECRET)], &mut out).unwrap();
    out[..n].to_vec()
}

/// The window (docs/protocol.md §5): a hello after `root_crypt` opened brings a new challenge,
/// the document's token still answers the one it replaced, and a second copy is a replay.
/// Returns the new challenge frame, the crossed token's result and the replay's result.
fn window(unlock: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut agent = testkit::agent();
    let mut out = [0u8; MAX_FRAME];
    let n = Client::new(HostKeyCheck::FirstUse)
        .write_hello(&mut out)
        .unwrap();
    let (_, ev) = agent.process(&out[..n]);
    assert_eq!(ev, AgentEvent::ChallengeRequested);
    let volumes = renewed_config().volumes.clone();
    let renewed = agent.answer_hello(volumes, || Ok::<_, ()>(RENEWED_EPHEMERAL_SECRET));
    assert_eq!(renewed, Ok(true));
    let n = agent.write_challenge(&mut out).unwrap();
    let challenge = out[..n].to_vec();

    let (_, ev) = agent.process(unlock);
    assert!(matches!(ev, AgentEvent::Unlock { .. }), "{ev:?}");
    // The volume was opened meanwhile (that is why the challenge changed).
    agent.set_outcome(0, Outcome::NotWaiting).unwrap();
    let n = agent.write_result(&mut out).unwrap();
    let crossed = out[..n].to_vec();

    let (reason, replayed) = refusal(&mut agent, unlock);
    assert_eq!(reason, Refusal::Replayed);
    (challenge, crossed, replayed)
}

/// Every refusal vector: (reason, name of the token vector or None for the document's token,
/// token frame, result frame).
fn refusals(unlock: &[u8], replayed: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = [0u8; MAX_FRAME];
    // A payload of the Unlock variant byte alone.
    let n = frame::encode(&[0x02], &mut out).unwrap();
    let malformed = out[..n].to_vec();
    let mut wrong_host = testkit::agent_config();
    wrong_host.host_id = testkit::name("web2");
    let wrong_host = token_for(wrong_host);
    let mut stale_boot = testkit::agent_config();
    stale_boot.boot_id = [0x56; 16];
    let stale_boot = token_for(stale_boot);

    let mut got = Vec::new();
    for (want, token) in [
        (Refusal::Malformed, &malformed),
        (Refusal::WrongHost, &wrong_host),
        (Refusal::StaleBoot, &stale_boot),
    ] {
        let (reason, result) = refusal(&mut testkit::agent(), token);
        assert_eq!(reason, want);
        got.push(result);
    }
    // The document's token, to an agent whose only challenge is the renewed one.
    let (reason, bad_signature) = refusal(&mut Agent::new(renewed_config()), unlock);
    assert_eq!(reason, Refusal::BadSignature);
    let mut got = got.into_iter();
    vec![
        ("malformed-token", malformed.clone()),
        ("malformed-result", got.next().unwrap()),
        ("replayed-result", replayed),
        ("wrong-host-token", wrong_host.clone()),
        ("wrong-host-result", got.next().unwrap()),
        ("stale-boot-token", stale_boot.clone()),
        ("stale-boot-result", got.next().unwrap()),
        ("bad-signature-result", bad_signature),
    ]
}

/// Every vector of the document, computed from the test keys, in document order.
fn compute() -> Vec<(&'static str, Vec<u8>)> {
    let mut agent = testkit::agent();
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_challenge(&mut out).unwrap();
    let challenge = out[..n].to_vec();

    let mut client = Client::new(HostKeyCheck::Pinned(testkit::public_key(&HOST_SEED)));
    let (_, ev) = client.process(&challenge);
    assert!(matches!(
        ev,
        ClientEvent::Challenge {
            first_use: false,
            ..
        }
    ));
    let name = testkit::name(VOLUME);
    let req = client
        .prepare_unlock(
            &testkit::public_key(&ADMIN_SEED),
            &[(&name, SECRET)],
            &SEAL_IKM,
        )
        .unwrap();
    let message = req.message.to_vec();
    let signed_data = req.signed_data.to_vec();
    let sig = openssh::sign(&ADMIN_SEED, &message);
    let n = client.write_unlock(&sig, &mut out).unwrap();
    let unlock = out[..n].to_vec();

    let (_, ev) = agent.process(&unlock);
    assert!(matches!(ev, AgentEvent::Unlock { .. }), "{ev:?}");
    agent.set_outcome(0, Outcome::Unlocked).unwrap();
    let n = agent.write_result(&mut out).unwrap();
    let result = out[..n].to_vec();

    let challenge_hash = sha256(&payload(&challenge));
    let info = seal::info(
        &testkit::name(testkit::HOST_ID),
        &testkit::BOOT_ID,
        &challenge_hash.clone().try_into().unwrap(),
    );
    let (renewed, crossed, replayed) = window(&unlock);
    assert_eq!(
        payload(&renewed),
        {
            let n = Agent::new(renewed_config())
                .write_challenge(&mut out)
                .unwrap();
            payload(&out[..n])
        },
        "a renewed challenge is the challenge of its inputs"
    );
    let mut vectors = vec![
        ("host-public-key", testkit::public_key(&HOST_SEED).to_vec()),
        (
            "admin-public-key",
            testkit::public_key(&ADMIN_SEED).to_vec(),
        ),
        (
            "ephemeral-public-key",
            seal::public_key(&EPHEMERAL_SECRET).to_vec(),
        ),
        ("challenge-frame", challenge.clone()),
        ("challenge-hash", challenge_hash),
        ("hpke-info", info.to_vec()),
        ("hpke-aad", seal::aad(&name).to_vec()),
        ("sshsig-message", message),
        ("sshsig-signed-data", signed_data),
        ("unlock-frame", unlock.clone()),
        ("token-hash", sha256(&payload(&unlock))),
        ("result-frame", result),
        ("renewed-challenge-frame", renewed),
        ("crossed-result-frame", crossed),
    ];
    vectors.extend(refusals(&unlock, replayed));
    vectors.extend(heartbeats());
    vectors
}

/// §8: a heartbeat of `web1` reporting its UPS on battery, and the warden's two answers.
fn heartbeats() -> Vec<(&'static str, Vec<u8>)> {
    use tessera_core::heartbeat::{self, ups, Ack, AckStatus, HeartbeatBody, UpsReport};
    let body = HeartbeatBody {
        version: heartbeat::HEARTBEAT_VERSION,
        host_id: testkit::name(testkit::HOST_ID),
        boot_id: testkit::BOOT_ID,
        counter: 300,
        ups: Some(UpsReport {
            status: ups::parse("OB DISCHRG"),
            charge: Some(87),
        }),
    };
    let mut payload = [0u8; heartbeat::MAX_HEARTBEAT];
    let n = heartbeat::encode(&body, &testkit::HEARTBEAT_SEED, &mut payload).unwrap();
    let key = testkit::public_key(&testkit::HEARTBEAT_SEED);
    assert_eq!(heartbeat::verify(&payload[..n], &key), Ok(body));
    let mut out = [0u8; MAX_FRAME];
    let f = frame::encode(&payload[..n], &mut out).unwrap();
    let mut acks = Vec::new();
    for status in [AckStatus::Accepted, AckStatus::Replayed] {
        let mut a = [0u8; heartbeat::MAX_ACK];
        let len = heartbeat::encode_ack(
            &Ack {
                status,
                last_counter: 300,
            },
            &mut a,
        );
        acks.push(a[..len].to_vec());
    }
    let mut acks = acks.into_iter();
    vec![
        ("heartbeat-public-key", key.to_vec()),
        ("heartbeat-frame", out[..f].to_vec()),
        ("heartbeat-accepted-ack", acks.next().unwrap()),
        ("heartbeat-replayed-ack", acks.next().unwrap()),
    ]
}

/// Vectors of the document: a line `<!-- vector: NAME -->` followed by a ```hex block.
fn parse_doc() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- vector: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        assert_eq!(
            lines.next().map(str::trim),
            Some("```hex"),
            "vector {name}: ```hex must follow"
        );
        let mut hex_text = String::new();
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            hex_text.push_str(l.trim());
        }
        let bytes =
            hex::decode(&hex_text).unwrap_or_else(|e| panic!("vector {name}: bad hex: {e}"));
        assert!(
            out.insert(name.to_string(), bytes).is_none(),
            "vector {name} twice"
        );
    }
    out
}

fn print_markdown(vectors: &[(&str, Vec<u8>)]) {
    for (name, bytes) in vectors {
        println!("<!-- vector: {name} -->\n```hex");
        for chunk in bytes.chunks(32) {
            println!("{}", hex::encode(chunk));
        }
        println!("```\n");
    }
}

#[test]
fn document_vectors_match_the_implementation_byte_for_byte() {
    let computed = compute();
    if std::env::var_os("TESSERA_PRINT_VECTORS").is_some() {
        print_markdown(&computed);
    }
    let doc = parse_doc();
    assert_eq!(
        doc.len(),
        computed.len(),
        "the document has {:?}",
        doc.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &computed {
        let want = doc
            .get(*name)
            .unwrap_or_else(|| panic!("docs/protocol.md lacks vector {name}"));
        assert_eq!(
            hex::encode(want),
            hex::encode(bytes),
            "vector {name} differs from docs/protocol.md"
        );
    }
}

#[test]
fn document_frames_drive_a_whole_exchange() {
    let doc = parse_doc();
    let mut agent = testkit::agent();
    let (_, ev) = agent.process(&doc["unlock-frame"]);
    assert!(matches!(ev, AgentEvent::Unlock { .. }), "{ev:?}");
    let opened: Vec<_> = agent
        .secrets()
        .map(|s| s.secret.as_bytes().to_vec())
        .collect();
    assert_eq!(opened, [SECRET.to_vec()]);

    // The tool answers the document's challenge with the document's token, and accepts the
    // document's result only as the answer to that token.
    let name = testkit::name(VOLUME);
    let mut out = [0u8; MAX_FRAME];
    let (mut client, n) = testkit::client_after_unlock(
        &doc["challenge-frame"],
        &ADMIN_SEED,
        &[(&name, SECRET)],
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[..n], &doc["unlock-frame"][..]);
    let (_, ev) = client.process(&doc["result-frame"]);
    match ev {
        ClientEvent::Result(r) => {
            assert!(matches!(&r.verdict, Verdict::Outcomes(v) if v[0].outcome == Outcome::Unlocked))
        }
        other => panic!("{other:?}"),
    }
}
