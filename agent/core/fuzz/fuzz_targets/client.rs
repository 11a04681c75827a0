//! The client state machine on hostile input: raw bytes, or payloads framed with a good CRC,
//! before and after it sent a token. Never panics, never wedges, and never accepts a challenge
//! or result that the test host did not sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::client::{ClientEvent, HostKeyCheck};
use tessera_core::limits::MAX_FRAME;
use tessera_core::testkit::{self, ADMIN_SEED, HOST_SEED, SEAL_IKM, SECRET, VOLUME};
use tessera_core::{frame, openssh, Client};

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    match frame::encode(payload, &mut out) {
        Ok(n) => out[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

thread_local! {
    // A client that sent a token and waits for the result (cloned per input: making one costs
    // a signature check, two X25519 operations and a signature).
    static WAITING: Client = waiting_client();
}

fn waiting_client() -> Client {
    let mut client = Client::new(HostKeyCheck::Pinned(testkit::public_key(&HOST_SEED)));
    let agent = testkit::agent();
    let mut out = [0u8; MAX_FRAME];
    let n = agent.write_challenge(&mut out).unwrap();
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
    client.write_unlock(&sig, &mut out).unwrap();
    client
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        framed(rest)
    };
    let mut client = if mode & 2 != 0 {
        WAITING.with(Client::clone)
    } else {
        Client::new(HostKeyCheck::Pinned(testkit::public_key(&HOST_SEED)))
    };
    let mut buf = &input[..];
    loop {
        let (used, ev) = client.process(buf);
        match ev {
            ClientEvent::NeedMore => break,
            ClientEvent::Challenge { .. } | ClientEvent::Result(_) => {
                panic!("accepted a message the host never signed")
            }
            _ => {}
        }
        assert!(used > 0);
        buf = &buf[used..];
    }
});
