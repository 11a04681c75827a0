//! Side-by-side benchmark (run by benches/dropbear-compare.sh): the same LUKS2 root and the same
//! Debian initramfs, unlocked once by tessera (`tessera unlock` over TCP) and once the usual way
//! (dropbear-initramfs: `ssh root@host cryptroot-unlock` with a key). Prints the initramfs bytes each
//! adds to the stock image (gzip and uncompressed), the time from "the daemon answers and the prompt
//! is up" to the root's init running, the client/server round trips of the unlock connection
//! (counted in a qemu packet dump), and the daemon's peak RSS sampled inside the initramfs.
//! A number, not a test: nothing here passes or fails on speed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tessera_e2e::chroot::{Arch, Flavor};
use tessera_e2e::error::{Error, Result};
use tessera_e2e::host::run;
use tessera_e2e::scenario::{agent_conf, shared_keys, tessera_files, Scenario, PASSPHRASE};
use tessera_e2e::tools::{self, Target};
use tessera_e2e::{Machine, Nic, PROMPT};

/// Samples the summed VmRSS of the daemons every 0.3 s from init-premount on, and prints the peak
/// at local-bottom. Bench-only; never part of tessera's hook.
const RSS_PROBE: &str = r#"#!/bin/sh
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0;; esac
(
  while [ ! -e /run/bench-rss.stop ]; do
    for n in dropbear tessera-agent; do
      sum=0
      for p in $(pidof $n); do
        r=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$p/status 2>/dev/null)
        sum=$((sum + ${r:-0}))
      done
      max=$(cat /run/bench-rss.$n 2>/dev/null || echo 0)
      [ "$sum" -gt "$max" ] && echo $sum >/run/bench-rss.$n
    done
    sleep 0.3
  done
) </dev/null >/dev/null 2>&1 &
"#;
const RSS_REPORT: &str = r#"#!/bin/sh
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0;; esac
touch /run/bench-rss.stop
echo "BENCH-RSS dropbear=$(cat /run/bench-rss.dropbear 2>/dev/null || echo 0) tessera-agent=$(cat /run/bench-rss.tessera-agent 2>/dev/null || echo 0)" >/dev/console
rm -f /run/bench-rss.*
"#;

fn probe() -> Vec<(String, Vec<u8>, u32)> {
    vec![
        (
            "etc/initramfs-tools/scripts/init-premount/zz-bench-rss".into(),
            RSS_PROBE.into(),
            0o755,
        ),
        (
            "etc/initramfs-tools/scripts/local-bottom/zz-bench-rss".into(),
            RSS_REPORT.into(),
            0o755,
        ),
    ]
}

struct Sizes {
    gz: u64,
    raw: u64,
}

fn sizes(initrd: &Path) -> Result<Sizes> {
    let gz = std::fs::metadata(initrd)
        .map_err(Error::io("initrd size"))?
        .len();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc '{}' | wc -c", initrd.display()))
        .output()
        .map_err(Error::io("gzip -dc"))?;
    let raw = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Ok(Sizes { gz, raw })
}

#[derive(Default)]
struct Run {
    reach_to_root: f64,
    client: f64,
    round_trips: usize,
    rss_kb: u64,
}

/// Round trips of the busiest TCP connection to `guest_port` in a pcap: how many times the client
/// sent data and then waited for the server's answer.
fn round_trips(pcap: &Path, guest_port: u16) -> usize {
    let Ok(d) = std::fs::read(pcap) else { return 0 };
    if d.len() < 24 {
        return 0;
    }
    let mut conns: std::collections::HashMap<u16, Vec<bool>> = Default::default();
    let mut i = 24;
    while i + 16 <= d.len() {
        let incl = u32::from_le_bytes(d[i + 8..i + 12].try_into().unwrap()) as usize;
        let f = &d[i + 16..(i + 16 + incl).min(d.len())];
        i += 16 + incl;
        if f.len() < 34 || f[12..14] != [8, 0] || f[23] != 6 {
            continue;
        }
        let ip = &f[14..];
        let ihl = ((ip[0] & 15) as usize) * 4;
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        if ip.len() < ihl + 20 {
            continue;
        }
        let tcp = &ip[ihl..];
        let (sp, dp) = (
            u16::from_be_bytes([tcp[0], tcp[1]]),
            u16::from_be_bytes([tcp[2], tcp[3]]),
        );
        let payload = total.saturating_sub(ihl + ((tcp[12] >> 4) as usize) * 4);
        if payload == 0 {
            continue;
        }
        if dp == guest_port {
            conns.entry(sp).or_default().push(true);
        } else if sp == guest_port {
            conns.entry(dp).or_default().push(false);
        }
    }
    conns
        .values()
        .max_by_key(|v| v.len())
        .map(|dirs| dirs.windows(2).filter(|w| w[0] && !w[1]).count())
        .unwrap_or(0)
}

fn rss(m: &Machine, name: &str) -> u64 {
    let t = m.transcript();
    t.lines()
        .filter_map(|l| l.split("BENCH-RSS ").nth(1))
        .flat_map(|rest| rest.split_whitespace())
        .find_map(|kv| {
            kv.strip_prefix(&format!("{name}="))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn measure(
    s: &Scenario,
    initrd: &Path,
    guest_port: u16,
    unlock: impl Fn(u16) -> Result<()>,
    daemon: &str,
) -> Result<Run> {
    let root = s.root_image()?;
    let mut spec = s.spec(initrd, &[&root], Nic::UserTo(guest_port), "");
    let pcap = s.work.join("net.pcap");
    spec.pcap = Some(pcap.clone());
    let mut m = Machine::boot(&spec)?;
    let port = m.port.unwrap();
    m.wait_for(&format!("{PROMPT} cryptroot"), Duration::from_secs(300))?;
    m.wait_port_answers(Duration::from_secs(120))?;
    let t0 = Instant::now();
    unlock(port)?;
    let client = t0.elapsed().as_secs_f64();
    m.wait_line(tessera_e2e::MARKER, Duration::from_secs(120))?;
    let reach_to_root = t0.elapsed().as_secs_f64();
    m.wait_exit(Duration::from_secs(30))?;
    Ok(Run {
        reach_to_root,
        client,
        round_trips: round_trips(&pcap, guest_port),
        rss_kb: rss(&m, daemon),
    })
}

fn main() {
    if let Err(e) = bench() {
        eprintln!("dropbear-compare: {e}");
        std::process::exit(1);
    }
}

fn bench() -> Result<()> {
    // Baseline: the stock image of the initramfs-tools chroot.
    let base = Scenario::new("bench-stock", Arch::Amd64, Flavor::InitramfsTools)?;
    let root = base.root_image()?;
    let stock = sizes(&base.initrd(&[&root], None)?)?;

    // dropbear-initramfs with an ed25519 key, unlocked by ssh + cryptroot-unlock.
    let db = Scenario::new("bench-dropbear", Arch::Amd64, Flavor::Dropbear)?;
    let key = db.work.join("id_ed25519");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f"])
        .arg(&key))?;
    let pubkey =
        std::fs::read(key.with_extension("pub")).map_err(Error::io("reading the ssh key"))?;
    let ak = vec![(
        "etc/dropbear/initramfs/authorized_keys".to_string(),
        pubkey,
        0o600,
    )];
    let db_size = sizes(&db.initrd_with(&[&root], None, ak.clone())?)?;
    let db_initrd = db.initrd_with(&[&root], None, [ak, probe()].concat())?;
    let db_run = measure(
        &db,
        &db_initrd,
        22,
        |port| {
            let mut c = Command::new("ssh");
            c.arg("-i").arg(&key).args(["-p", &port.to_string()]);
            c.args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
            ]);
            c.args(["root@127.0.0.1", "cryptroot-unlock"]);
            c.stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = c.spawn().map_err(Error::io("starting ssh"))?;
            use std::io::Write;
            let _ = child.stdin.take().unwrap().write_all(PASSPHRASE.as_bytes());
            let out = child
                .wait_with_output()
                .map_err(Error::io("waiting for ssh"))?;
            if !out.status.success() {
                return Err(Error::Command {
                    cmd: "ssh ... cryptroot-unlock".into(),
                    status: out.status.to_string(),
                    output: String::from_utf8_lossy(&out.stderr).into(),
                });
            }
            Ok(())
        },
        "dropbear",
    )?;

    // tessera, same root, same chroot as the baseline.
    let tess = match tools::agent(Arch::Amd64).and_then(|_| tools::host_tool()) {
        Err(e) => Err(e),
        Ok(_) => (|| {
            let ts = Scenario::new("bench-tessera", Arch::Amd64, Flavor::InitramfsTools)?;
            let keys = shared_keys()?;
            let conf = agent_conf("bench", Some("ttyS0"), &[("cryptroot", &root)], "keyscript");
            let files = tessera_files(Arch::Amd64, &keys, conf)?;
            let size = sizes(&ts.initrd(&[&root], Some(files.clone()))?)?;
            let initrd = ts.initrd_with(&[&root], Some(files), probe())?;
            let r = measure(
                &ts,
                &initrd,
                7743,
                |port| {
                    let out = tools::unlock(
                        &keys,
                        &Target::Tcp(port),
                        &format!("{PASSPHRASE}\n"),
                        &[],
                        Duration::from_secs(120),
                    )?;
                    if out.success {
                        Ok(())
                    } else {
                        Err(Error::Command {
                            cmd: "tessera unlock".into(),
                            status: format!("{:?}", out.code),
                            output: out.stderr,
                        })
                    }
                },
                "tessera-agent",
            )?;
            Ok((size, r))
        })(),
    };

    println!("dropbear-compare (amd64, qemu TCG, Debian bookworm, gzip initramfs, MODULES=list)");
    println!("{:<40} {:>14} {:>14}", "", "tessera", "dropbear");
    let col = |f: &dyn Fn(&Sizes, &Run) -> String| match &tess {
        Ok((s, r)) => f(s, r),
        Err(_) => "n/a".to_string(),
    };
    println!(
        "{:<40} {:>14} {:>14}",
        "initramfs bytes added (gzip)",
        col(&|s, _| (s.gz as i64 - stock.gz as i64).to_string()),
        (db_size.gz as i64 - stock.gz as i64).to_string()
    );
    println!(
        "{:<40} {:>14} {:>14}",
        "initramfs bytes added (uncompressed)",
        col(&|s, _| (s.raw as i64 - stock.raw as i64).to_string()),
        (db_size.raw as i64 - stock.raw as i64).to_string()
    );
    println!(
        "{:<40} {:>14} {:>14}",
        "reachable+prompt -> root init (s)",
        col(&|_, r| format!("{:.2}", r.reach_to_root)),
        format!("{:.2}", db_run.reach_to_root)
    );
    println!(
        "{:<40} {:>14} {:>14}",
        "client command wall time (s)",
        col(&|_, r| format!("{:.2}", r.client)),
        format!("{:.2}", db_run.client)
    );
    println!(
        "{:<40} {:>14} {:>14}",
        "round trips on the unlock connection",
        col(&|_, r| r.round_trips.to_string()),
        db_run.round_trips.to_string()
    );
    println!(
        "{:<40} {:>14} {:>14}",
        "daemon peak RSS in the initramfs (kB)",
        col(&|_, r| r.rss_kb.to_string()),
        db_run.rss_kb.to_string()
    );
    println!(
        "stock initramfs: {} bytes gzip, {} uncompressed",
        stock.gz, stock.raw
    );
    if let Err(e) = &tess {
        println!("tessera column: {e}");
    }
    Ok(())
}
