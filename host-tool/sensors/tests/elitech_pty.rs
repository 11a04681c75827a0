//! The Elitech reader against a simulated RC-4 / RC-4HC logger on a real pty. The simulator speaks
//! the documented serial protocol (civic/elitech-datareader's notes: wake, device info, data
//! header, data pages; sum-mod-256 checksums; big-endian fields) and can misbehave on request.

use argh::FromArgs;
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;
use tessera_sensors::elitech::{checksum, read_latest, DEVINFO, DEVINFO_LEN, WAKE, WAKE_REPLY};
use tessera_sensors::SensorError;

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    BadChecksum,
    SilentAfterWake,
    HangUpInPage,
}

#[derive(Clone, Copy)]
struct Logger {
    model: u8,
    count: u16,
    fault: Fault,
}

const START: [u8; 7] = [0x07, 0xEA, 11, 29, 12, 0, 0]; // 2026-11-29 12:00:00
const INTERVAL: u32 = 10;

fn datetime(secs_after_start: u32) -> [u8; 7] {
    let t = 12 * 3600 + secs_after_start;
    [
        0x07,
        0xEA,
        11,
        29,
        (t / 3600) as u8,
        (t / 60 % 60) as u8,
        (t % 60) as u8,
    ]
}

/// The value stored at index i: temperatures rise 0.1 °C per record from 15.0 °C; RC-4HC
/// interleaves humidity (40.0 %).
fn value(model: u8, i: usize) -> i16 {
    if model == 42 {
        if i % 2 == 1 {
            400
        } else {
            150 + (i / 2) as i16
        }
    } else {
        150 + i as i16
    }
}

fn frame(mut body: Vec<u8>) -> Vec<u8> {
    body.insert(0, 0x55);
    body.push(checksum(&body));
    body
}

fn devinfo(l: &Logger) -> Vec<u8> {
    let mut b = vec![0u8; DEVINFO_LEN - 2];
    // Offsets in the reply (after the 0x55 start byte): station 1, model 3, interval 5..8,
    // work status 19, start 20..27, count 29..31, clock 31..38, device number 138..148.
    let at = |o: usize| o - 1;
    b[at(1)] = 1;
    b[at(3)] = l.model;
    b[at(7)] = INTERVAL as u8;
    b[at(19)] = 1;
    b[at(20)..at(27)].copy_from_slice(&START);
    b[at(29)..at(31)].copy_from_slice(&l.count.to_be_bytes());
    let last = INTERVAL * u32::from(l.count.saturating_sub(1));
    b[at(31)..at(38)].copy_from_slice(&datetime(last + 25));
    b[at(138)..at(148)].copy_from_slice(b"EL12345678");
    let mut f = frame(b);
    if l.fault == Fault::BadChecksum {
        let n = f.len();
        f[n - 1] ^= 0xFF;
    }
    f
}

fn read_n(fd: &OwnedFd, n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match rustix::io::read(fd, &mut buf[got..]) {
            Ok(0) | Err(_) => return None,
            Ok(k) => got += k,
        }
    }
    Some(buf)
}

/// Starts a simulated logger; returns the slave path the reader opens.
fn simulate(l: Logger) -> PathBuf {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let path = PathBuf::from(ptsname(&master, Vec::new()).unwrap().into_string().unwrap());
    std::thread::spawn(move || {
        let per_page = match l.model {
            50 => 500,
            42 => 200,
            _ => 100,
        };
        let per_record = if l.model == 42 { 2 } else { 1 };
        while let Some(req) = read_n(&master, 5) {
            assert_eq!(
                checksum(&req[..4]),
                req[4],
                "reader sent a bad checksum: {req:02x?}"
            );
            let reply = if req == WAKE {
                WAKE_REPLY.to_vec()
            } else if req == DEVINFO {
                if l.fault == Fault::SilentAfterWake {
                    continue;
                }
                devinfo(&l)
            } else if req[0] == 0x33 && req[2] == 0x01 {
                let mut b = l.count.to_be_bytes().to_vec();
                b.extend_from_slice(&START);
                frame(b)
            } else if req[0] == 0x33 && req[2] == 0x02 {
                let total = usize::from(l.count) * per_record;
                let from = usize::from(req[3]) * per_page;
                let to = total.min(from + per_page);
                let body: Vec<u8> = (from..to)
                    .flat_map(|i| value(l.model, i).to_be_bytes())
                    .collect();
                let f = frame(body);
                if l.fault == Fault::HangUpInPage {
                    let _ = rustix::io::write(&master, &f[..f.len() / 2]);
                    std::thread::sleep(Duration::from_millis(100));
                    return; // closing the master is the unplug
                }
                f
            } else {
                panic!("unexpected request {req:02x?}");
            };
            rustix::io::write(&master, &reply).unwrap();
        }
    });
    path
}

const T: Duration = Duration::from_secs(2);

#[test]
fn rc4_newest_record_and_its_age() {
    let port = simulate(Logger {
        model: 40,
        count: 150,
        fault: Fault::None,
    });
    let t = read_latest(&port, T).unwrap();
    // Record 149 (0-based) is on page 1: 15.0 + 14.9 = 29.9 °C, taken 25 s before the logger's clock.
    assert_eq!(t.celsius, 29.9);
    assert_eq!(t.age_seconds, Some(25.0));
    assert_eq!(t.label.as_deref(), Some("RC-4 EL12345678"));
}

#[test]
fn rc4hc_takes_the_temperature_of_the_last_pair() {
    let port = simulate(Logger {
        model: 42,
        count: 150,
        fault: Fault::None,
    });
    let t = read_latest(&port, T).unwrap();
    assert_eq!(t.celsius, 29.9);
    assert_eq!(t.label.as_deref(), Some("RC-4HC EL12345678"));
}

#[test]
fn empty_logger_says_to_start_logging() {
    let port = simulate(Logger {
        model: 50,
        count: 0,
        fault: Fault::None,
    });
    let e = read_latest(&port, T).unwrap_err();
    assert!(matches!(e, SensorError::NoData { .. }), "{e:?}");
    assert!(e.to_string().contains("start logging"), "{e}");
}

#[test]
fn garbled_device_info_is_named() {
    let port = simulate(Logger {
        model: 40,
        count: 10,
        fault: Fault::BadChecksum,
    });
    let e = read_latest(&port, T).unwrap_err();
    let line = e.to_string();
    assert!(
        line.starts_with(&format!(
            "{}: garbled reply: device info: checksum",
            port.display()
        )),
        "{line}"
    );
    assert!(line.contains("baud"), "{line}");
}

#[test]
fn silent_device_times_out() {
    let port = simulate(Logger {
        model: 40,
        count: 10,
        fault: Fault::SilentAfterWake,
    });
    let start = std::time::Instant::now();
    let e = read_latest(&port, Duration::from_millis(500)).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(&e, SensorError::Timeout { what, .. } if what.contains("160-byte")),
        "{e:?}"
    );
}

#[test]
fn unplugged_in_the_middle_of_a_page() {
    let port = simulate(Logger {
        model: 40,
        count: 150,
        fault: Fault::HangUpInPage,
    });
    let e = read_latest(&port, T).unwrap_err();
    assert_eq!(
        e,
        SensorError::Unplugged {
            device: port.display().to_string()
        }
    );
}

#[test]
fn not_a_tty_is_refused() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let e = read_latest(f.path(), T).unwrap_err();
    assert!(matches!(e, SensorError::WrongDevice { .. }), "{e:?}");
}

#[test]
fn cli_prometheus_with_age() {
    let port = simulate(Logger {
        model: 40,
        count: 150,
        fault: Fault::None,
    });
    let p = port.display().to_string();
    let cmd = tessera_sensors::cli::SensorsCmd::from_args(
        &["tessera", "sensors"],
        &["--elitech", &p, "--no-scan", "--prometheus"],
    )
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        cmd.run_with(&mut out, &mut err),
        0,
        "{}",
        String::from_utf8_lossy(&err)
    );
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(&format!("tessera_temperature_celsius{{sensor=\"{p}\",kind=\"elitech\",probe=\"logged\"}} 29.9\n")), "{out}");
    assert!(out.contains(&format!("tessera_temperature_age_seconds{{sensor=\"{p}\",kind=\"elitech\",probe=\"logged\"}} 25\n")), "{out}");
}
