//! Why a sensor could not be read, in words an admin can act on.
//!
//! Every failure is a variant naming the device; `Display` gives one line with what went wrong and
//! what to do next. This module must never build messages anywhere else: callers pick a variant.

use serde::Serialize;
use std::fmt;
use std::io;

/// One sensor's failure. `device` is what the admin would type (a path, `HOST:PORT`, `ups@host`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SensorError {
    /// open(2) or an ioctl said EACCES/EPERM.
    PermissionDenied { device: String },
    /// The device vanished (ENODEV, ENXIO, ESHUTDOWN, EIO on a USB node): it was unplugged mid-read.
    Unplugged { device: String },
    /// The path does not exist.
    NotFound { device: String },
    /// No answer within the timeout.
    Timeout { device: String, what: String },
    /// Bytes arrived but they are not what the protocol says.
    Garbled { device: String, detail: String },
    /// The peer closed the connection in the middle of an exchange.
    ConnectionLost { device: String },
    /// TCP connect failed (refused, unreachable, name not resolved).
    ConnectFailed { device: String, detail: String },
    /// upsd answered `ERR <code>`.
    Nut { device: String, code: String },
    /// The node is not the kind of device we expected (e.g. ENOTTY from a hidraw ioctl).
    WrongDevice { device: String, detail: String },
    /// The device answered but holds nothing usable (an Elitech logger that is not recording);
    /// `fix` says what would give it something to report.
    NoData {
        device: String,
        detail: String,
        fix: String,
    },
    /// Any other I/O error.
    Io { device: String, detail: String },
}

impl SensorError {
    /// Maps an I/O error from `device` to the variant whose hint fits.
    pub fn from_io(device: &str, e: &io::Error) -> Self {
        let device = device.to_string();
        match e.raw_os_error() {
            Some(libc_errno::EACCES) | Some(libc_errno::EPERM) => Self::PermissionDenied { device },
            Some(libc_errno::ENODEV)
            | Some(libc_errno::ENXIO)
            | Some(libc_errno::ESHUTDOWN)
            | Some(libc_errno::EIO) => Self::Unplugged { device },
            Some(libc_errno::ENOENT) => Self::NotFound { device },
            Some(libc_errno::ENOTTY) | Some(libc_errno::EINVAL) => Self::WrongDevice {
                device,
                detail: "it does not answer the expected ioctl".into(),
            },
            Some(libc_errno::ETIMEDOUT) => Self::Timeout {
                device,
                what: "the device".into(),
            },
            _ => match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Self::Timeout {
                    device,
                    what: "an answer".into(),
                },
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => Self::ConnectionLost { device },
                _ => Self::Io {
                    device,
                    detail: e.to_string(),
                },
            },
        }
    }

    /// The device the error is about.
    pub fn device(&self) -> &str {
        match self {
            Self::PermissionDenied { device }
            | Self::Unplugged { device }
            | Self::NotFound { device }
            | Self::Timeout { device, .. }
            | Self::Garbled { device, .. }
            | Self::ConnectionLost { device }
            | Self::ConnectFailed { device, .. }
            | Self::Nut { device, .. }
            | Self::WrongDevice { device, .. }
            | Self::NoData { device, .. }
            | Self::Io { device, .. } => device,
        }
    }

    /// What went wrong, without the device name.
    pub fn message(&self) -> String {
        match self {
            Self::PermissionDenied { .. } => "permission denied".into(),
            Self::Unplugged { .. } => "device went away (unplugged or reset)".into(),
            Self::NotFound { .. } => "no such device".into(),
            Self::Timeout { what, .. } => format!("timed out waiting for {what}"),
            Self::Garbled { detail, .. } => format!("garbled reply: {detail}"),
            Self::ConnectionLost { .. } => "connection closed in the middle of a reply".into(),
            Self::ConnectFailed { detail, .. } => format!("cannot connect: {detail}"),
            Self::Nut { code, .. } => format!("upsd answered ERR {code}"),
            Self::WrongDevice { detail, .. } => format!("not the expected device: {detail}"),
            Self::NoData { detail, .. } => format!("no reading: {detail}"),
            Self::Io { detail, .. } => detail.clone(),
        }
    }

    /// What the admin can do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::PermissionDenied { device } if device.contains("hidraw") => format!(
                "run as root, or add a udev rule giving your group access (e.g. \
                 KERNEL==\"hidraw*\", MODE=\"0660\", GROUP=\"plugdev\") and replug {device}"
            ),
            Self::PermissionDenied { .. } => "run as root or add your user to the group owning the device (often dialout)".into(),
            Self::Unplugged { .. } => "check the USB cable and `dmesg`; the next read retries".into(),
            Self::NotFound { .. } => "check the path; `ls /dev/hidraw* /dev/ttyUSB*` lists candidates".into(),
            Self::Timeout { .. } => "check that the device is powered and that nothing else (a NUT driver, another reader) holds it".into(),
            Self::Garbled { .. } => "check baud rate and that this port really is the device named; replug it if it persists".into(),
            Self::ConnectionLost { .. } => "upsd or the link restarted; the next read reconnects".into(),
            Self::ConnectFailed { .. } => "check that upsd runs and LISTENs on that address (upsd.conf), and the host:port given to --nut".into(),
            Self::Nut { code, .. } => match code.as_str() {
                "DRIVER-NOT-CONNECTED" => "the NUT driver for this UPS is not running: `upsdrvctl start` or check the UPS cable".into(),
                "DATA-STALE" => "the NUT driver lost contact with the UPS; check the cable and the driver's log".into(),
                "UNKNOWN-UPS" => "the UPS name is not in ups.conf; `upsc -l HOST` lists the names".into(),
                "ACCESS-DENIED" | "INVALID-PASSWORD" | "INVALID-USERNAME" | "USERNAME-REQUIRED" | "PASSWORD-REQUIRED" => {
                    "check --nut-user/--nut-password against upsd.users".into()
                }
                _ => "see upsd's log (journalctl -u nut-server)".into(),
            },
            Self::WrongDevice { .. } => "point the option at the right node; `tessera sensors` without options scans for devices".into(),
            Self::NoData { fix, .. } => fix.clone(),
            Self::Io { .. } => "check `dmesg` and the device's permissions".into(),
        }
    }
}

impl fmt::Display for SensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.device(), self.message(), self.hint())
    }
}

impl std::error::Error for SensorError {}

/// The few errno values we map, so the crate needs no libc dependency for them.
mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const ENXIO: i32 = 6;
    pub const EACCES: i32 = 13;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ENOTTY: i32 = 25;
    pub const ESHUTDOWN: i32 = 108;
    pub const ETIMEDOUT: i32 = 110;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_error_on_hidraw_names_device_and_udev_fix() {
        let e = SensorError::from_io("/dev/hidraw3", &io::Error::from_raw_os_error(13));
        let line = e.to_string();
        assert!(
            line.starts_with("/dev/hidraw3: permission denied;"),
            "{line}"
        );
        assert!(line.contains("udev rule"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn enodev_means_unplugged() {
        let e = SensorError::from_io("/dev/hidraw0", &io::Error::from_raw_os_error(19));
        assert_eq!(
            e,
            SensorError::Unplugged {
                device: "/dev/hidraw0".into()
            }
        );
    }

    #[test]
    fn eof_means_connection_lost() {
        let e = SensorError::from_io("ups@h:1", &io::Error::from(io::ErrorKind::UnexpectedEof));
        assert!(matches!(e, SensorError::ConnectionLost { .. }));
    }

    #[test]
    fn nut_driver_not_connected_hint() {
        let e = SensorError::Nut {
            device: "eaton@127.0.0.1:3493".into(),
            code: "DRIVER-NOT-CONNECTED".into(),
        };
        assert!(e.to_string().contains("upsdrvctl"));
    }
}
