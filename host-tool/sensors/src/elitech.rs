//! Elitech RC-4 / RC-4HC / RC-5 temperature loggers behind a USB-serial bridge (CP210x, CH340).
//!
//! These loggers have no "read now" command: the value is the newest logged record, whose age we
//! report. Frames: request = bytes + a sum-mod-256 checksum; replies start with 0x55 and end with
//! the same checksum; integers are big-endian, temperatures int16 tenths of °C. The frame
//! functions are pure (the fuzzer drives them); `read_latest` does the serial I/O.

use crate::error::SensorError;
use crate::model::Temperature;
use crate::serial::Port;
use std::path::Path;
use std::time::Duration;

/// The bridges run at 115200 8N1.
pub const BAUD: u32 = 115_200;
pub const WAKE: [u8; 5] = [0xCC, 0x00, 0x0A, 0x00, 0xD6];
pub const WAKE_REPLY: [u8; 3] = [0x55, 0xA5, 0xFA];
pub const DEVINFO: [u8; 5] = [0xCC, 0x00, 0x06, 0x00, 0xD2];
pub const DEVINFO_LEN: usize = 160;
pub const HEADER_LEN: usize = 11;

/// Why a reply frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    Length { want: usize, got: usize },
    Start(u8),
    Checksum { want: u8, got: u8 },
    Model(u8),
    Date,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Length { want, got } => write!(f, "{got} bytes where {want} were expected"),
            Self::Start(b) => write!(f, "reply starts with 0x{b:02x}, not 0x55"),
            Self::Checksum { want, got } => {
                write!(f, "checksum 0x{got:02x}, expected 0x{want:02x}")
            }
            Self::Model(m) => write!(
                f,
                "unknown model number {m} (known: 40 RC-4, 42 RC-4HC, 50 RC-5)"
            ),
            Self::Date => write!(f, "impossible date"),
        }
    }
}

pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// A station-addressed request: `33 <station> <cmd> <arg> <ck>`.
pub fn request(station: u8, cmd: u8, arg: u8) -> [u8; 5] {
    let mut r = [0x33, station, cmd, arg, 0];
    r[4] = checksum(&r[..4]);
    r
}

/// Checks start byte, length and checksum of a reply; returns the body between them.
pub fn check_frame(bytes: &[u8], len: usize) -> Result<&[u8], FrameError> {
    if bytes.len() != len || len < 2 {
        return Err(FrameError::Length {
            want: len,
            got: bytes.len(),
        });
    }
    if bytes[0] != 0x55 {
        return Err(FrameError::Start(bytes[0]));
    }
    let want = checksum(&bytes[..len - 1]);
    if bytes[len - 1] != want {
        return Err(FrameError::Checksum {
            want,
            got: bytes[len - 1],
        });
    }
    Ok(&bytes[1..len - 1])
}

/// A logger model and how its memory pages are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Rc4,
    Rc4hc,
    Rc5,
}

impl Model {
    fn from_byte(b: u8) -> Result<Self, FrameError> {
        match b {
            40 => Ok(Self::Rc4),
            42 => Ok(Self::Rc4hc),
            50 => Ok(Self::Rc5),
            m => Err(FrameError::Model(m)),
        }
    }
    pub fn byte(self) -> u8 {
        match self {
            Self::Rc4 => 40,
            Self::Rc4hc => 42,
            Self::Rc5 => 50,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Rc4 => "RC-4",
            Self::Rc4hc => "RC-4HC",
            Self::Rc5 => "RC-5",
        }
    }
    /// int16 values per data page.
    pub fn page_values(self) -> usize {
        match self {
            Self::Rc4 => 100,
            Self::Rc4hc => 200,
            Self::Rc5 => 500,
        }
    }
    /// int16 values per record (RC-4HC stores temperature and humidity).
    pub fn values_per_record(self) -> usize {
        if self == Self::Rc4hc {
            2
        } else {
            1
        }
    }
}

/// Seconds since 1970 of a 7-byte Elitech date (year u16 BE, month, day, hour, minute, second).
pub fn parse_datetime(b: &[u8]) -> Result<i64, FrameError> {
    let [y0, y1, mo, d, h, mi, s] = b.try_into().map_err(|_| FrameError::Date)?;
    let (y, mo, d) = (
        i64::from(u16::from_be_bytes([y0, y1])),
        i64::from(mo),
        i64::from(d),
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return Err(FrameError::Date);
    }
    // Howard Hinnant's days-from-civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s))
}

/// What the device-info reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevInfo {
    pub station: u8,
    pub model: Model,
    pub interval_seconds: u32,
    /// 0 not started, 1 recording, 2 stopped, 3 delayed start.
    pub work_status: u8,
    pub record_count: u16,
    /// The logger's own clock when it answered.
    pub clock: i64,
    pub device_number: String,
}

pub fn parse_devinfo(bytes: &[u8]) -> Result<DevInfo, FrameError> {
    check_frame(bytes, DEVINFO_LEN)?;
    let b = bytes;
    Ok(DevInfo {
        station: b[1],
        model: Model::from_byte(b[3])?,
        interval_seconds: u32::from(b[5]) * 3600 + u32::from(b[6]) * 60 + u32::from(b[7]),
        work_status: b[19],
        record_count: u16::from_be_bytes([b[29], b[30]]),
        clock: parse_datetime(&b[31..38])?,
        device_number: String::from_utf8_lossy(&b[138..148])
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    })
}

/// The data header: record count and the first record's time.
pub fn parse_header(bytes: &[u8]) -> Result<(u16, i64), FrameError> {
    let body = check_frame(bytes, HEADER_LEN)?;
    Ok((
        u16::from_be_bytes([body[0], body[1]]),
        parse_datetime(&body[2..9])?,
    ))
}

/// A data page of `values` int16s.
pub fn parse_page(bytes: &[u8], values: usize) -> Result<Vec<i16>, FrameError> {
    let body = check_frame(bytes, 2 + 2 * values)?;
    Ok(body
        .chunks_exact(2)
        .map(|c| i16::from_be_bytes([c[0], c[1]]))
        .collect())
}

/// Where the newest record sits: (page number, values on that page).
pub fn last_page(model: Model, count: u16) -> Option<(u8, usize)> {
    let total = usize::from(count) * model.values_per_record();
    if total == 0 {
        return None;
    }
    let page = (total - 1) / model.page_values();
    let n = total - page * model.page_values();
    Some((u8::try_from(page).ok()?, n))
}

/// Reads the newest logged temperature from the logger on `path`.
pub fn read_latest(path: &Path, timeout: Duration) -> Result<Temperature, SensorError> {
    let port = Port::open(path, BAUD)?;
    let dev = port.path().to_string();
    let garbled = |what: &str, e: FrameError| SensorError::Garbled {
        device: dev.clone(),
        detail: format!("{what}: {e}"),
    };
    port.write_all(&WAKE)?;
    let wake = port.read_exact(WAKE_REPLY.len(), timeout)?;
    if wake != WAKE_REPLY {
        return Err(SensorError::Garbled {
            device: dev.clone(),
            detail: format!("wake-up answered {wake:02x?}, not 55 a5 fa"),
        });
    }
    port.write_all(&DEVINFO)?;
    let info = parse_devinfo(&port.read_exact(DEVINFO_LEN, timeout)?)
        .map_err(|e| garbled("device info", e))?;
    port.write_all(&request(info.station, 0x01, 0x00))?;
    let (count, start) = parse_header(&port.read_exact(HEADER_LEN, timeout)?)
        .map_err(|e| garbled("data header", e))?;
    let Some((page, n)) = last_page(info.model, count) else {
        if count > 0 {
            return Err(SensorError::Garbled {
                device: dev,
                detail: format!(
                    "{count} records do not fit the {}'s 256 pages",
                    info.model.name()
                ),
            });
        }
        return Err(SensorError::NoData {
            device: dev,
            detail: format!("the {} holds no records", info.model.name()),
            fix: "start logging on the device (its own software or button) with a short interval"
                .into(),
        });
    };
    port.write_all(&request(info.station, 0x02, page))?;
    let values = parse_page(&port.read_exact(2 + 2 * n, timeout)?, n)
        .map_err(|e| garbled("data page", e))?;
    let temp = values[n - info.model.values_per_record()];
    let taken = start + i64::from(info.interval_seconds) * (i64::from(count) - 1);
    let age = (info.clock - taken).max(0);
    Ok(Temperature {
        probe: "logged".into(),
        label: Some(
            format!("{} {}", info.model.name(), info.device_number)
                .trim()
                .to_string(),
        ),
        celsius: f64::from(temp) / 10.0,
        age_seconds: Some(age as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_requests_carry_their_checksum() {
        assert_eq!(checksum(&WAKE[..4]), WAKE[4]);
        assert_eq!(checksum(&DEVINFO[..4]), DEVINFO[4]);
        assert_eq!(checksum(&WAKE_REPLY[..2]), WAKE_REPLY[2]);
        assert_eq!(request(1, 1, 0), [0x33, 1, 1, 0, 0x35]);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_datetime(&[0x07, 0xB2, 1, 1, 0, 0, 0]), Ok(0));
        assert_eq!(
            parse_datetime(&[0x07, 0xEA, 11, 29, 13, 50, 7]),
            Ok(1_795_960_207)
        );
        assert_eq!(
            parse_datetime(&[0x07, 0xEA, 13, 1, 0, 0, 0]),
            Err(FrameError::Date)
        );
    }

    #[test]
    fn last_page_arithmetic() {
        assert_eq!(last_page(Model::Rc4, 0), None);
        assert_eq!(last_page(Model::Rc4, 100), Some((0, 100)));
        assert_eq!(last_page(Model::Rc4, 101), Some((1, 1)));
        assert_eq!(last_page(Model::Rc4hc, 150), Some((1, 100)));
        assert_eq!(last_page(Model::Rc5, 16000), Some((31, 500)));
        // 65535 RC-4 records would need page 655: not addressable in one byte.
        assert_eq!(last_page(Model::Rc4, u16::MAX), None);
    }

    #[test]
    fn frames_with_bad_checksum_or_start_are_refused() {
        let mut hdr = [0x55, 0, 3, 0x07, 0xEA, 11, 29, 12, 0, 0, 0];
        hdr[10] = checksum(&hdr[..10]);
        assert_eq!(parse_header(&hdr).unwrap().0, 3);
        let mut bad = hdr;
        bad[10] ^= 1;
        assert!(matches!(
            parse_header(&bad),
            Err(FrameError::Checksum { .. })
        ));
        bad = hdr;
        bad[0] = 0x54;
        assert_eq!(parse_header(&bad), Err(FrameError::Start(0x54)));
        assert!(matches!(
            parse_page(&[0x55, 0x55], 1),
            Err(FrameError::Length { .. })
        ));
    }
}
