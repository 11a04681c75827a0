//! Checks the test vectors in docs/protocol.md byte for byte: every vector is computed again from
//! the fixed test keys (feature `test-keys`) and must equal the hex in the document, and the
//! document's frames must drive the state machines through a whole exchange.
//!
//! To print the vectors (when the format changes on purpose): `TESSERA_PRINT_VECTORS=1 cargo test
//! -p tessera-core --test vectors -- --nocapture`, then paste them into docs/protocol.md.

use std::collections::BTreeMap;

use tessera_core::agent::AgentEvent;
use tessera_core::client::{ClientEvent, HostKeyCheck};
use tessera_core::limits::MAX_FRAME;
use tessera_core::message::{Outcome, Verdict};
use tessera_core::testkit::{
    self, ADMIN_SEED, EPHEMERAL_SECRET, HOST_SEED, SEAL_IKM, SECRET, VOLUME,
};
use tessera_core::{openssh, seal, Client, Decoded, Decoder};

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
    vec![
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
    let mut client = Client::new(HostKeyCheck::Pinned(testkit::public_key(&HOST_SEED)));
    let (_, ev) = client.process(&doc["challenge-frame"]);
    assert!(matches!(ev, ClientEvent::Challenge { .. }), "{ev:?}");

    let mut agent = testkit::agent();
    let (_, ev) = agent.process(&doc["unlock-frame"]);
    assert!(matches!(ev, AgentEvent::Unlock { .. }), "{ev:?}");
    let opened: Vec<_> = agent
        .secrets()
        .map(|s| s.secret.as_bytes().to_vec())
        .collect();
    assert_eq!(opened, [SECRET.to_vec()]);

    // The client accepts the document's result only as the answer to the document's token.
    let name = testkit::name(VOLUME);
    let req = client
        .prepare_unlock(
            &testkit::public_key(&ADMIN_SEED),
            &[(&name, SECRET)],
            &SEAL_IKM,
        )
        .unwrap();
    let sig = openssh::sign(&ADMIN_SEED, req.message);
    let mut out = [0u8; MAX_FRAME];
    let n = client.write_unlock(&sig, &mut out).unwrap();
    assert_eq!(&out[..n], &doc["unlock-frame"][..]);
    let (_, ev) = client.process(&doc["result-frame"]);
    match ev {
        ClientEvent::Result(r) => {
            assert!(matches!(&r.verdict, Verdict::Outcomes(v) if v[0].outcome == Outcome::Unlocked))
        }
        other => panic!("{other:?}"),
    }
}
