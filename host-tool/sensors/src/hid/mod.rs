//! USB HID devices read over Linux hidraw: UPSes (HID Power Device class) and TEMPer sticks.

pub mod descriptor;
pub mod hidraw;
pub mod power;
pub mod temper;
pub mod usage;

use crate::error::SensorError;
use crate::model::{Kind, Reading, SensorResult, Ups};
use descriptor::ReportKind;
use std::path::Path;
use std::time::Duration;

/// Reads a UPS on `node`: descriptor by ioctl, then Feature/Input reports.
pub fn read_ups(node: &Path) -> SensorResult {
    let id = node.display().to_string();
    let reading = match read_ups_inner(node) {
        Ok(u) => Reading::Ups(u),
        Err(e) => Reading::Error(e),
    };
    SensorResult {
        id,
        kind: Kind::UpsHid,
        reading,
    }
}

fn read_ups_inner(node: &Path) -> Result<Ups, SensorError> {
    let dev = hidraw::Hidraw::open(node)?;
    let shown = dev.path().to_string();
    let bytes = dev.descriptor()?;
    let desc = descriptor::parse(&bytes).map_err(|e| SensorError::Garbled {
        device: shown.clone(),
        detail: format!("report descriptor: {e}"),
    })?;
    if !power::is_power_device(&desc) {
        return Err(SensorError::WrongDevice {
            device: shown,
            detail: "its report descriptor is not a HID Power Device".into(),
        });
    }
    let info = dev.info()?;
    let ident = power::Identity {
        vendor: info.vendor as u16,
        product: info.product as u16,
        name: dev.name(),
        serial: dev.uniq(),
    };
    // Whether any report failed: then the device may be on its way out (see below).
    let refused = std::cell::Cell::new(false);
    let mut fetch = |kind: ReportKind, id: u8, len: usize| {
        let r = match kind {
            ReportKind::Feature => dev.get_report(true, id, len),
            ReportKind::Input => dev.get_report(false, id, len),
            ReportKind::Output => Err(SensorError::WrongDevice {
                device: shown.clone(),
                detail: "output report".into(),
            }),
        };
        if r.is_err() {
            refused.set(true);
        }
        r
    };
    let decoded = power::decode(&desc, &ident, &mut fetch);
    if refused.get() {
        // A device destroyed mid-read first fails the pending and following reports with EIO
        // and only a moment later disappears; ask again so a half-read unplugged UPS is reported
        // as unplugged rather than as a UPS with values missing.
        std::thread::sleep(Duration::from_millis(200));
        dev.info()?;
    }
    let vars = match decoded {
        Ok(v) => v,
        Err(SensorError::NoData { detail, fix, .. }) => {
            return Err(SensorError::NoData {
                device: shown,
                detail,
                fix,
            })
        }
        Err(e) => return Err(e),
    };
    let name = node
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let mut ups = Ups::new(name, vars);
    ups.status.shutdown_imminent = ups.vars.contains_key("ups.alarm");
    Ok(ups)
}

/// Reads a TEMPer stick on `node`.
pub fn read_temper(node: &Path, timeout: Duration) -> SensorResult {
    let id = node.display().to_string();
    let reading = match hidraw::Hidraw::open(node).and_then(|dev| temper::read(&dev, timeout)) {
        Ok(t) => Reading::Temperatures(t),
        Err(e) => Reading::Error(e),
    };
    SensorResult {
        id,
        kind: Kind::Temper,
        reading,
    }
}

/// What a sysfs scan says each hidraw node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Ups(std::path::PathBuf),
    Temper(std::path::PathBuf),
}

/// Picks UPS nodes (descriptor with a Power Device application) and TEMPer nodes (known id and a
/// vendor-page application, i.e. not the stick's keyboard interface) from a sysfs scan.
pub fn discover(sysfs: &Path, dev_root: &Path) -> Vec<Found> {
    let mut out = Vec::new();
    for node in hidraw::scan(sysfs, dev_root) {
        let Some(desc) = node
            .descriptor
            .as_deref()
            .and_then(|d| descriptor::parse(d).ok())
        else {
            continue;
        };
        if power::is_power_device(&desc) {
            out.push(Found::Ups(node.dev));
        } else if temper::is_temper(node.vendor, node.product)
            && desc.applications.iter().any(|&u| u >> 16 >= 0xff00)
        {
            out.push(Found::Temper(node.dev));
        }
    }
    out
}
