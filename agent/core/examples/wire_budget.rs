//! Prints the bytes on the wire of an exchange with 1 to 8 volumes (32-byte secrets, 12-byte
//! names) and the memory of the state machines. Run:
//! `cargo run -p tessera-core --features test-keys --example wire_budget`.

use tessera_core::agent::AgentEvent;
use tessera_core::client::HostKeyCheck;
use tessera_core::limits::MAX_FRAME;
use tessera_core::message::{Outcome, VolumeInfo, VolumeState};
use tessera_core::testkit::{self, ADMIN_SEED, SEAL_IKM};
use tessera_core::{openssh, Agent, Client, Decoder, Name};

fn main() {
    println!("volumes  challenge  unlock  result  total (bytes on the wire)");
    for count in 1..=8 {
        let mut cfg = testkit::agent_config();
        cfg.volumes.clear();
        let names: Vec<Name> = (0..count)
            .map(|i| testkit::name(&format!("vol{i}_crypt00")))
            .collect();
        for n in &names {
            cfg.volumes
                .push(VolumeInfo {
                    name: n.clone(),
                    state: VolumeState::Waiting,
                })
                .unwrap();
        }
        let mut agent = Agent::new(cfg);
        let mut out = [0u8; MAX_FRAME];
        let challenge = agent.write_challenge(&mut out).unwrap();
        let mut client = Client::new(HostKeyCheck::FirstUse);
        client.process(&out[..challenge]);
        let secret = [0x5a; 32];
        let secrets: Vec<(&Name, &[u8])> = names.iter().map(|n| (n, &secret[..])).collect();
        let req = client
            .prepare_unlock(&testkit::public_key(&ADMIN_SEED), &secrets, &SEAL_IKM)
            .unwrap();
        let sig = openssh::sign(&ADMIN_SEED, req.message);
        let unlock = client.write_unlock(&sig, &mut out).unwrap();
        let (_, ev) = agent.process(&out[..unlock]);
        assert!(matches!(ev, AgentEvent::Unlock { .. }));
        for i in 0..count {
            agent.set_outcome(i, Outcome::Unlocked).unwrap();
        }
        let result = agent.write_result(&mut out).unwrap();
        println!(
            "{count:7}  {challenge:9}  {unlock:6}  {result:6}  {:5}",
            challenge + unlock + result
        );
    }
    println!();
    println!("size_of Agent   {:6} bytes", std::mem::size_of::<Agent>());
    println!("size_of Client  {:6} bytes", std::mem::size_of::<Client>());
    println!("size_of Decoder {:6} bytes", std::mem::size_of::<Decoder>());
}
