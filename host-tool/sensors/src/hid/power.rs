//! From a parsed Power Device descriptor and its reports to NUT variables (`battery.charge`,
//! `ups.status`, ...), following NUT's usbhid-ups/mge-hid mapping so numbers match what `upsc`
//! shows for the same UPS. Eaton/MGE paths come first in every candidate list, then the plainer
//! layouts APC and CyberPower use. No I/O here: reports come from a caller-supplied closure.

use super::descriptor::{Descriptor, Field, ReportKind};
use super::usage;
use crate::error::SensorError;
use std::collections::{BTreeMap, HashMap};

/// Eaton / MGE UPS Systems USB vendor id.
pub const EATON_VENDOR: u16 = 0x0463;

/// Who the device says it is (from hidraw's HIDIOCGRAWINFO/NAME/UNIQ or sysfs uevent).
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub vendor: u16,
    pub product: u16,
    /// "EATON Eaton 3S": the kernel joins USB manufacturer and product strings.
    pub name: Option<String>,
    pub serial: Option<String>,
}

/// True if any top-level collection is on the Power Device or Battery System page.
pub fn is_power_device(d: &Descriptor) -> bool {
    d.applications
        .iter()
        .any(|&u| matches!(u >> 16, 0x84 | 0x85))
}

/// How a value is printed, as NUT prints it.
#[derive(Clone, Copy)]
enum Fmt {
    Int,
    OneDecimal,
    Celsius,
    Beeper,
}

/// NUT variable, accepted path suffixes in order of preference, format.
const VARS: &[(&str, &[&str], Fmt)] = &[
    (
        "battery.charge",
        &[
            "PowerSummary.RemainingCapacity",
            "Battery.RemainingCapacity",
        ],
        Fmt::Int,
    ),
    (
        "battery.charge.low",
        &[
            "PowerSummary.RemainingCapacityLimit",
            "Battery.RemainingCapacityLimit",
        ],
        Fmt::Int,
    ),
    (
        "battery.charge.warning",
        &[
            "PowerSummary.WarningCapacityLimit",
            "Battery.WarningCapacityLimit",
        ],
        Fmt::Int,
    ),
    (
        "battery.runtime",
        &["PowerSummary.RunTimeToEmpty", "Battery.RunTimeToEmpty"],
        Fmt::Int,
    ),
    (
        "battery.runtime.low",
        &[
            "PowerSummary.RemainingTimeLimit",
            "Battery.RemainingTimeLimit",
        ],
        Fmt::Int,
    ),
    (
        "battery.voltage",
        &[
            "BatterySystem.Voltage",
            "Battery.Voltage",
            "PowerSummary.Voltage",
        ],
        Fmt::OneDecimal,
    ),
    (
        "battery.voltage.nominal",
        &["PowerSummary.ConfigVoltage", "Battery.ConfigVoltage"],
        Fmt::OneDecimal,
    ),
    (
        "battery.temperature",
        &["BatterySystem.Battery.Temperature", "Battery.Temperature"],
        Fmt::Celsius,
    ),
    (
        "input.voltage",
        &[
            "PowerConverter.Input.[1].Voltage",
            "PowerConverter.Input.Voltage",
            "UPS.Input.Voltage",
        ],
        Fmt::OneDecimal,
    ),
    (
        "input.voltage.nominal",
        &["Flow.[1].ConfigVoltage", "UPS.Input.ConfigVoltage"],
        Fmt::Int,
    ),
    (
        "input.frequency",
        &["PowerConverter.Input.[1].Frequency", "UPS.Input.Frequency"],
        Fmt::OneDecimal,
    ),
    (
        "input.transfer.low",
        &[
            "PowerConverter.Output.LowVoltageTransfer",
            "UPS.Input.LowVoltageTransfer",
            "UPS.Output.LowVoltageTransfer",
        ],
        Fmt::Int,
    ),
    (
        "input.transfer.high",
        &[
            "PowerConverter.Output.HighVoltageTransfer",
            "UPS.Input.HighVoltageTransfer",
            "UPS.Output.HighVoltageTransfer",
        ],
        Fmt::Int,
    ),
    (
        "output.voltage",
        &["PowerConverter.Output.Voltage", "UPS.Output.Voltage"],
        Fmt::OneDecimal,
    ),
    (
        "output.voltage.nominal",
        &["Flow.[4].ConfigVoltage", "UPS.Output.ConfigVoltage"],
        Fmt::Int,
    ),
    (
        "output.frequency",
        &["PowerConverter.Output.Frequency", "UPS.Output.Frequency"],
        Fmt::OneDecimal,
    ),
    (
        "output.frequency.nominal",
        &["Flow.[4].ConfigFrequency", "UPS.Output.ConfigFrequency"],
        Fmt::Int,
    ),
    (
        "ups.load",
        &[
            "PowerSummary.PercentLoad",
            "UPS.Output.PercentLoad",
            "PowerConverter.PercentLoad",
        ],
        Fmt::Int,
    ),
    (
        "ups.power",
        &[
            "PowerConverter.Output.ApparentPower",
            "UPS.Output.ApparentPower",
        ],
        Fmt::Int,
    ),
    (
        "ups.power.nominal",
        &[
            "Flow.[4].ConfigApparentPower",
            "UPS.Output.ConfigApparentPower",
            "PowerSummary.ConfigApparentPower",
        ],
        Fmt::Int,
    ),
    (
        "ups.realpower",
        &[
            "PowerConverter.Output.ActivePower",
            "UPS.Output.ActivePower",
        ],
        Fmt::Int,
    ),
    (
        "ups.realpower.nominal",
        &["Flow.[4].ConfigActivePower", "UPS.Output.ConfigActivePower"],
        Fmt::Int,
    ),
    (
        "ups.temperature",
        &["PowerSummary.Temperature"],
        Fmt::Celsius,
    ),
    (
        "ups.beeper.status",
        &[
            "PowerSummary.AudibleAlarmControl",
            "UPS.AudibleAlarmControl",
        ],
        Fmt::Beeper,
    ),
];

/// The PresentStatus bits that make up `ups.status`.
const BITS: &[&str] = &[
    "ACPresent",
    "Charging",
    "Discharging",
    "BelowRemainingCapacityLimit",
    "RemainingTimeLimitExpired",
    "ShutdownImminent",
    "NeedReplacement",
    "Overload",
    "FullyCharged",
];

/// Fields matching the suffixes, best first: by suffix order, then Feature before Input (NUT
/// reads Feature reports by default; the Input copy is the fallback when the Feature one fails).
fn candidates<'a>(d: &'a Descriptor, paths: &[String], suffixes: &[&str]) -> Vec<&'a Field> {
    let mut out = Vec::new();
    for suffix in suffixes {
        let dotted = format!(".{suffix}");
        for kind in [ReportKind::Feature, ReportKind::Input] {
            let hit =
                d.fields.iter().zip(paths).find(|(f, p)| {
                    f.kind == kind && (p.as_str() == *suffix || p.ends_with(&dotted))
                });
            if let Some((f, _)) = hit {
                out.push(f);
            }
        }
    }
    out
}

/// Fetches a report: `(kind, id, length in bytes including the ID byte)` to the report's bytes.
pub type Fetch<'a> = dyn FnMut(ReportKind, u8, usize) -> Result<Vec<u8>, SensorError> + 'a;

struct Reader<'a, 'b> {
    d: &'a Descriptor,
    fetch: &'a mut Fetch<'b>,
    cache: HashMap<(ReportKind, u8), Option<Vec<u8>>>,
}

impl Reader<'_, '_> {
    /// The first candidate that yields a value.
    fn first(&mut self, fields: &[&Field]) -> Result<Option<f64>, SensorError> {
        for f in fields {
            if let Some(v) = self.value(f)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The field's physical value. Errors that mean the device is gone abort the whole read;
    /// a report the device refuses (a stall) only loses that value.
    fn value(&mut self, f: &Field) -> Result<Option<f64>, SensorError> {
        let key = (f.kind, f.report_id);
        if !self.cache.contains_key(&key) {
            let len = self.d.report_len(f.kind, f.report_id).unwrap_or(1);
            let got = match (self.fetch)(f.kind, f.report_id, len) {
                Ok(bytes) => Some(bytes),
                Err(
                    e @ (SensorError::Unplugged { .. }
                    | SensorError::PermissionDenied { .. }
                    | SensorError::NotFound { .. }),
                ) => return Err(e),
                Err(_) => None,
            };
            self.cache.insert(key, got);
        }
        let Some(Some(bytes)) = self.cache.get(&key) else {
            return Ok(None);
        };
        let data = if self.d.uses_report_ids {
            match bytes.split_first() {
                Some((&id, rest)) if id == f.report_id => rest,
                _ => return Ok(None),
            }
        } else {
            bytes.as_slice()
        };
        Ok(f.value(data))
    }
}

fn format(v: f64, fmt: Fmt) -> Option<String> {
    match fmt {
        Fmt::Int => Some(format!("{v:.0}")),
        Fmt::OneDecimal => Some(format!("{v:.1}")),
        // HID says Kelvin; some firmware sends Celsius anyway. NUT's rule: only 273..373 is Kelvin.
        Fmt::Celsius => Some(format!(
            "{:.1}",
            if (273.0..=373.0).contains(&v) {
                v - 273.15
            } else {
                v
            }
        )),
        Fmt::Beeper => match v as i64 {
            1 => Some("disabled".into()),
            2 => Some("enabled".into()),
            3 => Some("muted".into()),
            _ => None,
        },
    }
}

/// Reads every mapped value and builds NUT variables, `ups.status` included.
pub fn decode(
    d: &Descriptor,
    ident: &Identity,
    fetch: &mut Fetch<'_>,
) -> Result<BTreeMap<String, String>, SensorError> {
    let paths: Vec<String> = d.fields.iter().map(|f| usage::path(&f.path)).collect();
    let mut r = Reader {
        d,
        fetch,
        cache: HashMap::new(),
    };
    let mut vars = BTreeMap::new();
    for (var, suffixes, fmt) in VARS {
        let mut suffixes: Vec<&str> = suffixes.to_vec();
        // mge-hid trusts PowerSummary.Voltage as battery voltage only on models that are not the 3S
        // family; on a 3S it is not the battery voltage, so leave it out for every Eaton.
        if *var == "battery.voltage" && ident.vendor == EATON_VENDOR {
            suffixes.retain(|s| *s != "PowerSummary.Voltage");
        }
        if let Some(v) = r.first(&candidates(d, &paths, &suffixes))? {
            if let Some(s) = format(v, *fmt) {
                vars.insert(var.to_string(), s);
            }
        }
    }
    let mut bits: HashMap<&str, bool> = HashMap::new();
    for bit in BITS {
        let suffixes = [
            format!("PowerSummary.PresentStatus.{bit}"),
            format!("PresentStatus.{bit}"),
        ];
        let suffixes: Vec<&str> = suffixes.iter().map(String::as_str).collect();
        if let Some(v) = r.first(&candidates(d, &paths, &suffixes))? {
            bits.insert(bit, v != 0.0);
        }
    }
    if vars.is_empty() && bits.is_empty() {
        return Err(SensorError::NoData {
            device: String::new(),
            detail: "the device answered no UPS report".into(),
            fix: "check that no NUT driver or other program holds the UPS, then replug it".into(),
        });
    }
    let bit = |name: &str| bits.get(name).copied();
    let mut status = Vec::new();
    match bit("ACPresent") {
        Some(true) => status.push("OL"),
        Some(false) => status.push("OB"),
        None => {}
    }
    if bit("Discharging") == Some(true) {
        status.push("DISCHRG");
    }
    let charge = vars
        .get("battery.charge")
        .and_then(|c| c.parse::<f64>().ok());
    // NUT shows CHRG only while charging and not yet full.
    if bit("Charging") == Some(true)
        && bit("FullyCharged") != Some(true)
        && charge.is_none_or(|c| c < 100.0)
    {
        status.push("CHRG");
    }
    if bit("BelowRemainingCapacityLimit") == Some(true)
        || bit("RemainingTimeLimitExpired") == Some(true)
        || bit("ShutdownImminent") == Some(true)
    {
        status.push("LB");
    }
    if bit("NeedReplacement") == Some(true) {
        status.push("RB");
    }
    if bit("Overload") == Some(true) {
        status.push("OVER");
    }
    if bit("ShutdownImminent") == Some(true) {
        vars.insert("ups.alarm".into(), "Shutdown imminent!".into());
    }
    vars.insert("ups.status".into(), status.join(" "));
    identity_vars(ident, &mut vars);
    Ok(vars)
}

fn identity_vars(ident: &Identity, vars: &mut BTreeMap<String, String>) {
    vars.insert("ups.vendorid".into(), format!("{:04x}", ident.vendor));
    vars.insert("ups.productid".into(), format!("{:04x}", ident.product));
    vars.insert("device.type".into(), "ups".into());
    if let Some(name) = ident
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        // The kernel's name is "<manufacturer> <product>"; the 3S says "EATON Eaton 3S".
        let (mfr, model) = match name.split_once(' ') {
            Some((m, p)) => (m.to_string(), p.trim().to_string()),
            None => (name.to_string(), name.to_string()),
        };
        vars.insert("device.mfr".into(), mfr);
        vars.insert("device.model".into(), model);
    }
    // The 3S has no usable serial: "000000000" or "Blank".
    if let Some(serial) = ident
        .serial
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "Blank" && !s.chars().all(|c| c == '0'))
    {
        vars.insert("device.serial".into(), serial.to_string());
    }
}
