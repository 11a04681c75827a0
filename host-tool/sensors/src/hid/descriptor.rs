//! HID report descriptor parser: turns the bytes from HIDIOCGRDESC (or sysfs `report_descriptor`)
//! into a flat list of value fields, each with its report, bit position, usage path and scaling.
//!
//! It follows the HID 1.11 item grammar (global/local state, push/pop, report IDs) and NUT's
//! conventions where devices rely on them: collections with a type of 0x80 or more are "indexed"
//! (a pseudo node `0x00ff0000 | index` follows their usage, so paths read `Flow.[4]`), and a
//! logical maximum is read unsigned when the minimum is not negative (as Linux's hid-core does).
//! It must never panic or allocate without bound on hostile bytes: every count is capped and
//! every arithmetic step is checked.

use std::collections::BTreeMap;

/// Linux's HID_MAX_DESCRIPTOR_SIZE.
pub const MAX_DESCRIPTOR: usize = 4096;
/// Deepest collection nesting we accept (real UPSes use 5 or 6).
pub const MAX_DEPTH: usize = 32;
/// Most value fields we keep; a large Eaton descriptor has a few hundred.
pub const MAX_FIELDS: usize = 4096;
/// Most usages one main item may name (after expanding Usage Minimum..Maximum).
pub const MAX_USAGES: usize = 1024;
/// Depth of the Push/Pop stack.
pub const MAX_PUSH: usize = 8;
/// Longest report, in bits (the kernel's hidraw buffer is 4 KiB).
pub const MAX_REPORT_BITS: u32 = 4096 * 8;

/// Which of the three report kinds a field lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ReportKind {
    Input,
    Output,
    Feature,
}

/// One value in one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub kind: ReportKind,
    /// 0 when the device does not number its reports.
    pub report_id: u8,
    /// Bit offset in the report data, not counting the report ID byte.
    pub bit_offset: u32,
    pub bit_size: u32,
    /// Usages of the enclosing collections (with index pseudo nodes), then the field's own usage.
    pub path: Vec<u32>,
    pub logical_min: i32,
    pub logical_max: i32,
    pub physical_min: i32,
    pub physical_max: i32,
    pub unit: u32,
    pub unit_exponent: i32,
    /// The item said Constant. CyberPower flags real values this way, so they are still kept.
    pub constant: bool,
}

/// Why a descriptor was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescriptorError {
    TooLong(usize),
    /// An item's data runs past the end.
    Truncated {
        at: usize,
    },
    /// A reserved item type, or an unknown main/global tag.
    BadItem {
        at: usize,
        prefix: u8,
    },
    TooDeep {
        at: usize,
    },
    EndWithoutCollection {
        at: usize,
    },
    PopWithoutPush {
        at: usize,
    },
    PushTooDeep {
        at: usize,
    },
    ReportIdZero {
        at: usize,
    },
    ReportTooLong {
        at: usize,
    },
    TooManyFields,
    /// Collections still open at the end.
    Unbalanced,
}

impl std::fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "descriptor is {n} bytes, more than {MAX_DESCRIPTOR}"),
            Self::Truncated { at } => write!(f, "item at byte {at} runs past the end"),
            Self::BadItem { at, prefix } => write!(f, "unknown item 0x{prefix:02x} at byte {at}"),
            Self::TooDeep { at } => {
                write!(f, "collections nested deeper than {MAX_DEPTH} at byte {at}")
            }
            Self::EndWithoutCollection { at } => {
                write!(f, "End Collection without Collection at byte {at}")
            }
            Self::PopWithoutPush { at } => write!(f, "Pop without Push at byte {at}"),
            Self::PushTooDeep { at } => write!(f, "Push deeper than {MAX_PUSH} at byte {at}"),
            Self::ReportIdZero { at } => write!(f, "Report ID 0 at byte {at}"),
            Self::ReportTooLong { at } => write!(
                f,
                "report longer than {} bytes at byte {at}",
                MAX_REPORT_BITS / 8
            ),
            Self::TooManyFields => write!(f, "more than {MAX_FIELDS} fields"),
            Self::Unbalanced => write!(f, "collections left open at the end"),
        }
    }
}

/// A parsed descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub fields: Vec<Field>,
    /// True when any Report ID item appeared: every report then starts with its ID byte.
    pub uses_report_ids: bool,
    /// Usages of the top-level (application) collections, in order.
    pub applications: Vec<u32>,
    /// Length in bits of each report's data (without the ID byte).
    report_bits: BTreeMap<(ReportKind, u8), u32>,
}

impl Descriptor {
    /// Bytes to ask for when reading this report, including the report ID byte if IDs are used.
    pub fn report_len(&self, kind: ReportKind, id: u8) -> Option<usize> {
        let bits = *self.report_bits.get(&(kind, id))?;
        Some(bits.div_ceil(8) as usize + usize::from(self.uses_report_ids))
    }

    /// Every (kind, id) that has at least one bit.
    pub fn reports(&self) -> impl Iterator<Item = (ReportKind, u8)> + '_ {
        self.report_bits.keys().copied()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Globals {
    usage_page: u32,
    logical_min: i32,
    logical_max: i32,
    physical_min: i32,
    physical_max: i32,
    unit_exponent: i32,
    unit: u32,
    report_size: u32,
    report_id: u8,
    report_count: u32,
}

#[derive(Default)]
struct Locals {
    usages: Vec<u32>,
    usage_min: Option<u32>,
}

fn sign_extend(raw: u32, bytes: usize) -> i32 {
    match bytes {
        1 => raw as u8 as i8 as i32,
        2 => raw as u16 as i16 as i32,
        _ => raw as i32,
    }
}

/// Parses a report descriptor.
pub fn parse(bytes: &[u8]) -> Result<Descriptor, DescriptorError> {
    if bytes.len() > MAX_DESCRIPTOR {
        return Err(DescriptorError::TooLong(bytes.len()));
    }
    let mut d = Descriptor::default();
    let mut g = Globals::default();
    let mut stack: Vec<Globals> = Vec::new();
    let mut locals = Locals::default();
    // Path nodes, and how many nodes each open collection pushed (1, or 2 when indexed).
    let mut path: Vec<u32> = Vec::new();
    let mut pushed: Vec<usize> = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let at = pos;
        let prefix = bytes[pos];
        pos += 1;
        if prefix == 0xFE {
            // Long item: size byte, tag byte, data. No standard long items exist; skip them.
            let size = *bytes.get(pos).ok_or(DescriptorError::Truncated { at })? as usize;
            pos = pos
                .checked_add(2 + size)
                .filter(|&p| p <= bytes.len())
                .ok_or(DescriptorError::Truncated { at })?;
            continue;
        }
        let size = match prefix & 3 {
            3 => 4,
            n => n as usize,
        };
        let data = bytes
            .get(pos..pos + size)
            .ok_or(DescriptorError::Truncated { at })?;
        pos += size;
        let raw = data
            .iter()
            .rev()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        let sdata = sign_extend(raw, size);
        let tag = prefix >> 4;
        match (prefix >> 2) & 3 {
            0 => match tag {
                0x8 | 0x9 | 0xB => {
                    let kind = match tag {
                        0x8 => ReportKind::Input,
                        0x9 => ReportKind::Output,
                        _ => ReportKind::Feature,
                    };
                    main_item(&mut d, &g, &locals, &path, kind, raw, at)?;
                }
                0xA => {
                    if pushed.len() >= MAX_DEPTH {
                        return Err(DescriptorError::TooDeep { at });
                    }
                    let usage = locals.usages.first().copied().unwrap_or(0);
                    if pushed.is_empty() && raw == 1 {
                        d.applications.push(usage);
                    }
                    path.push(usage);
                    if raw >= 0x80 {
                        path.push(0x00ff_0000 | (raw & 0x7f));
                        pushed.push(2);
                    } else {
                        pushed.push(1);
                    }
                }
                0xC => {
                    let n = pushed
                        .pop()
                        .ok_or(DescriptorError::EndWithoutCollection { at })?;
                    path.truncate(path.len() - n);
                }
                _ => return Err(DescriptorError::BadItem { at, prefix }),
            },
            1 => match tag {
                0x0 => g.usage_page = raw & 0xffff,
                0x1 => g.logical_min = sdata,
                0x2 => g.logical_max = if g.logical_min < 0 { sdata } else { raw as i32 },
                0x3 => g.physical_min = sdata,
                0x4 => {
                    g.physical_max = if g.physical_min < 0 {
                        sdata
                    } else {
                        raw as i32
                    }
                }
                // A 4-bit two's complement nibble, unless the device wrote a full signed value.
                0x5 => {
                    g.unit_exponent = if raw & !0xf == 0 {
                        ((raw as i32) << 28) >> 28
                    } else {
                        sdata
                    }
                }
                0x6 => g.unit = raw,
                0x7 => g.report_size = raw,
                0x8 => {
                    if raw == 0 || raw > 0xff {
                        return Err(DescriptorError::ReportIdZero { at });
                    }
                    g.report_id = raw as u8;
                    d.uses_report_ids = true;
                }
                0x9 => g.report_count = raw,
                0xA => {
                    if stack.len() >= MAX_PUSH {
                        return Err(DescriptorError::PushTooDeep { at });
                    }
                    stack.push(g);
                }
                0xB => g = stack.pop().ok_or(DescriptorError::PopWithoutPush { at })?,
                _ => return Err(DescriptorError::BadItem { at, prefix }),
            },
            2 => {
                let full = |v: u32| {
                    if size == 4 {
                        v
                    } else {
                        (g.usage_page << 16) | (v & 0xffff)
                    }
                };
                match tag {
                    0x0 if locals.usages.len() < MAX_USAGES => locals.usages.push(full(raw)),
                    0x1 => locals.usage_min = Some(full(raw)),
                    0x2 => {
                        if let Some(min) = locals.usage_min.take() {
                            let max = full(raw);
                            let mut u = min;
                            while u <= max && locals.usages.len() < MAX_USAGES {
                                locals.usages.push(u);
                                if u == u32::MAX {
                                    break;
                                }
                                u += 1;
                            }
                        }
                    }
                    // Designators, strings and delimiters carry nothing we use.
                    _ => {}
                }
                continue; // locals survive until the next main item
            }
            _ => return Err(DescriptorError::BadItem { at, prefix }),
        }
        if (prefix >> 2) & 3 == 0 {
            locals = Locals::default();
        }
    }
    if !pushed.is_empty() {
        return Err(DescriptorError::Unbalanced);
    }
    Ok(d)
}

fn main_item(
    d: &mut Descriptor,
    g: &Globals,
    locals: &Locals,
    path: &[u32],
    kind: ReportKind,
    flags: u32,
    at: usize,
) -> Result<(), DescriptorError> {
    let total = g
        .report_size
        .checked_mul(g.report_count)
        .ok_or(DescriptorError::ReportTooLong { at })?;
    let bits = d.report_bits.entry((kind, g.report_id)).or_insert(0);
    let start = *bits;
    let end = start
        .checked_add(total)
        .filter(|&e| e <= MAX_REPORT_BITS)
        .ok_or(DescriptorError::ReportTooLong { at })?;
    *bits = end;
    let variable = flags & 2 != 0;
    // Arrays (selectors) and fields wider than 32 bits are not single values; only skip over them.
    if !variable || locals.usages.is_empty() || g.report_size == 0 || g.report_size > 32 {
        return Ok(());
    }
    for i in 0..g.report_count {
        if d.fields.len() >= MAX_FIELDS {
            return Err(DescriptorError::TooManyFields);
        }
        let usage = locals.usages[(i as usize).min(locals.usages.len() - 1)];
        let mut p = Vec::with_capacity(path.len() + 1);
        p.extend_from_slice(path);
        p.push(usage);
        d.fields.push(Field {
            kind,
            report_id: g.report_id,
            bit_offset: start + i * g.report_size,
            bit_size: g.report_size,
            path: p,
            logical_min: g.logical_min,
            logical_max: g.logical_max,
            physical_min: g.physical_min,
            physical_max: g.physical_max,
            unit: g.unit,
            unit_exponent: g.unit_exponent,
            constant: flags & 1 != 0,
        });
    }
    Ok(())
}

/// HID's "SI Linear" system counts length in cm and mass in g, so Volt and Watt/VA carry 10^7;
/// NUT calls this the built-in exponent and subtracts it. Other units used by UPSes carry none.
fn builtin_exponent(unit: u32) -> i32 {
    match unit {
        0x00F0_D121 | 0x0000_D121 => 7,
        _ => 0,
    }
}

impl Field {
    /// Raw logical value from a report's data (without the ID byte); None if the data is short.
    pub fn extract(&self, data: &[u8]) -> Option<i64> {
        if self.bit_size == 0 || self.bit_size > 32 {
            return None;
        }
        let end = self.bit_offset.checked_add(self.bit_size)?;
        if end as usize > data.len() * 8 {
            return None;
        }
        let mut v: u64 = 0;
        for i in 0..self.bit_size {
            let bit = self.bit_offset + i;
            let b = (data[(bit / 8) as usize] >> (bit % 8)) & 1;
            v |= u64::from(b) << i;
        }
        if self.logical_min < 0 && self.bit_size < 64 && v & (1 << (self.bit_size - 1)) != 0 {
            Some(v as i64 - (1i64 << self.bit_size))
        } else {
            Some(v as i64)
        }
    }

    /// Logical to physical, then the unit exponent (minus the SI quirk's built-in one).
    pub fn to_physical(&self, raw: i64) -> f64 {
        let mut v = raw as f64;
        let (pmin, pmax) = (self.physical_min as f64, self.physical_max as f64);
        let (lmin, lmax) = (self.logical_min as f64, self.logical_max as f64);
        if !(self.physical_min == 0 && self.physical_max == 0) && lmax != lmin {
            v = (v - lmin) * (pmax - pmin) / (lmax - lmin) + pmin;
        }
        let exp = self.unit_exponent - builtin_exponent(self.unit);
        v * 10f64.powi(exp.clamp(-30, 30))
    }

    /// Extract and convert in one go.
    pub fn value(&self, data: &[u8]) -> Option<f64> {
        self.extract(data).map(|raw| self.to_physical(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_feature_with_voltage_exponent() {
        // Power Device UPS, report 1: one 16-bit feature Voltage, unit Volt, exponent 5 (= 10 mV).
        let desc = [
            0x05, 0x84, 0x09, 0x04, 0xA1, 0x01, 0x85, 0x01, 0x09, 0x30, 0x15, 0x00, 0x27, 0xFF,
            0xFF, 0x00, 0x00, 0x67, 0x21, 0xD1, 0xF0, 0x00, 0x55, 0x05, 0x75, 0x10, 0x95, 0x01,
            0xB1, 0x02, 0xC0,
        ];
        let d = parse(&desc).unwrap();
        assert_eq!(d.applications, vec![0x0084_0004]);
        assert!(d.uses_report_ids);
        let f = &d.fields[0];
        assert_eq!(
            (f.kind, f.report_id, f.bit_offset, f.bit_size),
            (ReportKind::Feature, 1, 0, 16)
        );
        assert_eq!(f.path, vec![0x0084_0004, 0x0084_0030]);
        assert_eq!(d.report_len(ReportKind::Feature, 1), Some(3));
        let v = f.value(&[0x46, 0x05]).unwrap(); // 1350 * 10^(5-7)
        assert!((v - 13.5).abs() < 1e-9, "{v}");
    }

    #[test]
    fn unit_exponent_nibble_is_signed() {
        let desc = [
            0x05, 0x84, 0x09, 0x04, 0xA1, 0x01, 0x09, 0x30, 0x55, 0x0F, 0x25, 0x7F, 0x75, 0x08,
            0x95, 0x01, 0x81, 0x02, 0xC0,
        ];
        let d = parse(&desc).unwrap();
        assert_eq!(d.fields[0].unit_exponent, -1);
        assert!(!d.uses_report_ids);
        assert_eq!(d.report_len(ReportKind::Input, 0), Some(1));
        assert!((d.fields[0].value(&[231]).unwrap() - 23.1).abs() < 1e-9);
    }

    #[test]
    fn one_byte_logical_max_ff_is_unsigned_when_min_is_zero() {
        let desc = [
            0x05, 0x84, 0x09, 0x04, 0xA1, 0x01, 0x09, 0x30, 0x15, 0x00, 0x25, 0xFF, 0x75, 0x08,
            0x95, 0x01, 0xB1, 0x02, 0xC0,
        ];
        let d = parse(&desc).unwrap();
        assert_eq!(d.fields[0].logical_max, 255);
        assert_eq!(d.fields[0].extract(&[0xF0]), Some(240));
    }

    #[test]
    fn negative_logical_min_makes_values_signed() {
        // DelayBeforeShutdown with logical -1..32767: 0xFFFF is -1 (no countdown).
        let desc = [
            0x05, 0x84, 0x09, 0x04, 0xA1, 0x01, 0x09, 0x57, 0x15, 0xFF, 0x26, 0xFF, 0x7F, 0x75,
            0x10, 0x95, 0x01, 0xB1, 0x02, 0xC0,
        ];
        let d = parse(&desc).unwrap();
        assert_eq!(d.fields[0].extract(&[0xFF, 0xFF]), Some(-1));
        assert_eq!(d.fields[0].extract(&[0x14, 0x00]), Some(20));
    }

    #[test]
    fn indexed_collection_adds_pseudo_node() {
        // Flow collection with type 0x84 (Eaton style) containing ConfigVoltage.
        let desc = [
            0x05, 0x84, 0x09, 0x04, 0xA1, 0x01, 0x09, 0x1E, 0xA1, 0x84, 0x09, 0x40, 0x75, 0x08,
            0x95, 0x01, 0xB1, 0x02, 0xC0, 0x09, 0x35, 0xB1, 0x02, 0xC0,
        ];
        let d = parse(&desc).unwrap();
        assert_eq!(
            d.fields[0].path,
            vec![0x0084_0004, 0x0084_001E, 0x00ff_0004, 0x0084_0040]
        );
        // After End Collection the pseudo node is gone again.
        assert_eq!(d.fields[1].path, vec![0x0084_0004, 0x0084_0035]);
        assert_eq!(d.fields[1].bit_offset, 8);
    }

    #[test]
    fn usage_range_and_padding_offsets() {
        // Eight status bits from a usage range, then 8 bits of constant padding, then a byte value.
        let desc = [
            0x05, 0x85, 0x09, 0x04, 0xA1, 0x01, 0x85, 0x02, 0x19, 0x40, 0x29, 0x47, 0x75, 0x01,
            0x95, 0x08, 0x25, 0x01, 0x81, 0x02, 0x75, 0x08, 0x95, 0x01, 0x81, 0x03, 0x09, 0x66,
            0x26, 0xFF, 0x00, 0x81, 0x02, 0xC0,
        ];
        let d = parse(&desc).unwrap();
        assert_eq!(d.fields.len(), 9);
        assert_eq!(d.fields[7].path.last(), Some(&0x0085_0047));
        assert_eq!(d.fields[8].bit_offset, 16);
        assert_eq!(d.report_len(ReportKind::Input, 2), Some(4));
        assert_eq!(d.fields[8].extract(&[0, 0, 99]), Some(99));
        assert_eq!(
            d.fields[8].extract(&[0, 0]),
            None,
            "short report must not be read past its end"
        );
    }

    #[test]
    fn push_pop_restores_globals() {
        let desc = [
            0x05, 0x84, 0x09, 0x04, 0xA1, 0x01, 0x75, 0x08, 0x95, 0x01, 0xA4, 0x75, 0x10, 0x09,
            0x30, 0xB1, 0x02, 0xB4, 0x09, 0x35, 0xB1, 0x02, 0xC0,
        ];
        let d = parse(&desc).unwrap();
        assert_eq!((d.fields[0].bit_size, d.fields[1].bit_size), (16, 8));
    }

    #[test]
    fn malformed_descriptors_are_refused() {
        assert_eq!(
            parse(&[0x05, 0x84, 0x27, 0xFF]),
            Err(DescriptorError::Truncated { at: 2 })
        );
        assert_eq!(
            parse(&[0xC0]),
            Err(DescriptorError::EndWithoutCollection { at: 0 })
        );
        assert_eq!(
            parse(&[0xB4]),
            Err(DescriptorError::PopWithoutPush { at: 0 })
        );
        assert_eq!(parse(&[0xA1, 0x01]), Err(DescriptorError::Unbalanced));
        assert_eq!(
            parse(&[0x85, 0x00]),
            Err(DescriptorError::ReportIdZero { at: 0 })
        );
        assert_eq!(
            parse(&[0x0C]),
            Err(DescriptorError::BadItem {
                at: 0,
                prefix: 0x0C
            })
        );
        assert_eq!(
            parse(&[0xA1, 0x00].repeat(40)),
            Err(DescriptorError::TooDeep { at: 64 })
        );
        assert_eq!(
            parse(&[0xA4].repeat(9)),
            Err(DescriptorError::PushTooDeep { at: 8 })
        );
        assert!(matches!(
            parse(&vec![0u8; MAX_DESCRIPTOR + 1]),
            Err(DescriptorError::TooLong(_))
        ));
        // 0xFFFF count x 32-bit size overflows the 4 KiB report limit.
        let huge = [0x75, 0x20, 0x96, 0xFF, 0xFF, 0x09, 0x01, 0x81, 0x02];
        assert_eq!(parse(&huge), Err(DescriptorError::ReportTooLong { at: 7 }));
    }
}
