//! What a reading is, independent of where it came from.
//!
//! A UPS is kept as NUT variables (`battery.charge`, `ups.status`, ...) whatever the source, so a
//! UPS read over hidraw and one read from upsd look the same to every output. This module holds
//! data only: no I/O, no formatting beyond small helpers.

use crate::error::SensorError;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a reading came from; decides the metric family names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A USB HID Power Device read directly over /dev/hidrawN.
    UpsHid,
    /// A UPS read from a NUT upsd.
    UpsNut,
    /// An Elitech USB logger (newest logged record).
    Elitech,
    /// A PCsensor TEMPer stick.
    Temper,
    /// A 1-Wire thermometer (DS18B20 and friends).
    W1,
    /// A Linux hwmon chip.
    Hwmon,
    /// A Linux thermal zone.
    Thermal,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UpsHid => "ups_hid",
            Kind::UpsNut => "ups_nut",
            Kind::Elitech => "elitech",
            Kind::Temper => "temper",
            Kind::W1 => "w1",
            Kind::Hwmon => "hwmon",
            Kind::Thermal => "thermal",
        }
    }
}

/// One sensor (a UPS, a probe, a hwmon chip) and what reading it gave.
#[derive(Debug, Clone, Serialize)]
pub struct SensorResult {
    /// Stable id, used as the `sensor` label: `/dev/hidraw0`, `eaton3s@127.0.0.1:3493`, `28-0000061b587b`.
    pub id: String,
    pub kind: Kind,
    #[serde(flatten)]
    pub reading: Reading,
}

/// The reading, or why there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    Ups(Ups),
    Temperatures(Vec<Temperature>),
    Error(SensorError),
}

impl SensorResult {
    pub fn ok(&self) -> bool {
        !matches!(self.reading, Reading::Error(_))
    }
    pub fn error(id: impl Into<String>, kind: Kind, e: SensorError) -> Self {
        Self {
            id: id.into(),
            kind,
            reading: Reading::Error(e),
        }
    }
}

/// One temperature value of a sensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Temperature {
    /// Which probe of the sensor: `temp1`, `internal`, `external`, the zone number.
    pub probe: String,
    /// Human label if the device gives one (hwmon `tempN_label`, thermal zone type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub celsius: f64,
    /// Age of the value when it is a logged record rather than a live reading (Elitech).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<f64>,
}

/// A UPS as NUT variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ups {
    /// NUT's UPS name, or the hidraw node's name.
    pub name: String,
    pub vars: BTreeMap<String, String>,
    pub status: UpsStatus,
}

/// The status flags an admin acts on, decoded from `ups.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpsStatus {
    pub on_line: bool,
    pub on_battery: bool,
    pub charging: bool,
    pub discharging: bool,
    pub low_battery: bool,
    pub replace_battery: bool,
    pub overload: bool,
    pub shutdown_imminent: bool,
}

impl UpsStatus {
    /// Reads the NUT `ups.status` token list; unknown tokens are ignored (drivers add new ones).
    pub fn from_tokens(status: &str) -> Self {
        let mut s = Self::default();
        for t in status.split_whitespace() {
            match t {
                "OL" => s.on_line = true,
                "OB" => s.on_battery = true,
                "CHRG" => s.charging = true,
                "DISCHRG" => s.discharging = true,
                "LB" => s.low_battery = true,
                "RB" => s.replace_battery = true,
                "OVER" => s.overload = true,
                // upsd sets FSD when a primary decided to shut down: the UPS is about to cut power.
                "FSD" => s.shutdown_imminent = true,
                _ => {}
            }
        }
        s
    }
}

impl Ups {
    pub fn new(name: impl Into<String>, vars: BTreeMap<String, String>) -> Self {
        let status =
            UpsStatus::from_tokens(vars.get("ups.status").map(String::as_str).unwrap_or(""));
        Self {
            name: name.into(),
            vars,
            status,
        }
    }

    /// A variable as a number, if it is one.
    pub fn num(&self, var: &str) -> Option<f64> {
        self.vars
            .get(var)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_tokens_decode() {
        let s = UpsStatus::from_tokens("OB DISCHRG LB WEIRD");
        assert!(s.on_battery && s.discharging && s.low_battery);
        assert!(!s.on_line && !s.charging && !s.replace_battery);
    }

    #[test]
    fn ups_num_ignores_strings() {
        let mut vars = BTreeMap::new();
        vars.insert("battery.charge".to_string(), "87".to_string());
        vars.insert("device.model".to_string(), "Eaton 3S 550".to_string());
        let u = Ups::new("x", vars);
        assert_eq!(u.num("battery.charge"), Some(87.0));
        assert_eq!(u.num("device.model"), None);
    }
}
