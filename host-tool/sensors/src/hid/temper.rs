//! PCsensor TEMPer USB sticks over hidraw: which ids they use, the 8-byte commands, and how the
//! replies encode temperatures (big-endian int16, /256 on the old FM75 firmware, /100 on the
//! V3.x "Gold"/"X" firmware, 0x4E20 = no probe). Decoding is pure; `read` does the I/O.

use super::hidraw::Hidraw;
use crate::error::SensorError;
use crate::model::Temperature;
use std::time::Duration;

/// Vendor:product pairs of TEMPer sticks that speak this protocol over HID.
pub const IDS: &[(u16, u16)] = &[
    (0x0c45, 0x7401),
    (0x0c45, 0x7402),
    (0x413d, 0x2107),
    (0x1a86, 0xe025),
];

/// Asks for the firmware id ("TEMPerGold_V3.1"), answered by two 8-byte reports.
pub const CMD_FIRMWARE: [u8; 8] = [0x01, 0x86, 0xFF, 0x01, 0x00, 0x00, 0x00, 0x00];
/// Asks for the temperatures, answered by one report (two on sticks with an external probe).
pub const CMD_READ: [u8; 8] = [0x01, 0x80, 0x33, 0x01, 0x00, 0x00, 0x00, 0x00];

/// The value a TEMPer sends for a probe that is not there.
const NO_PROBE: i16 = 0x4E20;

pub fn is_temper(vendor: u16, product: u16) -> bool {
    IDS.contains(&(vendor, product))
}

/// The divisor the firmware's fixed-point temperatures use.
pub fn scale(firmware: &str) -> f64 {
    if firmware.starts_with("TEMPerF1")
        || firmware.starts_with("TEMPer1F1")
        || firmware.starts_with("TEMPer2_M12")
    {
        256.0
    } else {
        100.0
    }
}

/// Decodes the read reply (8 or 16 bytes): internal probe at bytes 2..4, external at 10..12.
pub fn decode(reply: &[u8], firmware: &str) -> Result<Vec<Temperature>, String> {
    if reply.len() < 4 || reply[0] != 0x80 {
        return Err(format!("reply does not start with 0x80: {reply:02x?}"));
    }
    let div = scale(firmware);
    let mut out = Vec::new();
    for (probe, at) in [("internal", 2usize), ("external", 10)] {
        let Some(b) = reply.get(at..at + 2) else {
            continue;
        };
        let raw = i16::from_be_bytes([b[0], b[1]]);
        if raw == NO_PROBE {
            continue;
        }
        let celsius = f64::from(raw) / div;
        if !(-60.0..=150.0).contains(&celsius) {
            return Err(format!(
                "{probe} probe reads {celsius} °C, outside the sensor's range"
            ));
        }
        out.push(Temperature {
            probe: probe.into(),
            label: None,
            celsius,
            age_seconds: None,
        });
    }
    if out.is_empty() {
        return Err("no probe connected (0x4e20)".into());
    }
    Ok(out)
}

/// Sends a command and collects `reports` 8-byte replies.
fn exchange(
    dev: &Hidraw,
    cmd: &[u8; 8],
    reports: usize,
    timeout: Duration,
) -> Result<Vec<u8>, SensorError> {
    dev.write(cmd)?;
    let mut out = Vec::new();
    for i in 0..reports {
        let mut buf = [0u8; 64];
        // A second report follows the first at once when there is one; do not wait the full
        // timeout for it on every read of a one-probe stick.
        let wait = if i == 0 {
            timeout
        } else {
            timeout.min(Duration::from_millis(300))
        };
        match dev.read_timeout(&mut buf, wait) {
            Ok(n) => out.extend_from_slice(&buf[..n.min(8)]),
            // The second report only exists on sticks with two probes.
            Err(SensorError::Timeout { .. }) if i > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Reads one TEMPer stick.
pub fn read(dev: &Hidraw, timeout: Duration) -> Result<Vec<Temperature>, SensorError> {
    let fw = exchange(dev, &CMD_FIRMWARE, 2, timeout)?;
    let firmware: String = String::from_utf8_lossy(&fw)
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .collect();
    let reply = exchange(dev, &CMD_READ, 2, timeout)?;
    decode(&reply, &firmware).map_err(|detail| SensorError::Garbled {
        device: dev.path().to_string(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperx_v3_two_probes() {
        // Replies from a TEMPerX_V3.2 (413d:2107) quoted in TEMPered issue #51: 24.56 and 19.93 °C.
        let reply = [
            0x80, 0x80, 0x09, 0x98, 0x4e, 0x20, 0, 0, 0x80, 0x01, 0x07, 0xc9, 0x4e, 0x20, 0, 0,
        ];
        let t = decode(&reply, "TEMPerX_V3.2").unwrap();
        assert_eq!(t.len(), 2);
        assert!((t[0].celsius - 24.56).abs() < 1e-9 && t[0].probe == "internal");
        assert!((t[1].celsius - 19.93).abs() < 1e-9 && t[1].probe == "external");
    }

    #[test]
    fn old_firmware_divides_by_256() {
        let t = decode(&[0x80, 0x02, 0x1A, 0x80, 0, 0, 0, 0], "TEMPerF1.4").unwrap();
        assert_eq!(t[0].celsius, 26.5);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode(&[0x00, 0x02, 0x1A, 0x80], "TEMPerF1.4").is_err());
        assert!(decode(&[0x80, 0x80, 0x4e, 0x20], "TEMPerGold_V3.1").is_err());
        assert!(
            decode(&[0x80, 0x80, 0x7f, 0xff], "TEMPerGold_V3.1").is_err(),
            "327 °C is not a reading"
        );
        assert!(decode(&[0x80], "x").is_err());
    }
}
