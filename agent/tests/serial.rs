//! The serial console on real ptys: a person typing at the agent's prompt, the host tool unlocking
//! through a line full of console noise, and both at once on the same agent.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

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
    // Line noise that looks like the start of a frame, and then nothing.
    p.master.write_all(b"\x00\xfe\x03garbage").unwrap();
    assert!(
        agent.wait_log("frame start without an end", SECS).is_some(),
        "{}",
        agent.log_text()
    );
    type_slowly(&mut p, format!("{PASS_A}\r").as_bytes());
    assert!(
        p.read_until(&mut seen, "vol_a unlocked", SECS),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    type_slowly(&mut p, format!("{PASS_B}\r").as_bytes());
    assert!(agent.wait_exit(SECS).unwrap().success());
}
