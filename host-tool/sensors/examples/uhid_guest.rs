//! Runs as PID 1 inside a qemu guest (tessera-e2e's tests/tests/uhid_boot.rs builds it statically
//! and boots it): loads
//! hid, hid-generic and uhid, creates a virtual Eaton UPS (0463:ffff) on /dev/uhid with the
//! Eaton/MGE-layout descriptor, answers the kernel's GET_REPORT requests, and reads it back through
//! the library's real hidraw path (sysfs discovery, HIDIOCGRDESC, HIDIOCGFEATURE); a virtual
//! TEMPer stick (413d:2107) answers commands written to hidraw with input reports. Prints
//! `TESSERA-UHID-*` lines on the console, then powers off. Not useful outside that guest.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_sensors::hid::descriptor::{parse, Descriptor, ReportKind};
use tessera_sensors::hid::usage;

const EVENT: usize = 4380;
const DESTROY: u32 = 1;
const OUTPUT: u32 = 6;
const GET_REPORT: u32 = 9;
const GET_REPORT_REPLY: u32 = 10;
const CREATE2: u32 = 11;
const SET_REPORT: u32 = 13;
const SET_REPORT_REPLY: u32 = 14;
const INPUT2: u32 = 12;

/// A TEMPer stick's vendor interface: 8-byte input and output reports, no report IDs.
const TEMPER_RD: [u8; 25] = [
    0x06, 0x00, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x01, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08,
    0x95, 0x08, 0x81, 0x02, 0x09, 0x01, 0x91, 0x02, 0xC0,
];

/// Writes UHID_CREATE2 for a USB device and returns the open /dev/uhid handle.
fn create(name: &[u8], uniq: &[u8], vendor: u32, product: u32, rd: &[u8]) -> File {
    let mut uhid = File::options()
        .read(true)
        .write(true)
        .open("/dev/uhid")
        .unwrap();
    let mut ev = vec![0u8; EVENT];
    ev[0..4].copy_from_slice(&CREATE2.to_ne_bytes());
    let p = 4;
    ev[p..p + name.len()].copy_from_slice(name);
    ev[p + 192..p + 192 + uniq.len()].copy_from_slice(uniq);
    ev[p + 256..p + 258].copy_from_slice(&(rd.len() as u16).to_ne_bytes());
    ev[p + 258..p + 260].copy_from_slice(&3u16.to_ne_bytes()); // BUS_USB
    ev[p + 260..p + 264].copy_from_slice(&vendor.to_ne_bytes());
    ev[p + 264..p + 268].copy_from_slice(&product.to_ne_bytes());
    ev[p + 276..p + 276 + rd.len()].copy_from_slice(rd);
    uhid.write_all(&ev).unwrap();
    uhid
}

/// Answers a TEMPerX_V3.2's two commands with the replies quoted in TEMPered issue #51.
fn serve_temper(mut dev: File) {
    let input = |dev: &mut File, data: &[u8]| {
        let mut ev = vec![0u8; EVENT];
        ev[0..4].copy_from_slice(&INPUT2.to_ne_bytes());
        ev[4..6].copy_from_slice(&(data.len() as u16).to_ne_bytes());
        ev[6..6 + data.len()].copy_from_slice(data);
        let _ = dev.write_all(&ev);
    };
    let mut ev = vec![0u8; EVENT];
    while let Ok(n) = dev.read(&mut ev) {
        if n < 4 {
            break;
        }
        if u32::from_ne_bytes(ev[0..4].try_into().unwrap()) != OUTPUT {
            continue;
        }
        match &ev[4..7] {
            [0x01, 0x86, 0xFF] => {
                input(&mut dev, b"TEMPerX_");
                input(&mut dev, b"V3.2\0\0\0\0");
            }
            [0x01, 0x80, 0x33] => {
                input(&mut dev, &[0x80, 0x80, 0x09, 0x98, 0x4e, 0x20, 0, 0]);
                input(&mut dev, &[0x80, 0x01, 0x07, 0xc9, 0x4e, 0x20, 0, 0]);
            }
            other => println!("TESSERA-UHID-LOG unexpected TEMPer command {other:02x?}"),
        }
    }
}

fn hex(text: &str) -> Vec<u8> {
    text.lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| {
            l.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Report bytes (ID first) with the named Feature fields set to raw values.
fn report(d: &Descriptor, id: u8, values: &[(&str, u32)]) -> Vec<u8> {
    let mut buf = vec![0u8; d.report_len(ReportKind::Feature, id).unwrap()];
    buf[0] = id;
    for (path, v) in values {
        let f = d
            .fields
            .iter()
            .find(|f| f.kind == ReportKind::Feature && usage::path(&f.path) == *path)
            .unwrap_or_else(|| panic!("{path}"));
        for i in 0..f.bit_size {
            if v >> i & 1 == 1 {
                let bit = 8 + f.bit_offset + i;
                buf[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
    }
    buf
}

fn setup() {
    use rustix::mount::{mount, MountFlags};
    for (src, dir, fs) in [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
    ] {
        let _ = std::fs::create_dir_all(dir);
        if let Err(e) = mount(src, dir, fs, MountFlags::empty(), None) {
            println!("TESSERA-UHID-LOG mount {dir}: {e}");
        }
    }
    for m in ["hid", "hid-generic", "uhid"] {
        let path = format!("/modules/{m}.ko");
        match File::open(&path) {
            Ok(f) => {
                if let Err(e) = rustix::system::finit_module(&f, c"", 0) {
                    println!("TESSERA-UHID-LOG insmod {m}: {e}");
                }
            }
            Err(e) => println!("TESSERA-UHID-LOG {path}: {e}"),
        }
    }
}

fn wait_for(path: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if std::path::Path::new(path).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn main() {
    setup();
    let d = parse(&hex(include_str!(
        "../tests/fixtures/hid/eaton-mge-layout.hex"
    )))
    .unwrap();
    let mut reports: HashMap<u8, Vec<u8>> = HashMap::new();
    reports.insert(
        6,
        report(
            &d,
            6,
            &[
                ("UPS.PowerSummary.RemainingCapacity", 100),
                ("UPS.PowerSummary.RunTimeToEmpty", 1440),
            ],
        ),
    );
    reports.insert(
        7,
        report(&d, 7, &[("UPS.PowerSummary.RemainingCapacityLimit", 20)]),
    );
    reports.insert(8, report(&d, 8, &[("UPS.PowerSummary.Voltage", 258)]));
    reports.insert(9, report(&d, 9, &[("UPS.PowerSummary.PercentLoad", 20)]));
    reports.insert(
        0x0A,
        report(&d, 0x0A, &[("UPS.PowerSummary.AudibleAlarmControl", 2)]),
    );
    reports.insert(
        2,
        report(&d, 2, &[("UPS.PowerSummary.PresentStatus.ACPresent", 1)]),
    );
    // Report 0x0B (input voltage) is refused with an error, like a 3S that has none.
    reports.insert(
        0x0C,
        report(&d, 0x0C, &[("UPS.PowerConverter.Output.Voltage", 2300)]),
    );
    reports.insert(
        0x0D,
        report(
            &d,
            0x0D,
            &[
                ("UPS.Flow.[4].ConfigVoltage", 230),
                ("UPS.Flow.[4].ConfigApparentPower", 850),
                ("UPS.Flow.[4].ConfigActivePower", 510),
            ],
        ),
    );

    if !wait_for("/dev/uhid") {
        println!("TESSERA-UHID-LOG no /dev/uhid");
        return poweroff();
    }
    let rd = hex(include_str!("../tests/fixtures/hid/eaton-mge-layout.hex"));
    // uniq "000000000": the 3S's useless serial.
    let uhid = create(b"EATON Eaton 3S", b"000000000", 0x0463, 0xffff, &rd);

    let requests = Arc::new(AtomicUsize::new(0));
    // Answer this many more GET_REPORTs, then destroy the device instead of answering (0 = never).
    let destroy_after = Arc::new(AtomicUsize::new(0));
    let (r2, d2) = (requests.clone(), destroy_after.clone());
    let mut dev = uhid.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut ev = vec![0u8; EVENT];
        while let Ok(n) = dev.read(&mut ev) {
            if n < 4 {
                break;
            }
            let kind = u32::from_ne_bytes(ev[0..4].try_into().unwrap());
            let id = &ev[4..8].to_vec();
            let mut out = vec![0u8; EVENT];
            if kind == GET_REPORT {
                let (rnum, rtype) = (ev[8], ev[9]);
                r2.fetch_add(1, Ordering::SeqCst);
                let left = d2.load(Ordering::SeqCst);
                if left > 1 {
                    d2.store(left - 1, Ordering::SeqCst);
                } else if left == 1 {
                    // Unplug in the middle of a read: destroy instead of answering.
                    out[0..4].copy_from_slice(&DESTROY.to_ne_bytes());
                    let _ = dev.write_all(&out);
                    break;
                }
                out[0..4].copy_from_slice(&GET_REPORT_REPLY.to_ne_bytes());
                out[4..8].copy_from_slice(id);
                match reports.get(&rnum).filter(|_| rtype == 0) {
                    Some(data) => {
                        out[10..12].copy_from_slice(&(data.len() as u16).to_ne_bytes());
                        out[12..12 + data.len()].copy_from_slice(data);
                    }
                    None => out[8..10].copy_from_slice(&5u16.to_ne_bytes()), // EIO
                }
                let _ = dev.write_all(&out);
            } else if kind == SET_REPORT {
                out[0..4].copy_from_slice(&SET_REPORT_REPLY.to_ne_bytes());
                out[4..8].copy_from_slice(id);
                out[8..10].copy_from_slice(&5u16.to_ne_bytes());
                let _ = dev.write_all(&out);
                println!(
                    "TESSERA-UHID-LOG unexpected SET_REPORT: the reader must never write to a UPS"
                );
            }
        }
    });

    if !wait_for("/sys/class/hidraw/hidraw0") || !wait_for("/dev/hidraw0") {
        println!("TESSERA-UHID-LOG no hidraw0");
        return poweroff();
    }
    // The TEMPer second, so it is hidraw1.
    let temper = create(b"PCsensor TEMPerX", b"", 0x413d, 0x2107, &TEMPER_RD);
    let t2 = temper.try_clone().unwrap();
    std::thread::spawn(move || serve_temper(t2));
    if !wait_for("/sys/class/hidraw/hidraw1") || !wait_for("/dev/hidraw1") {
        println!("TESSERA-UHID-LOG no hidraw1");
        return poweroff();
    }
    let cfg = tessera_sensors::Config {
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let results = tessera_sensors::collect(&cfg);
    println!(
        "TESSERA-UHID-READ {}",
        serde_json::to_string(&results).unwrap()
    );
    println!("TESSERA-UHID-REQUESTS {}", requests.load(Ordering::SeqCst));
    let text = tessera_sensors::prometheus::Exposition::of(&results).render(false);
    for line in text
        .lines()
        .filter(|l| l.starts_with("network_ups_tools_battery_charge"))
    {
        println!("TESSERA-UHID-PROM {line}");
    }

    // As an unprivileged user, /dev/hidraw0 (root, 0600) cannot be opened: one line with the fix.
    let denied = std::thread::spawn(|| {
        rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(65534)).unwrap();
        tessera_sensors::hid::read_ups(std::path::Path::new("/dev/hidraw0"))
    })
    .join()
    .unwrap();
    println!(
        "TESSERA-UHID-DENIED {}",
        serde_json::to_string(&denied).unwrap()
    );
    if let tessera_sensors::Reading::Error(e) = &denied.reading {
        println!("TESSERA-UHID-DENIED-LINE {e}");
    }

    // Unplugged after three answered reports: a read that got some values must still say so.
    destroy_after.store(4, Ordering::SeqCst);
    let r = tessera_sensors::hid::read_ups(std::path::Path::new("/dev/hidraw0"));
    println!("TESSERA-UHID-UNPLUG {}", serde_json::to_string(&r).unwrap());
    if let tessera_sensors::Reading::Error(e) = &r.reading {
        println!("TESSERA-UHID-UNPLUG-LINE {e}");
    }
    drop(uhid);
    drop(temper);
    poweroff();
}

fn poweroff() {
    let _ = std::io::stdout().flush();
    rustix::fs::sync();
    let _ = rustix::system::reboot(rustix::system::RebootCommand::PowerOff);
}
