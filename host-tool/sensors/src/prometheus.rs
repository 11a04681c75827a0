//! Prometheus text exposition (format 0.0.4) of a set of readings.
//!
//! Names follow what dashboards already graph: `network_ups_tools_*` as DRuggeri/nut_exporter
//! writes them (NUT variable, dots to underscores, values unscaled), `node_hwmon_temp_celsius` and
//! `node_thermal_zone_temp` as node_exporter writes them, and `tessera_*` for what neither has
//! (per-sensor up, USB/1-Wire thermometers, the age of a logged value). Pure formatting, no I/O.

use crate::model::{Kind, Reading, SensorResult, Ups};
use std::collections::HashMap;
use std::fmt::Write;

/// The ups.status flags nut_exporter always exports (0 when absent).
pub const STATUS_FLAGS: &[&str] = &[
    "OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF", "OVER", "TRIM",
    "BOOST", "FSD", "SD",
];

/// Variables that parse as numbers but are identifiers, not measurements.
fn is_identifier(var: &str) -> bool {
    [
        "vendorid",
        "productid",
        "serial",
        "firmware",
        "date",
        "driver.version",
        "ups.id",
        "device.part",
        "macaddr",
    ]
    .iter()
    .any(|s| var.contains(s))
}

type Labels = Vec<(&'static str, String)>;

struct Family {
    help: String,
    samples: Vec<(Labels, f64)>,
}

/// Metric families in first-seen order (the format wants each family's samples together).
#[derive(Default)]
pub struct Exposition {
    order: Vec<String>,
    families: HashMap<String, Family>,
}

impl Exposition {
    fn add(&mut self, name: &str, help: &str, labels: Labels, value: f64) {
        if !value.is_finite() {
            return;
        }
        let fam = self.families.entry(name.to_string()).or_insert_with(|| {
            self.order.push(name.to_string());
            Family {
                help: help.to_string(),
                samples: Vec::new(),
            }
        });
        // The same series twice would make the whole scrape invalid; keep the first.
        if !fam.samples.iter().any(|(l, _)| *l == labels) {
            fam.samples.push((labels, value));
        }
    }

    /// Builds the exposition of `results`.
    pub fn of(results: &[SensorResult]) -> Self {
        let mut e = Self::default();
        for r in results {
            e.add(
                "tessera_sensor_up",
                "1 if the sensor was read in this scrape, 0 if reading it failed.",
                vec![
                    ("sensor", r.id.clone()),
                    ("kind", r.kind.as_str().to_string()),
                ],
                if r.ok() { 1.0 } else { 0.0 },
            );
        }
        for r in results {
            match &r.reading {
                Reading::Error(_) => {}
                Reading::Ups(u) => e.ups(r, u),
                Reading::Temperatures(ts) => {
                    for t in ts {
                        match r.kind {
                            Kind::Hwmon => {
                                e.add(
                                    "node_hwmon_temp_celsius",
                                    "Hardware monitor for temperature (input)",
                                    vec![("chip", r.id.clone()), ("sensor", t.probe.clone())],
                                    t.celsius,
                                );
                                if let Some(l) = &t.label {
                                    e.add(
                                        "node_hwmon_sensor_label",
                                        "Label for given chip and sensor",
                                        vec![
                                            ("chip", r.id.clone()),
                                            ("label", l.clone()),
                                            ("sensor", t.probe.clone()),
                                        ],
                                        1.0,
                                    );
                                }
                            }
                            Kind::Thermal => e.add(
                                "node_thermal_zone_temp",
                                "Zone temperature in Celsius",
                                vec![
                                    ("type", t.label.clone().unwrap_or_default()),
                                    ("zone", t.probe.clone()),
                                ],
                                t.celsius,
                            ),
                            _ => {
                                let labels = vec![
                                    ("sensor", r.id.clone()),
                                    ("kind", r.kind.as_str().to_string()),
                                    ("probe", t.probe.clone()),
                                ];
                                e.add(
                                    "tessera_temperature_celsius",
                                    "Temperature read from a USB or 1-Wire thermometer.",
                                    labels.clone(),
                                    t.celsius,
                                );
                                if let Some(age) = t.age_seconds {
                                    e.add(
                                        "tessera_temperature_age_seconds",
                                        "Age of the temperature value: loggers report their newest stored record.",
                                        labels,
                                        age,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        e
    }

    fn ups(&mut self, r: &SensorResult, u: &Ups) {
        let base = || vec![("ups", u.name.clone()), ("sensor", r.id.clone())];
        for (var, value) in &u.vars {
            if is_identifier(var) || var == "ups.status" {
                continue;
            }
            let v = match value.trim().parse::<f64>() {
                Ok(v) => v,
                // nut_exporter's rule for on/off strings such as ups.beeper.status.
                Err(_) => match value.trim().to_ascii_lowercase().as_str() {
                    "enable" | "enabled" | "on" | "true" | "active" | "activated" => 1.0,
                    "disable" | "disabled" | "off" | "false" | "inactive" | "deactivated" => 0.0,
                    _ => continue,
                },
            };
            let name = format!("network_ups_tools_{}", var.replace(['.', '-'], "_"));
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            self.add(
                &name,
                &format!("Value of the NUT variable {var}"),
                base(),
                v,
            );
        }
        let tokens: Vec<&str> = u
            .vars
            .get("ups.status")
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default();
        for flag in STATUS_FLAGS {
            let mut l = base();
            l.push(("flag", flag.to_string()));
            self.add(
                "network_ups_tools_ups_status",
                "UPS status flag (ups.status)",
                l,
                if tokens.contains(flag) { 1.0 } else { 0.0 },
            );
        }
        let get = |k: &str| {
            u.vars
                .get(k)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let mut l = base();
        l.extend([
            ("mfr", get("device.mfr")),
            ("model", get("device.model")),
            ("serial", get("device.serial")),
            ("type", get("device.type")),
        ]);
        self.add(
            "network_ups_tools_device_info",
            "UPS device information",
            l,
            1.0,
        );
    }

    /// The text format; `skip_node` leaves out `node_*` families (for node_exporter's textfile
    /// collector, which refuses names it exports itself).
    pub fn render(&self, skip_node: bool) -> String {
        let mut out = String::new();
        for name in &self.order {
            if skip_node && name.starts_with("node_") {
                continue;
            }
            let fam = &self.families[name];
            let _ = writeln!(
                out,
                "# HELP {name} {}",
                fam.help.replace('\\', "\\\\").replace('\n', "\\n")
            );
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (labels, v) in &fam.samples {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, val)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let val = val
                            .replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace('\n', "\\n");
                        let _ = write!(out, "{k}=\"{val}\"");
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {v}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SensorError;
    use crate::model::Temperature;
    use std::collections::BTreeMap;

    fn ups() -> SensorResult {
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("battery.charge", "100"),
            ("ups.status", "OL CHRG"),
            ("ups.vendorid", "0463"),
            ("ups.beeper.status", "enabled"),
            ("device.model", "Eaton \"3S\" 550"),
        ] {
            vars.insert(k.to_string(), v.to_string());
        }
        SensorResult {
            id: "eaton@h:1".into(),
            kind: Kind::UpsNut,
            reading: Reading::Ups(Ups::new("eaton", vars)),
        }
    }

    #[test]
    fn ups_metrics_use_nut_exporter_names() {
        let text = Exposition::of(&[ups()]).render(false);
        assert!(
            text.contains(
                "network_ups_tools_battery_charge{ups=\"eaton\",sensor=\"eaton@h:1\"} 100\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "network_ups_tools_ups_status{ups=\"eaton\",sensor=\"eaton@h:1\",flag=\"OL\"} 1\n"
        ));
        assert!(text.contains("flag=\"OB\"} 0\n"));
        assert!(text.contains(
            "network_ups_tools_ups_beeper_status{ups=\"eaton\",sensor=\"eaton@h:1\"} 1\n"
        ));
        assert!(!text.contains("vendorid"), "an id is not a measurement");
        assert!(
            text.contains("model=\"Eaton \\\"3S\\\" 550\""),
            "quotes in label values are escaped"
        );
        assert_eq!(
            text.matches("# TYPE network_ups_tools_ups_status gauge")
                .count(),
            1
        );
    }

    #[test]
    fn failed_sensor_is_up_zero_and_textfile_skips_node_families() {
        let results = vec![
            SensorResult::error(
                "/dev/hidraw0",
                Kind::UpsHid,
                SensorError::Unplugged {
                    device: "/dev/hidraw0".into(),
                },
            ),
            SensorResult {
                id: "coretemp".into(),
                kind: Kind::Hwmon,
                reading: Reading::Temperatures(vec![Temperature {
                    probe: "temp1".into(),
                    label: None,
                    celsius: 41.5,
                    age_seconds: None,
                }]),
            },
        ];
        let e = Exposition::of(&results);
        let text = e.render(false);
        assert!(text.contains("tessera_sensor_up{sensor=\"/dev/hidraw0\",kind=\"ups_hid\"} 0\n"));
        assert!(text.contains("node_hwmon_temp_celsius{chip=\"coretemp\",sensor=\"temp1\"} 41.5\n"));
        assert!(!e.render(true).contains("node_hwmon"));
    }
}
