//! Linux hidraw access: finding UPS and TEMPer nodes through sysfs, and the ioctls that read a
//! report descriptor and Feature/Input reports (HIDIOCGRDESC, HIDIOCGFEATURE, HIDIOCGINPUT).
//!
//! The hidraw ioctls encode the buffer length in the opcode, so rustix's const-opcode helpers do
//! not fit; `Report` implements `rustix::ioctl::Ioctl` by hand. Nothing here interprets values.
//! It never writes to a UPS (no SET_REPORT): reading must not change the device's settings.

use crate::error::SensorError;
use rustix::ioctl::{self, opcode, Direction, Ioctl, IoctlOutput, Opcode};
use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A hidraw node found in sysfs, with what sysfs says about it (readable without opening /dev).
#[derive(Debug, Clone)]
pub struct Node {
    /// `hidraw0`
    pub name: String,
    /// `/dev/hidraw0` (under the dev root given)
    pub dev: PathBuf,
    pub vendor: u16,
    pub product: u16,
    pub hid_name: Option<String>,
    pub uniq: Option<String>,
    /// The report descriptor from sysfs, if readable.
    pub descriptor: Option<Vec<u8>>,
}

/// Lists `<sysfs>/class/hidraw/*` with their ids, names and descriptors, sorted by node number.
pub fn scan(sysfs: &Path, dev_root: &Path) -> Vec<Node> {
    let dir = sysfs.join("class/hidraw");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut nodes: Vec<Node> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let device = e.path().join("device");
            let uevent = std::fs::read_to_string(device.join("uevent")).ok()?;
            let mut node = Node {
                dev: dev_root.join(&name),
                name,
                vendor: 0,
                product: 0,
                hid_name: None,
                uniq: None,
                descriptor: std::fs::read(device.join("report_descriptor")).ok(),
            };
            for line in uevent.lines() {
                if let Some(id) = line.strip_prefix("HID_ID=") {
                    // "0003:00000463:0000FFFF": bus, vendor, product.
                    let parts: Vec<&str> = id.split(':').collect();
                    if let [_, v, p] = parts.as_slice() {
                        node.vendor = u32::from_str_radix(v, 16).unwrap_or(0) as u16;
                        node.product = u32::from_str_radix(p, 16).unwrap_or(0) as u16;
                    }
                } else if let Some(n) = line.strip_prefix("HID_NAME=") {
                    node.hid_name = Some(n.to_string());
                } else if let Some(u) = line.strip_prefix("HID_UNIQ=") {
                    node.uniq = Some(u.to_string()).filter(|u| !u.is_empty());
                }
            }
            Some(node)
        })
        .collect();
    nodes.sort_by_key(|n| (n.name.len(), n.name.clone()));
    nodes
}

/// An open hidraw node.
pub struct Hidraw {
    file: File,
    path: String,
}

const HIDRAW: u8 = b'H';

/// A hidraw ioctl whose opcode carries the buffer length.
struct Report<'a> {
    /// Read for the string ioctls (NAME, UNIQ), ReadWrite for the report ioctls.
    direction: Direction,
    number: u8,
    buf: &'a mut [u8],
}

// SAFETY: the opcode's size is the buffer's length and the kernel writes at most that many bytes
// into the buffer we own for the duration of the call; the output is the byte count it returns.
unsafe impl Ioctl for Report<'_> {
    type Output = usize;
    const IS_MUTATING: bool = true;
    fn opcode(&self) -> Opcode {
        opcode::from_components(self.direction, HIDRAW, self.number, self.buf.len())
    }
    fn as_ptr(&mut self) -> *mut c_void {
        self.buf.as_mut_ptr().cast()
    }
    unsafe fn output_from_ptr(out: IoctlOutput, _: *mut c_void) -> rustix::io::Result<usize> {
        Ok(out.max(0) as usize)
    }
}

#[repr(C)]
struct RawDescriptor {
    size: u32,
    value: [u8; 4096],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct DevInfo {
    pub bustype: u32,
    pub vendor: i16,
    pub product: i16,
}

impl Hidraw {
    /// Opens read-write (the report ioctls need it on some kernels), read-only if that is refused.
    pub fn open(path: &Path) -> Result<Self, SensorError> {
        let shown = path.display().to_string();
        let open = |write: bool| {
            OpenOptions::new()
                .read(true)
                .write(write)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(path)
        };
        let file = open(true)
            .or_else(|_| open(false))
            .map_err(|e| SensorError::from_io(&shown, &e))?;
        Ok(Self { file, path: shown })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn err(&self, e: rustix::io::Errno) -> SensorError {
        SensorError::from_io(&self.path, &e.into())
    }

    /// HIDIOCGRDESCSIZE + HIDIOCGRDESC.
    pub fn descriptor(&self) -> Result<Vec<u8>, SensorError> {
        // SAFETY: _IOR('H', 1, int) fills one c_int.
        let size: i32 = unsafe {
            ioctl::ioctl(
                &self.file,
                ioctl::Getter::<{ opcode::read::<i32>(HIDRAW, 1) }, i32>::new(),
            )
        }
        .map_err(|e| self.err(e))?;
        let size = (size.max(0) as usize).min(4096);
        let mut raw = Box::new(RawDescriptor {
            size: size as u32,
            value: [0; 4096],
        });
        // SAFETY: _IOR('H', 2, struct hidraw_report_descriptor) reads `size` and fills `value`.
        unsafe {
            ioctl::ioctl(
                &self.file,
                ioctl::Updater::<{ opcode::read::<RawDescriptor>(HIDRAW, 2) }, RawDescriptor>::new(
                    &mut raw,
                ),
            )
        }
        .map_err(|e| self.err(e))?;
        Ok(raw.value[..size].to_vec())
    }

    /// HIDIOCGRAWINFO: bus, vendor, product.
    pub fn info(&self) -> Result<DevInfo, SensorError> {
        // SAFETY: _IOR('H', 3, struct hidraw_devinfo) fills the three fields.
        unsafe {
            ioctl::ioctl(
                &self.file,
                ioctl::Getter::<{ opcode::read::<DevInfo>(HIDRAW, 3) }, DevInfo>::new(),
            )
        }
        .map_err(|e| self.err(e))
    }

    fn string(&self, number: u8) -> Option<String> {
        let mut buf = [0u8; 256];
        // SAFETY: HIDIOCGRAWNAME/UNIQ(len) write at most len bytes.
        let n = unsafe {
            ioctl::ioctl(
                &self.file,
                Report {
                    direction: Direction::Read,
                    number,
                    buf: &mut buf,
                },
            )
        }
        .ok()?;
        let s = &buf[..n.min(buf.len())];
        let s = s.split(|&b| b == 0).next().unwrap_or(&[]);
        Some(String::from_utf8_lossy(s).trim().to_string()).filter(|s| !s.is_empty())
    }

    /// HIDIOCGRAWNAME: "<manufacturer> <product>".
    pub fn name(&self) -> Option<String> {
        self.string(0x04)
    }

    /// HIDIOCGRAWUNIQ: the USB serial string.
    pub fn uniq(&self) -> Option<String> {
        self.string(0x08)
    }

    /// HIDIOCGFEATURE / HIDIOCGINPUT: a GET_REPORT on the control pipe. `len` includes the ID byte.
    pub fn get_report(&self, feature: bool, id: u8, len: usize) -> Result<Vec<u8>, SensorError> {
        let mut buf = vec![0u8; len.clamp(1, 4096)];
        buf[0] = id;
        let number = if feature { 0x07 } else { 0x0A };
        // SAFETY: the kernel writes at most buf.len() bytes (encoded in the opcode).
        let n = unsafe {
            ioctl::ioctl(
                &self.file,
                Report {
                    direction: Direction::ReadWrite,
                    number,
                    buf: &mut buf,
                },
            )
        }
        .map_err(|e| match e {
            // usbhid reports a gone device as ENODEV/ESHUTDOWN; EIO here is the device refusing
            // this one report (uhid answers a refused GET_REPORT so), not an unplug.
            rustix::io::Errno::IO => SensorError::Io {
                device: self.path.clone(),
                detail: format!("report 0x{id:02x} refused (EIO)"),
            },
            other => self.err(other),
        })?;
        buf.truncate(n.min(len));
        Ok(buf)
    }

    /// One `write(2)` of an output report (TEMPer commands).
    pub fn write(&self, data: &[u8]) -> Result<(), SensorError> {
        let n = rustix::io::write(&self.file, data).map_err(|e| self.err(e))?;
        if n != data.len() {
            return Err(SensorError::Io {
                device: self.path.clone(),
                detail: format!("short write ({n} of {})", data.len()),
            });
        }
        Ok(())
    }

    /// Reads one input report, waiting at most `timeout`.
    pub fn read_timeout(
        &self,
        buf: &mut [u8],
        timeout: std::time::Duration,
    ) -> Result<usize, SensorError> {
        crate::serial::wait_readable(&self.file, timeout).map_err(|e| match e {
            SensorError::Timeout { .. } => SensorError::Timeout {
                device: self.path.clone(),
                what: "an input report".into(),
            },
            other => other,
        })?;
        rustix::io::read(&self.file, buf).map_err(|e| self.err(e))
    }
}
