//! The serial console on real ptys: a person typing at the agent's prompt, the host tool unlocking
//! through a line full of console noise, and both at once on the same agent.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::common::*;

const SECS: Duration = Duration::from_secs(10);

fn type_slowly(p: &mut Pty, s: &[u8]) {
    for chunk in s.chunks(3) {
        p.master.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_person_types_both_passphrases_at_the_serial_prompt() {
    let mut p = pty();
    let host = Host::new(
        "web1",
        &format!("listen off\nserial {} 115200\n", p.slave.display()),
    );
    let mut agent = host.start();
    let mut seen = Vec::new();
    assert!(
        p.read_until(&mut seen, "Please unlock disk vol_a: ", SECS),
        "{}",
        agent.log_text()
    );
    // A typo corrected with backspace, an arrow key, then Enter.
    let mut typed = PASS_A.as_bytes()[..PASS_A.len() - 2].to_vec();
    typed.extend_from_slice(b"XY\x7f\x7f\x1b[D");
    typed.extend_from_slice(&PASS_A.as_bytes()[PASS_A.len() - 2..]);
    typed.push(b'\r');
    type_slowly(&mut p, &typed);
    assert!(
        p.read_until(&mut seen, "vol_a unlocked", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert!(p.read_until(&mut seen, "Please unlock disk vol_b: ", SECS));
    type_slowly(&mut p, b"not it\r");
    assert!(
        p.read_until(&mut seen, "Wrong passphrase for vol_b", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    type_slowly(&mut p, format!("{PASS_B}\r\n").as_bytes());
    assert!(
        p.read_until(&mut seen, "vol_b unlocked", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert!(
        agent.wait_exit(SECS).expect("agent exits").success(),
        "{}",
        agent.log_text()
    );
    let screen = String::from_utf8_lossy(&seen);
    assert_eq!(
        screen.matches("Please unlock disk vol_b: ").count(),
        2,
        "asked again: {screen}"
    );
    // No echo: nothing typed shows on the console.
    assert!(
        !screen.contains("horse") && !screen.contains("Tr0ub") && !screen.contains("not it"),
        "{screen}"
    );
}

/// Kernel and boot chatter that shares the wire with the frames.
const NOISE: &[&[u8]] = &[
    b"[    2.718281] usb 1-1: new high-speed USB device number 2 using xhci_hcd\r\n",
    b"Begin: Running /scripts/local-top ... \x1b[32mdone\x1b[0m.\r\n",
    b"\xfe\xff binary junk \x01\x02\x03 with a stray marker \x00\xfe\x05\x05\x05\x00\r\n",
    b"[    3.141592] EXT4-fs (sda1): mounted filesystem with ordered data mode\r\n",
];

/// Relays bytes between the agent's pty and the tool's pty like a serial cable, adding console
/// noise towards the tool before, between and after the frames (never inside one), and a damaged
/// frame towards the agent before the tool's first frame.
fn cable(
    mut agent_side: Pty,
    mut tool_side: Pty,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        use tessera_core::frame::Decoder;
        let mut to_tool = Decoder::new();
        let mut noise_sent = 0usize;
        let mut junk_to_agent = true;
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let a = agent_side.master.as_fd();
            let b = tool_side.master.as_fd();
            let mut fds = [
                rustix::event::PollFd::new(&a, rustix::event::PollFlags::IN),
                rustix::event::PollFd::new(&b, rustix::event::PollFlags::IN),
            ];
            let ts = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            };
            let _ = rustix::event::poll(&mut fds, Some(&ts));
            let (ra, rb) = (fds[0].revents(), fds[1].revents());
            let mut buf = [0u8; 512];
            if ra.contains(rustix::event::PollFlags::IN) {
                if let Ok(k) = agent_side.master.read(&mut buf) {
                    let _ = tool_side.master.write_all(&buf[..k]);
                    let mut rest = &buf[..k];
                    while !rest.is_empty() {
                        let (used, _) = to_tool.decode(rest);
                        rest = &rest[used.max(1).min(rest.len())..];
                    }
                    if !to_tool.in_frame() {
                        let _ = tool_side.master.write_all(NOISE[noise_sent % NOISE.len()]);
                        noise_sent += 1;
                    }
                }
            } else if ra.contains(rustix::event::PollFlags::HUP) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if rb.contains(rustix::event::PollFlags::IN) {
                if let Ok(k) = tool_side.master.read(&mut buf) {
                    if junk_to_agent {
                        // A frame with a bad CRC, then Ctrl-U so no text stays on the prompt line.
                        let _ = agent_side
                            .master
                            .write_all(b"\x00\xfe\x07\x01\x02\x03\x04\x05\x06\x00\x15");
                        junk_to_agent = false;
                    }
                    let _ = agent_side.master.write_all(&buf[..k]);
                    n += k;
                }
            } else if rb.contains(rustix::event::PollFlags::HUP) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = noise_sent;
        n
    })
}

#[test]
fn the_host_tool_unlocks_over_a_noisy_serial_line() {
    let agent_side = pty();
    let tool_side = pty();
    let agent_tty = agent_side.slave.clone();
    let tool_tty = tool_side.slave.display().to_string();
    let host = Host::new(
        "web1",
        &format!("listen off\nserial {} 115200\n", agent_tty.display()),
    );
    let stop = Arc::new(AtomicBool::new(false));
    // Noise before anything: the relay starts forwarding the agent's prompt and boot chatter.
    let relay = cable(agent_side, tool_side, Arc::clone(&stop));
    let mut agent = host.start();
    assert!(agent.wait_log("waiting for", SECS).is_some());
    let out = host.tessera(
        &[
            "unlock",
            "--serial",
            &tool_tty,
            "--baud",
            "115200",
            "--secret-stdin",
        ],
        &format!("{PASS_A}\n{PASS_B}\n"),
    );
    let status = agent.wait_exit(SECS);
    stop.store(true, Ordering::Relaxed);
    let relayed = relay.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nagent: {}",
        text(&out),
        agent.log_text()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("vol_b: unlocked"));
    assert!(
        status.expect("agent exits").success(),
        "{}",
        agent.log_text()
    );
    assert!(
        agent.log_text().contains("frame with bad CRC dropped"),
        "{}",
        agent.log_text()
    );
    assert!(relayed > 0);
}

#[test]
fn console_and_network_share_the_work_and_the_console_is_told() {
    let mut p = pty();
    let host = Host::new(
        "web1",
        &format!("listen 127.0.0.1:0\nserial {} 115200\n", p.slave.display()),
    );
    let mut agent = host.start();
    let addr = agent.addr();
    let mut seen = Vec::new();
    assert!(p.read_until(&mut seen, "Please unlock disk vol_a: ", SECS));
    type_slowly(&mut p, format!("{PASS_A}\r").as_bytes());
    assert!(p.read_until(&mut seen, "Please unlock disk vol_b: ", SECS));
    // Half a line typed for vol_b when the network delivers its secret.
    type_slowly(&mut p, b"Tr0ub");
    let out = host.tessera(
        &["unlock", &addr.to_string(), "--secret-stdin"],
        &format!("{PASS_B}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("vol_b: unlocked") && !stdout.contains("vol_a"),
        "{stdout}"
    );
    assert!(
        p.read_until(&mut seen, "vol_b unlocked", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn a_frame_start_in_the_noise_does_not_swallow_the_typed_passphrase() {
    let mut p = pty();
    let host = Host::new(
        "web1",
        &format!("listen off\nserial {} 115200\n", p.slave.display()),
    );
    let mut agent = host.start();
    let mut seen = Vec::new();
    assert!(p.read_until(&mut seen, "Please unlock disk vol_a: ", SECS));
    // Line noise that looks like the start of a frame, and then nothing. The person starts typing
    // 2.5 s later: the agent drops the stray frame start after about a second of silence, so
    // every typed key reaches the prompt (a longer wait would swallow them into the frame).
    p.master.write_all(b"\x00\xfe\x03garbage").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    type_slowly(&mut p, format!("{PASS_A}\r").as_bytes());
    assert!(
        p.read_until(&mut seen, "vol_a unlocked", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert!(agent.wait_log("frame start without an end", SECS).is_some());
    assert_eq!(
        agent.count_log("frame start without an end"),
        1,
        "{}",
        agent.log_text()
    );
    type_slowly(&mut p, format!("{PASS_B}\r").as_bytes());
    assert!(agent.wait_exit(SECS).unwrap().success());
}

/// The test's own end of a serial line: the core's client over the agent's pty, for tokens and
/// timings the host tool would not produce.
struct Line {
    p: Pty,
    dec: tessera_core::frame::Decoder,
    /// Console text seen so far.
    text: Vec<u8>,
    /// Payloads of frames read but not yet taken.
    frames: std::collections::VecDeque<Vec<u8>>,
}

impl Line {
    fn new(p: Pty) -> Line {
        Line {
            p,
            dec: tessera_core::frame::Decoder::new(),
            text: Vec::new(),
            frames: Default::default(),
        }
    }

    /// Reads for at most `wait`, until a frame is queued or `text` shows up.
    fn pump(&mut self, wait: Duration, text: Option<&str>) {
        use tessera_core::frame::Decoded;
        let deadline = std::time::Instant::now() + wait;
        let fd = self.p.master.try_clone().unwrap();
        loop {
            if !self.frames.is_empty()
                || text.is_some_and(|t| String::from_utf8_lossy(&self.text).contains(t))
            {
                return;
            }
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                return;
            };
            let mut pfd = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let ts = rustix::time::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as i64,
            };
            if rustix::event::poll(&mut pfd, Some(&ts)).unwrap_or(0) == 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            let n = match (&self.p.master).read(&mut buf) {
                Ok(n) if n > 0 => n,
                _ => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let (used, what) = self.dec.decode(rest);
                match what {
                    Decoded::Text(t) => self.text.extend_from_slice(t),
                    Decoded::Frame(f) => self.frames.push_back(f.to_vec()),
                    _ => {}
                }
                rest = &rest[used.max(1).min(rest.len())..];
            }
        }
    }

    fn wait_text(&mut self, needle: &str, wait: Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        loop {
            // Frames that come meanwhile stay queued.
            let frames = std::mem::take(&mut self.frames);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            self.pump(left, Some(needle));
            let got = String::from_utf8_lossy(&self.text).contains(needle);
            let mut all = frames;
            all.extend(self.frames.drain(..));
            self.frames = all;
            if got || left.is_zero() {
                return got;
            }
        }
    }

    /// The next frame's message within `wait`.
    fn message(&mut self, wait: Duration) -> Option<(Vec<u8>, tessera_core::Message)> {
        self.pump(wait, None);
        let payload = self.frames.pop_front()?;
        let m = tessera_core::Message::decode(&payload).ok()?;
        Some((payload, m))
    }

    fn hello(&mut self) {
        let mut out = [0u8; 64];
        let n = tessera_core::Client::new(tessera_core::HostKeyCheck::FirstUse)
            .write_hello(&mut out)
            .unwrap();
        self.p.master.write_all(&out[..n]).unwrap();
    }

    /// Says hello and returns the challenge's payload.
    fn challenge(&mut self) -> Vec<u8> {
        self.hello();
        loop {
            match self.message(SECS) {
                Some((p, tessera_core::Message::Challenge(_))) => return p,
                Some(_) => continue,
                None => panic!(
                    "no challenge; console: {}",
                    String::from_utf8_lossy(&self.text)
                ),
            }
        }
    }

    fn result(&mut self, wait: Duration) -> Option<tessera_core::message::ResultBody> {
        loop {
            match self.message(wait)? {
                (_, tessera_core::Message::Result(r)) => return Some(r.body),
                _ => continue,
            }
        }
    }
}

/// A token frame answering the challenge `payload`, signed with `admin_seed`.
fn token_for(payload: &[u8], admin_seed: &[u8; 32], secrets: &[(&str, &str)]) -> Vec<u8> {
    let mut client = tessera_core::Client::new(tessera_core::HostKeyCheck::FirstUse);
    let frame = frame_of(payload);
    let (_, ev) = client.process(&frame);
    assert!(
        matches!(ev, tessera_core::ClientEvent::Challenge { .. }),
        "{ev:?}"
    );
    let admin = ed25519_public(admin_seed);
    let names: Vec<tessera_core::Name> = secrets
        .iter()
        .map(|(n, _)| tessera_core::Name::new(n).unwrap())
        .collect();
    let pairs: Vec<(&tessera_core::Name, &[u8])> = names
        .iter()
        .zip(secrets)
        .map(|(n, (_, s))| (n, s.as_bytes()))
        .collect();
    let req = client.prepare_unlock(&admin, &pairs, &[7u8; 32]).unwrap();
    let sig = tessera_core::openssh::sign(admin_seed, req.message);
    let mut out = vec![0u8; tessera_core::limits::MAX_FRAME];
    let n = client.write_unlock(&sig, &mut out).unwrap();
    out.truncate(n);
    out
}

fn unlocked(r: &tessera_core::message::ResultBody, name: &str) -> bool {
    match &r.verdict {
        tessera_core::message::Verdict::Outcomes(o) => o
            .iter()
            .any(|v| v.name.as_str() == name && v.outcome == tessera_core::Outcome::Unlocked),
        tessera_core::message::Verdict::Refused(_) => false,
    }
}

fn serial_host(p: &Pty) -> Host {
    Host::new(
        "web1",
        &format!("listen off\nserial {} 115200\n", p.slave.display()),
    )
}

#[test]
fn a_repeated_hello_gets_the_same_challenge_so_a_token_in_flight_still_counts() {
    let p = pty();
    let host = serial_host(&p);
    let mut agent = host.start();
    let mut line = Line::new(p);
    assert!(line.wait_text("Please unlock disk vol_a: ", SECS));
    let first = line.challenge();
    // The host tool repeats its hello every 2 s; the agent must not move the goalposts.
    let second = line.challenge();
    assert_eq!(
        first, second,
        "a hello without a state change made a new challenge"
    );
    let seed = seed_of(&host.admin);
    line.p
        .master
        .write_all(&token_for(
            &first,
            &seed,
            &[("vol_a", PASS_A), ("vol_b", PASS_B)],
        ))
        .unwrap();
    let r = line.result(SECS).expect("a result");
    assert!(
        unlocked(&r, "vol_a") && unlocked(&r, "vol_b"),
        "{r:?}\n{}",
        agent.log_text()
    );
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn a_token_for_the_challenge_before_a_volume_opened_is_taken_not_refused() {
    let p = pty();
    let host = serial_host(&p);
    let mut agent = host.start();
    let mut line = Line::new(p);
    assert!(line.wait_text("Please unlock disk vol_a: ", SECS));
    let first = line.challenge();
    let seed = seed_of(&host.admin);
    let token = token_for(&first, &seed, &[("vol_b", PASS_B)]);
    // While the admin's token is on its way, a person opens vol_a at the console and the tool's
    // repeated hello brings a new challenge (vol_a now listed as unlocked).
    line.p
        .master
        .write_all(format!("{PASS_A}\r").as_bytes())
        .unwrap();
    assert!(
        line.wait_text("Please unlock disk vol_b: ", SECS),
        "{}",
        String::from_utf8_lossy(&line.text)
    );
    let second = line.challenge();
    assert_ne!(first, second, "the challenge must list vol_a as unlocked");
    line.p.master.write_all(&token).unwrap();
    let r = line.result(SECS).expect("a result");
    assert!(unlocked(&r, "vol_b"), "{r:?}\n{}", agent.log_text());
    assert_eq!(agent.count_log("token refused"), 0, "{}", agent.log_text());
    assert!(agent.wait_exit(SECS).unwrap().success());
}

#[test]
fn a_token_lockout_never_holds_up_keys_typed_at_the_console() {
    let p = pty();
    let host = serial_host(&p);
    let mut agent = host.start();
    let mut line = Line::new(p);
    assert!(line.wait_text("Please unlock disk vol_a: ", SECS));
    let challenge = line.challenge();
    // An admin key the agent does not know: each token counts against the serial line.
    let stranger = token_for(&challenge, &[9u8; 32], &[("vol_b", "guess")]);
    for i in 1..=3 {
        line.p.master.write_all(&stranger).unwrap();
        let r = line
            .result(SECS)
            .unwrap_or_else(|| panic!("no result for token {i}"));
        assert_eq!(
            refusal(&r),
            Some(tessera_core::Refusal::UnknownAdmin),
            "{r:?}"
        );
    }
    let locked_at = std::time::Instant::now();
    // The serial line is now locked out for 5 s. Another token, and a person typing right after
    // it: the token is not looked at, the typed passphrase is tried at once.
    line.p.master.write_all(&stranger).unwrap();
    line.p
        .master
        .write_all(format!("{PASS_A}\r").as_bytes())
        .unwrap();
    assert!(
        // At once, not after the 10 s lockout that a fourth refusal would bring.
        line.wait_text("vol_a unlocked", Duration::from_secs(8)),
        "typed keys waited for the token lockout: {}\n{}",
        String::from_utf8_lossy(&line.text),
        agent.log_text()
    );
    // The token rate limit still holds: the fourth token got no answer and was not verified.
    assert!(line.result(Duration::from_millis(500)).is_none());
    assert!(agent
        .wait_log("frame ignored, rate limited", SECS)
        .is_some());
    assert_eq!(agent.count_log("frame ignored, rate limited"), 1);
    assert_eq!(agent.count_log("token refused"), 3, "{}", agent.log_text());
    // Once the 5 s lockout is over, the admin's tool is answered again.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(locked_at.elapsed()));
    let challenge = line.challenge();
    let seed = seed_of(&host.admin);
    line.p
        .master
        .write_all(&token_for(&challenge, &seed, &[("vol_b", PASS_B)]))
        .unwrap();
    let r = line.result(SECS).expect("a result after the lockout");
    assert!(unlocked(&r, "vol_b"), "{r:?}\n{}", agent.log_text());
    assert!(agent.wait_exit(SECS).unwrap().success());
}
