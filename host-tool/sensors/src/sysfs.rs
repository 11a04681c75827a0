//! Thermometers the kernel already exposes in sysfs: 1-Wire (w1_therm), hwmon chips and thermal
//! zones. The sysfs root is a parameter so tests point it at a fixture tree. Reads are small
//! single-file reads; a file that fails to read is an error for that sensor only.

use crate::error::SensorError;
use crate::model::{Kind, Reading, SensorResult, Temperature};
use std::fs;
use std::path::Path;

/// w1 family codes of thermometers: DS18S20, DS1822, DS18B20, DS1825, DS28EA00.
const W1_THERM_FAMILIES: &[&str] = &["10", "22", "28", "3b", "42"];

/// The power-on value of a DS18B20's register: a read that reports it usually means the
/// conversion never ran (bad wiring or parasite power too weak).
const W1_POWER_ON_MILLI: i64 = 85_000;

/// Parses `w1_slave`: line 1 ends in `crc=xx YES|NO`, line 2 ends in `t=<millidegrees>`.
pub fn parse_w1_slave(text: &str) -> Result<f64, String> {
    let mut lines = text.lines();
    let crc = lines.next().ok_or("empty w1_slave")?;
    if !crc.trim_end().ends_with("YES") {
        return Err("CRC check failed (line 1 does not end in YES)".into());
    }
    let t = lines
        .next()
        .and_then(|l| l.rsplit_once("t="))
        .ok_or("no t= value")?
        .1
        .trim();
    let milli: i64 = t.parse().map_err(|_| format!("t={t} is not a number"))?;
    if milli == W1_POWER_ON_MILLI {
        return Err("reads the power-on value 85 °C: the conversion did not run".into());
    }
    Ok(milli as f64 / 1000.0)
}

/// Every 1-Wire thermometer under `<sysfs>/bus/w1/devices`.
pub fn read_w1(sysfs: &Path) -> Vec<SensorResult> {
    let Ok(entries) = fs::read_dir(sysfs.join("bus/w1/devices")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.split_once('-').is_some_and(|(fam, _)| {
                W1_THERM_FAMILIES.contains(&fam.to_ascii_lowercase().as_str())
            })
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let file = sysfs.join("bus/w1/devices").join(&name).join("w1_slave");
            let shown = file.display().to_string();
            let reading = match fs::read_to_string(&file) {
                Err(e) => Reading::Error(SensorError::from_io(&shown, &e)),
                Ok(text) => match parse_w1_slave(&text) {
                    Ok(celsius) => Reading::Temperatures(vec![Temperature {
                        probe: "temp1".into(),
                        label: None,
                        celsius,
                        age_seconds: None,
                    }]),
                    Err(detail) => Reading::Error(SensorError::Garbled {
                        device: shown,
                        detail,
                    }),
                },
            };
            SensorResult {
                id: name,
                kind: Kind::W1,
                reading,
            }
        })
        .collect()
}

/// node_exporter's label cleaning: lower case, anything outside `[a-z0-9:_]` becomes `_`.
fn clean(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The `chip` label node_exporter gives a hwmon dir: `<parent dir>_<device dir>` of the resolved
/// `device` link, else the `name` file, else the hwmon dir's own name.
pub fn hwmon_chip(dir: &Path) -> String {
    if let Ok(real) = fs::canonicalize(dir.join("device")) {
        if let (Some(dev), Some(parent)) =
            (real.file_name(), real.parent().and_then(Path::file_name))
        {
            return clean(&format!(
                "{}_{}",
                parent.to_string_lossy(),
                dev.to_string_lossy()
            ));
        }
    }
    if let Ok(name) = fs::read_to_string(dir.join("name")) {
        return clean(name.trim());
    }
    clean(
        &dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

fn read_trimmed(p: &Path) -> std::io::Result<String> {
    fs::read_to_string(p).map(|s| s.trim().to_string())
}

/// Every hwmon chip with at least one `tempN_input`; the sensor id is the chip label.
pub fn read_hwmon(sysfs: &Path) -> Vec<SensorResult> {
    let Ok(entries) = fs::read_dir(sysfs.join("class/hwmon")) else {
        return Vec::new();
    };
    let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(files) = fs::read_dir(&dir) else {
            continue;
        };
        let mut probes: Vec<String> = files
            .flatten()
            .filter_map(|f| {
                let n = f.file_name().to_string_lossy().into_owned();
                let stem = n.strip_suffix("_input")?;
                stem.strip_prefix("temp")
                    .filter(|i| i.parse::<u32>().is_ok())
                    .map(|_| stem.to_string())
            })
            .collect();
        if probes.is_empty() {
            continue;
        }
        probes.sort_by_key(|p| p[4..].parse::<u32>().unwrap_or(0));
        let chip = hwmon_chip(&dir);
        let mut temps = Vec::new();
        let mut error = None;
        for probe in probes {
            let file = dir.join(format!("{probe}_input"));
            // A fault flag of 1 means the driver knows the value is wrong.
            if read_trimmed(&dir.join(format!("{probe}_fault"))).is_ok_and(|f| f == "1") {
                continue;
            }
            match read_trimmed(&file).map(|s| s.parse::<i64>()) {
                Ok(Ok(milli)) => temps.push(Temperature {
                    label: read_trimmed(&dir.join(format!("{probe}_label"))).ok(),
                    probe,
                    celsius: milli as f64 / 1000.0,
                    age_seconds: None,
                }),
                Ok(Err(_)) => {
                    error = Some(SensorError::Garbled {
                        device: file.display().to_string(),
                        detail: "not an integer".into(),
                    })
                }
                // ENODATA and friends: a disabled sensor; skip it like node_exporter does.
                Err(e)
                    if e.raw_os_error() == Some(61)
                        || e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => error = Some(SensorError::from_io(&file.display().to_string(), &e)),
            }
        }
        let reading = match (temps.is_empty(), error) {
            (true, Some(e)) => Reading::Error(e),
            _ => Reading::Temperatures(temps),
        };
        out.push(SensorResult {
            id: chip,
            kind: Kind::Hwmon,
            reading,
        });
    }
    out
}

/// Every `thermal_zoneN`; the sensor id is `thermal_zoneN`, the label its `type`.
pub fn read_thermal(sysfs: &Path) -> Vec<SensorResult> {
    let Ok(entries) = fs::read_dir(sysfs.join("class/thermal")) else {
        return Vec::new();
    };
    let mut zones: Vec<(u32, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            Some((n.strip_prefix("thermal_zone")?.parse().ok()?, e.path()))
        })
        .collect();
    zones.sort();
    zones
        .into_iter()
        .map(|(n, dir)| {
            let file = dir.join("temp");
            let reading = match read_trimmed(&file).map(|s| s.parse::<i64>()) {
                Ok(Ok(milli)) => Reading::Temperatures(vec![Temperature {
                    probe: n.to_string(),
                    label: read_trimmed(&dir.join("type")).ok(),
                    celsius: milli as f64 / 1000.0,
                    age_seconds: None,
                }]),
                Ok(Err(_)) => Reading::Error(SensorError::Garbled {
                    device: file.display().to_string(),
                    detail: "not an integer".into(),
                }),
                Err(e) => Reading::Error(SensorError::from_io(&file.display().to_string(), &e)),
            };
            SensorResult {
                id: format!("thermal_zone{n}"),
                kind: Kind::Thermal,
                reading,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w1_slave_good_bad_and_power_on() {
        let good = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
        assert_eq!(parse_w1_slave(good), Ok(23.125));
        let bad = "72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
        assert!(parse_w1_slave(bad).unwrap_err().contains("CRC"));
        let por = "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n";
        assert!(parse_w1_slave(por).unwrap_err().contains("85"));
        assert!(parse_w1_slave("").is_err());
        let neg = "5e ff 4b 46 7f ff 02 10 ff : crc=ff YES\n5e ff 4b 46 7f ff 02 10 ff t=-10125\n";
        assert_eq!(parse_w1_slave(neg), Ok(-10.125));
    }

    #[test]
    fn clean_like_node_exporter() {
        assert_eq!(clean("Platform-Coretemp.0"), "platform_coretemp_0");
    }
}
