//! Times the protocol exchange against a running agent without any KDF: connect, challenge, token,
//! result, for a token whose only volume the agent reports "not waiting" (so cryptsetup never runs).
//! Used by benches/agent-bench.sh; prints the median and quartiles in microseconds.
//!
//! usage: exchange_bench ADDR ADMIN_KEY_FILE VOLUME ROUNDS

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use tessera_core::limits::MAX_FRAME;
use tessera_core::{Client, ClientEvent, HostKeyCheck, Name};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, key, volume, rounds] = &args[..] else {
        eprintln!("usage: exchange_bench ADDR ADMIN_KEY_FILE VOLUME ROUNDS");
        std::process::exit(2);
    };
    let k = ssh_key::PrivateKey::read_openssh_file(key.as_ref()).expect("admin key");
    let seed = k.key_data().ed25519().expect("ed25519").private.to_bytes();
    let admin = k.key_data().ed25519().expect("ed25519").public.0;
    let name = Name::new(volume).expect("volume name");
    let rounds: usize = rounds.parse().expect("rounds");
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = Instant::now();
        let mut s = TcpStream::connect(addr.as_str()).expect("connect");
        s.set_nodelay(true).ok();
        let mut client = Client::new(HostKeyCheck::FirstUse);
        pump(&mut s, &mut client, |e| {
            matches!(e, ClientEvent::Challenge { .. })
        });
        let req = client
            .prepare_unlock(&admin, &[(&name, b"not used".as_slice())], &[9u8; 32])
            .expect("prepare");
        let sig = tessera_core::openssh::sign(&seed, req.message);
        let mut out = vec![0u8; MAX_FRAME];
        let n = client.write_unlock(&sig, &mut out).expect("token");
        s.write_all(&out[..n]).expect("send");
        pump(&mut s, &mut client, |e| matches!(e, ClientEvent::Result(_)));
        times.push(t0.elapsed().as_micros());
    }
    times.sort_unstable();
    let q = |f: f64| times[((times.len() - 1) as f64 * f) as usize];
    println!(
        "exchange rounds={} median_us={} p25_us={} p75_us={}",
        times.len(),
        q(0.5),
        q(0.25),
        q(0.75)
    );
}

fn pump(s: &mut TcpStream, client: &mut Client, done: impl Fn(&ClientEvent) -> bool) {
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "agent closed the connection");
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (used, ev) = client.process(rest);
            if done(&ev) {
                return;
            }
            rest = &rest[used..];
            if used == 0 {
                break;
            }
        }
    }
}
