//! tessera-sensors: UPS and thermometer readings for the admin's host tool (`tessera sensors`).
//!
//! Sources: USB HID UPSes over Linux hidraw (Eaton/MGE first, then generic HID Power Devices such
//! as APC and CyberPower), NUT's upsd over TCP, Elitech USB loggers on a named serial port,
//! TEMPer HID sticks, 1-Wire thermometers, hwmon chips and thermal zones. Outputs: a table, JSON,
//! Prometheus text, an HTTP exporter and node_exporter textfiles. This crate knows nothing of
//! unlocking and holds no key; `src/main.rs` is the `tessera-sensors` binary that `tessera sensors`
//! execs.

pub mod cli;
pub mod elitech;
pub mod error;
pub mod exporter;
pub mod hid;
pub mod model;
pub mod nut;
pub mod prometheus;
pub mod serial;
pub mod sysfs;
pub mod table;

pub use error::SensorError;
pub use model::{Kind, Reading, SensorResult, Temperature, Ups, UpsStatus};

use std::path::PathBuf;
use std::time::Duration;

/// What to read.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root of sysfs (`/sys`); tests point it at a fixture tree.
    pub sysfs: PathBuf,
    /// Where hidraw nodes live (`/dev`).
    pub dev: PathBuf,
    /// Scan hidraw, 1-Wire, hwmon and thermal zones.
    pub scan: bool,
    /// UPS hidraw nodes named by the admin (read even when `scan` is off).
    pub hidraw: Vec<PathBuf>,
    /// TEMPer hidraw nodes named by the admin.
    pub temper: Vec<PathBuf>,
    pub nut: Vec<nut::NutServer>,
    /// Elitech serial ports; never found by scanning (a tty may be a console).
    pub elitech: Vec<PathBuf>,
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sysfs: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
            scan: true,
            hidraw: Vec::new(),
            temper: Vec::new(),
            nut: Vec::new(),
            elitech: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Reads every configured sensor once. Never fails as a whole: each sensor carries its own error.
pub fn collect(cfg: &Config) -> Vec<SensorResult> {
    let mut out = Vec::new();
    let mut ups_nodes = cfg.hidraw.clone();
    let mut temper_nodes = cfg.temper.clone();
    if cfg.scan {
        for found in hid::discover(&cfg.sysfs, &cfg.dev) {
            match found {
                hid::Found::Ups(p) if !ups_nodes.contains(&p) => ups_nodes.push(p),
                hid::Found::Temper(p) if !temper_nodes.contains(&p) => temper_nodes.push(p),
                _ => {}
            }
        }
    }
    out.extend(ups_nodes.iter().map(|p| hid::read_ups(p)));
    for server in &cfg.nut {
        out.extend(server.read());
    }
    out.extend(
        temper_nodes
            .iter()
            .map(|p| hid::read_temper(p, cfg.timeout)),
    );
    for port in &cfg.elitech {
        let id = port.display().to_string();
        let reading = match elitech::read_latest(port, cfg.timeout) {
            Ok(t) => Reading::Temperatures(vec![t]),
            Err(e) => Reading::Error(e),
        };
        out.push(SensorResult {
            id,
            kind: Kind::Elitech,
            reading,
        });
    }
    if cfg.scan {
        out.extend(sysfs::read_w1(&cfg.sysfs));
        out.extend(sysfs::read_hwmon(&cfg.sysfs));
        out.extend(sysfs::read_thermal(&cfg.sysfs));
    }
    out
}
