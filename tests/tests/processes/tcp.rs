//! Unlocking over TCP with the real agent, the real host tool and real LUKS2 images, and every way a
//! token must be refused with nothing unlocked.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::common::*;
use tessera_core::message::{Outcome, Verdict};
use tessera_core::Refusal;

const SECS: Duration = Duration::from_secs(10);

fn both(host: &Host, addr: SocketAddr) -> std::process::Output {
    host.tessera(
        &["unlock", &addr.to_string(), "--secret-stdin"],
        &format!("{PASS_A}\n{PASS_B}\n"),
    )
}

#[test]
fn two_volumes_in_one_token_over_ipv4() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let out = both(&host, agent.addr());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("web1: vol_a: unlocked"), "{stdout}");
    assert!(stdout.contains("web1: vol_b: unlocked"), "{stdout}");
    let status = agent
        .wait_exit(SECS)
        .expect("agent exits once every volume is unlocked");
    assert!(status.success(), "{}", agent.log_text());
    // The secrets never reach the log.
    let log = agent.log_text();
    assert!(!log.contains(PASS_A) && !log.contains(PASS_B), "{log}");
}

#[test]
fn two_volumes_over_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let host = Host::new("web6", "listen [::1]:0\n");
    let mut agent = host.start();
    let addr = agent.addr();
    assert!(addr.is_ipv6(), "{addr}");
    let out = both(&host, addr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn default_listen_is_dual_stack() {
    // No listen line: [::]:7743 serves IPv4 and IPv6 (skip quietly if the port is taken).
    if std::net::TcpListener::bind("[::]:7743").is_err() {
        eprintln!("port 7743 busy; skipping");
        return;
    }
    let host = Host::new("dual", "");
    let _agent = host.start();
    _agent.addr();
    for target in ["127.0.0.1:7743", "[::1]:7743"] {
        let out = host.tessera(&["status", target], "");
        assert_eq!(out.status.code(), Some(0), "{target}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("host      dual"));
    }
}

#[test]
fn wrong_secret_is_reported_for_that_volume_and_the_other_unlocks() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let addr = agent.addr();
    let out = host.tessera(
        &["unlock", &addr.to_string(), "--secret-stdin"],
        &format!("{PASS_A}\nnot the passphrase\n"),
    );
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("vol_a: unlocked"), "{stdout}");
    assert!(stdout.contains("vol_b: wrong secret"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong secret for vol_b"), "{stderr}");
    assert!(agent.is_running(), "agent must wait for vol_b");
    // Only vol_b still waits; the next token carries just that one.
    let out = host.tessera(
        &["unlock", &addr.to_string(), "--secret-stdin"],
        &format!("{PASS_B}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn json_and_status_are_machine_readable() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent = host.start();
    let addr = agent.addr().to_string();
    let out = host.tessera(&["status", &addr, "--json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["host_id"], "web1");
    assert_eq!(v["volumes"][0]["name"], "vol_a");
    assert_eq!(v["volumes"][1]["state"], "waiting");
    let out = host.tessera(
        &[
            "unlock",
            &addr,
            "--secret-stdin",
            "--json",
            "--volume",
            "vol_b",
        ],
        &format!("{PASS_B}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(v["volumes"][0]["outcome"], "unlocked");
    let out = host.tessera(&["status", &addr, "--json"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["volumes"][1]["state"], "unlocked");
    assert_eq!(v["volumes"][0]["state"], "waiting");
}

#[test]
fn secret_command_gets_each_volume_name() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    std::fs::write(host.dir.join("vol_a.pass"), format!("{PASS_A}\n")).unwrap();
    std::fs::write(host.dir.join("vol_b.pass"), format!("{PASS_B}\n")).unwrap();
    let cmd = format!("cat {}/$TESSERA_VOLUME.pass", host.dir.path().display());
    let out = host.tessera(
        &[
            "unlock",
            &agent.addr().to_string(),
            "--secret-command",
            &cmd,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn unknown_admin_key_is_refused_and_nothing_unlocks() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent = host.start();
    let (stranger, _) = admin_key(host.dir.path(), "stranger");
    let out = std::process::Command::new(tessera_bin())
        .args([
            "unlock",
            &agent.addr().to_string(),
            "--secret-stdin",
            "--identity",
        ])
        .arg(&stranger)
        .args(["--host-key", &host.host_pub])
        .env("XDG_CONFIG_HOME", host.dir.join("xdg"))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::fs::File::open(write_secrets(&host)).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not authorized"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        2,
        "one info line and one error line: {stderr}"
    );
    assert_eq!(agent.count_log("unlocked"), 0, "{}", agent.log_text());
}

fn write_secrets(host: &Host) -> std::path::PathBuf {
    let p = host.dir.join("secrets");
    std::fs::write(&p, format!("{PASS_A}\n{PASS_B}\n")).unwrap();
    p
}

#[test]
fn host_key_mismatch_is_refused_before_any_secret() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent = host.start();
    let other = host_key(&host.dir.join("other_key"));
    let out = std::process::Command::new(tessera_bin())
        .args([
            "unlock",
            &agent.addr().to_string(),
            "--secret-stdin",
            "--identity",
        ])
        .arg(&host.admin)
        .args(["--host-key", &other])
        .env("XDG_CONFIG_HOME", host.dir.join("xdg"))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::fs::File::open(write_secrets(&host)).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(agent.count_log("verified"), 0);
}

#[test]
fn unreachable_agent_has_its_own_exit_code() {
    let host = Host::new("web1", "");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = host.tessera(
        &["unlock", &port.to_string(), "--secret-stdin", "--wait", "2"],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("waiting for"),
        "progress while waiting: {stderr}"
    );
    let usage = host.tessera(&["unlock"], "");
    assert_eq!(usage.status.code(), Some(2), "{}", text(&usage));
}

#[test]
fn token_from_an_earlier_boot_is_refused_as_stale() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let seed = seed_of(&host.admin);
    let old_token = {
        let agent = host.start();
        let mut raw = Raw::start(agent.addr(), None).unwrap();
        raw.token(&seed, &[("vol_a", PASS_A), ("vol_b", PASS_B)])
        // The first agent dies here without seeing the token.
    };
    let agent = host.start();
    let mut raw = Raw::start(agent.addr(), None).unwrap();
    raw.send(&old_token).unwrap();
    let r = raw.result(SECS).expect("a signed refusal");
    assert_eq!(refusal(&r), Some(Refusal::StaleBoot));
    assert_eq!(agent.count_log("unlocked"), 0, "{}", agent.log_text());
}

#[test]
fn token_for_another_host_is_refused() {
    let web1 = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent1 = web1.start();
    // Same keys, different host id: only the host id tells them apart.
    let web2_conf = web1.dir.join("web2.conf");
    let text = std::fs::read_to_string(&web1.config)
        .unwrap()
        .replace("host-id web1", "host-id web2");
    std::fs::write(&web2_conf, text.replace("/run\n", "/run2\n")).unwrap();
    let agent2 = Agent::start(&web2_conf, &[]);
    let seed = seed_of(&web1.admin);
    let mut raw1 = Raw::start(agent1.addr(), None).unwrap();
    let token_for_web1 = raw1.token(&seed, &[("vol_a", PASS_A)]);
    let mut raw2 = Raw::start(agent2.addr(), None).unwrap();
    raw2.send(&token_for_web1).unwrap();
    let r = raw2.result(SECS).expect("a signed refusal");
    assert_eq!(refusal(&r), Some(Refusal::WrongHost));
    assert_eq!(agent2.count_log("unlocked"), 0);
}

#[test]
fn token_replayed_on_a_second_connection_is_refused() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent = host.start();
    let seed = seed_of(&host.admin);
    let mut first = Raw::start(agent.addr(), None).unwrap();
    let token = first.token(&seed, &[("vol_a", "wrong on purpose")]);
    first.send(&token).unwrap();
    let r = first.result(SECS).unwrap();
    assert!(matches!(&r.verdict, Verdict::Outcomes(v) if v[0].outcome == Outcome::WrongSecret));
    let mut again = Raw::start(agent.addr(), None).unwrap();
    again.send(&token).unwrap();
    let r = again.result(SECS).expect("a signed refusal");
    assert!(refusal(&r).is_some(), "{r:?}");
}

/// Source addresses for many peers: 127.A.B.C, never 127.0.0.1.
fn peer(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        10 + (i / 62500) as u8,
        ((i / 250) % 250) as u8,
        (i % 250 + 1) as u8,
    ))
}

/// Sends a token for a fresh challenge, damaged by `damage`; returns the agent's refusal
/// (`None` when it dropped the frame and closed, or said nothing for `wait`).
fn damaged_token(
    addr: SocketAddr,
    src: IpAddr,
    seed: &[u8; 32],
    wait: Duration,
    damage: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> Option<Refusal> {
    let mut raw = Raw::start(addr, Some(src)).unwrap();
    // Correct secrets: if a damaged token were accepted, a volume would open.
    let token = raw.token(seed, &[("vol_a", PASS_A), ("vol_b", PASS_B)]);
    raw.send(&damage(token)).unwrap();
    let r = raw.result(wait)?;
    Some(refusal(&r).unwrap_or_else(|| panic!("damaged token accepted: {r:?}")))
}

#[test]
fn every_single_bit_flip_of_an_unlock_message_is_refused_with_a_reason() {
    // An attacker re-frames the flipped message (good COBS and CRC): the signature must catch it.
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let addr = agent.addr();
    let seed = seed_of(&host.admin);
    let bits = {
        let mut raw = Raw::start(addr, Some(peer(0))).unwrap();
        payload_of(&raw.token(&seed, &[("vol_a", PASS_A), ("vol_b", PASS_B)])).len() * 8
    };
    let mut reasons = std::collections::BTreeMap::new();
    for bit in 0..bits {
        // A flipped message kind may leave the connection waiting for a token (no answer until
        // the idle limit): a short wait there. Every other flip is answered, however loaded the
        // machine: wait as long as it takes.
        let wait = if bit < 8 {
            Duration::from_millis(1500)
        } else {
            SECS
        };
        let reason = damaged_token(addr, peer(bit + 1), &seed, wait, |t| {
            let mut p = payload_of(&t);
            p[bit / 8] ^= 1 << (bit % 8);
            frame_of(&p)
        });
        // Only the message-kind byte can turn a token into something that gets no result (a
        // hello gets a challenge; the agent's own message kinds are ignored).
        let reason = match reason {
            Some(r) => format!("{r:?}"),
            None if bit < 8 => "not a token any more".to_string(),
            None => panic!("bit {bit}: no answer"),
        };
        *reasons.entry(reason).or_insert(0) += 1;
    }
    eprintln!("{bits} flipped bits: {reasons:?}");
    assert!(reasons.contains_key("BadSignature"), "{reasons:?}");
    assert_eq!(agent.count_log("unlocked"), 0, "{}", agent.log_text());
    let out = both(&host, addr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn every_single_bit_flip_of_an_unlock_frame_is_dropped_or_refused() {
    // Line noise: the frame bytes as sent, one bit flipped (the CRC or the framing catches it).
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let addr = agent.addr();
    let seed = seed_of(&host.admin);
    let bytes = Raw::start(addr, Some(peer(0)))
        .unwrap()
        .token(&seed, &[("vol_a", PASS_A), ("vol_b", PASS_B)])
        .len();
    let (mut refused, mut dropped) = (0, 0);
    for bit in 0..bytes * 8 {
        // Dropped or refused both pass; a frame left open waits for the idle limit, hence the
        // short wait.
        let reason = damaged_token(
            addr,
            peer(bit + 1),
            &seed,
            Duration::from_millis(1500),
            |mut t| {
                t[bit / 8] ^= 1 << (bit % 8);
                t
            },
        );
        match reason {
            Some(_) => refused += 1,
            None => dropped += 1,
        }
    }
    eprintln!(
        "{} flipped bits: {dropped} dropped, {refused} refused",
        bytes * 8
    );
    assert_eq!(refused + dropped, bytes * 8);
    assert_eq!(agent.count_log("unlocked"), 0, "{}", agent.log_text());
    assert!(agent.is_running());
    let out = both(&host, addr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn truncated_and_oversize_frames_are_dropped() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let addr = agent.addr();
    let seed = seed_of(&host.admin);
    // Truncated: every proper prefix of a valid token, then the connection closes.
    let len = Raw::start(addr, Some(peer(1)))
        .unwrap()
        .token(&seed, &[("vol_a", PASS_A)])
        .len();
    for cut in (1..len).step_by(7) {
        let mut raw = Raw::start(addr, Some(peer(cut + 1))).unwrap();
        let token = raw.token(&seed, &[("vol_a", PASS_A)]);
        raw.send(&token[..cut]).unwrap();
        raw.stream.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(raw.result(Duration::from_secs(3)).is_none(), "cut {cut}");
    }
    // Oversize: a frame start followed by more than the 2 KiB limit, with and without an end.
    for end in [false, true] {
        let mut raw = Raw::start(addr, Some(peer(9000))).unwrap();
        let mut big = vec![0x00, 0xFE];
        big.extend(std::iter::repeat_n(0x41u8, 5000));
        if end {
            big.push(0);
        }
        let _ = raw.send(&big);
        assert!(raw.result(Duration::from_secs(3)).is_none());
    }
    assert_eq!(agent.count_log("unlocked"), 0);
    assert!(agent.is_running());
    let out = both(&host, addr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_thousand_garbage_connections_do_not_stop_a_real_unlock() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let addr = agent.addr();
    let garbage: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                for i in 0..250usize {
                    let Ok(mut s) = connect_from(addr, Some(peer(t as usize * 250 + i))) else {
                        continue;
                    };
                    let mut junk = vec![0u8; 64 + (i * 37) % 3000];
                    for b in junk.iter_mut() {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        *b = x as u8;
                    }
                    if i % 3 == 0 {
                        junk[0] = 0;
                        junk[1] = 0xFE;
                    }
                    use std::io::Write;
                    let _ = s.write_all(&junk);
                }
            })
        })
        .collect();
    let out = host.tessera(
        &[
            "unlock",
            &addr.to_string(),
            "--secret-stdin",
            "--wait",
            "60",
        ],
        &format!("{PASS_A}\n{PASS_B}\n"),
    );
    for g in garbage {
        g.join().unwrap();
    }
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        agent.wait_exit(SECS).unwrap().success(),
        "{}",
        agent.log_text()
    );
}

#[test]
fn bad_signatures_rate_limit_that_peer_only() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let agent = host.start();
    let addr = agent.addr();
    let seed = seed_of(&host.admin);
    let attacker = Some(IpAddr::V4(Ipv4Addr::new(127, 3, 0, 1)));
    for _ in 0..3 {
        let mut raw = Raw::start(addr, attacker).unwrap();
        // A bit of the signature (the message's last 64 bytes), re-framed with a good CRC.
        let mut p = payload_of(&raw.token(&seed, &[("vol_a", PASS_A)]));
        let n = p.len();
        p[n - 10] ^= 0x01;
        raw.send(&frame_of(&p)).unwrap();
        let r = raw.result(SECS).expect("a signed refusal");
        assert_eq!(refusal(&r), Some(Refusal::BadSignature));
    }
    // Locked out: closed without a challenge, even with a good token ready.
    let locked = Raw::start(addr, attacker);
    assert!(locked.is_err(), "the attacker still gets challenges");
    assert!(agent.wait_log("rate limited", SECS).is_some());
    // Another peer is served as usual.
    let mut other = Raw::start(addr, Some(IpAddr::V4(Ipv4Addr::new(127, 3, 0, 2)))).unwrap();
    let token = other.token(&seed, &[("vol_a", PASS_A)]);
    other.send(&token).unwrap();
    let r = other.result(SECS).unwrap();
    assert!(
        matches!(&r.verdict, Verdict::Outcomes(v) if v[0].outcome == Outcome::Unlocked),
        "{r:?}"
    );
}

#[test]
fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let mut agent = host.start();
    let addr = agent.addr();
    // The agent's clock starts after it sent the challenge, so between these two instants: the
    // bounds below hold however late this thread gets to run on a loaded machine.
    let before_connect = std::time::Instant::now();
    // A source address no other test uses.
    let mut raw = Raw::start(addr, Some(IpAddr::V4(Ipv4Addr::new(127, 99, 0, 1)))).unwrap();
    let after_challenge = std::time::Instant::now();
    // Say nothing: the agent must hang up by itself (10 s idle limit), not keep the slot forever.
    assert!(raw.result(Duration::from_secs(40)).is_none());
    let (since_connect, since_challenge) = (before_connect.elapsed(), after_challenge.elapsed());
    let running = agent.is_running();
    // Not before the idle limit, and well before the 30 s total limit: the idle limit closed it.
    assert!(
        since_connect >= Duration::from_secs(10) && since_challenge < Duration::from_secs(25),
        "{since_connect:?} {since_challenge:?} agent running: {running}\n{}",
        agent.log_text()
    );
    assert!(
        agent
            .wait_log("closed after 10s without a token", SECS)
            .is_some(),
        "{}",
        agent.log_text()
    );
}

#[test]
fn a_volume_opened_by_someone_else_is_not_waiting() {
    // /dev/mapper/control exists wherever device-mapper does: a `cryptsetup` volume of that name
    // counts as unlocked.
    if !std::path::Path::new("/dev/mapper/control").exists() {
        eprintln!("no /dev/mapper/control here; skipping");
        return;
    }
    let host = Host::new(
        "web1",
        "listen 127.0.0.1:0\nvolume control /dev/null cryptsetup\n",
    );
    let mut agent = host.start();
    let addr = agent.addr().to_string();
    let out = host.tessera(&["status", &addr, "--json"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["volumes"][2]["name"], "control");
    assert_eq!(v["volumes"][2]["state"], "unlocked", "{v}");
    assert!(agent
        .wait_log("control: unlocked by someone else", SECS)
        .is_some());
    // A token for it gets "not waiting"; the others open and the agent is done.
    let seed = seed_of(&host.admin);
    let mut raw = Raw::start(agent.addr(), None).unwrap();
    let token = raw.token(&seed, &[("control", "x"), ("vol_a", PASS_A)]);
    raw.send(&token).unwrap();
    let r = raw.result(SECS).unwrap();
    let Verdict::Outcomes(lines) = &r.verdict else {
        panic!("{r:?}")
    };
    assert_eq!(lines[0].outcome, Outcome::NotWaiting);
    assert_eq!(lines[1].outcome, Outcome::Unlocked);
    let out = host.tessera(&["unlock", &addr, "--secret-stdin"], &format!("{PASS_B}\n"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn wait_keeps_trying_until_the_agent_comes_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = Host::new("web1", &format!("listen 127.0.0.1:{port}\n"));
    let config = host.config.clone();
    // The server is still booting: its agent starts two seconds after the admin runs tessera.
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        Agent::start(&config, &[])
    });
    let out = host.tessera(
        &[
            "unlock",
            &format!("127.0.0.1:{port}"),
            "--secret-stdin",
            "--wait",
            "30",
        ],
        &format!("{PASS_A}\n{PASS_B}\n"),
    );
    let mut agent = late.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waiting for 127.0.0.1"),
        "{}",
        text(&out)
    );
    assert!(agent.wait_exit(SECS).unwrap().success());
}
