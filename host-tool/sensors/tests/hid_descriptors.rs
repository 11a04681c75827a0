//! The HID parser and the Power Device mapping against report descriptors of real UPS units
//! (fixtures/hid/*.hex say where each comes from), malformed descriptors, and random bytes.

use proptest::prelude::*;
use std::collections::HashMap;
use tessera_sensors::hid::descriptor::{parse, Descriptor, DescriptorError, Field, ReportKind};
use tessera_sensors::hid::power::{self, Identity};
use tessera_sensors::hid::usage;
use tessera_sensors::SensorError;

fn hex(text: &str) -> Vec<u8> {
    text.lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| {
            l.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

const CPS: &str = include_str!("fixtures/hid/cyberpower-cst135uc2.hex");
const EATON: &str = include_str!("fixtures/hid/eaton-mge-layout.hex");

fn field<'a>(d: &'a Descriptor, kind: ReportKind, path: &str) -> &'a Field {
    d.fields
        .iter()
        .find(|f| f.kind == kind && usage::path(&f.path) == path)
        .unwrap_or_else(|| panic!("no {kind:?} field {path}"))
}

/// Builds a report's bytes (ID first) from (field, raw value) pairs, as the device would send it.
fn report(d: &Descriptor, kind: ReportKind, id: u8, values: &[(&Field, u32)]) -> Vec<u8> {
    let len = d.report_len(kind, id).unwrap();
    let mut buf = vec![0u8; len];
    buf[0] = id;
    for (f, v) in values {
        for i in 0..f.bit_size {
            if v >> i & 1 == 1 {
                let bit = 8 + f.bit_offset + i;
                buf[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
    }
    buf
}

#[test]
fn cyberpower_cst135uc2_capture_layout() {
    let d = parse(&hex(CPS)).unwrap();
    assert_eq!(hex(CPS).len(), 726);
    assert!(power::is_power_device(&d));
    assert!(d.uses_report_ids);
    let charge = field(&d, ReportKind::Input, "UPS.PowerSummary.RemainingCapacity");
    assert_eq!(
        (charge.report_id, charge.bit_offset, charge.bit_size),
        (0x08, 0, 8)
    );
    let runtime = field(&d, ReportKind::Input, "UPS.PowerSummary.RunTimeToEmpty");
    assert_eq!(
        (runtime.report_id, runtime.bit_offset, runtime.bit_size),
        (0x08, 8, 16)
    );
    let ac = field(
        &d,
        ReportKind::Input,
        "UPS.PowerSummary.PresentStatus.ACPresent",
    );
    assert_eq!((ac.report_id, ac.bit_offset), (0x0B, 0));
    assert_eq!(
        field(
            &d,
            ReportKind::Input,
            "UPS.PowerSummary.PresentStatus.Discharging"
        )
        .bit_offset,
        2
    );
    assert_eq!(
        field(&d, ReportKind::Feature, "UPS.Input.Voltage").report_id,
        0x0F
    );
    assert_eq!(
        field(&d, ReportKind::Feature, "UPS.Output.Voltage").report_id,
        0x12
    );
    assert_eq!(
        field(&d, ReportKind::Feature, "UPS.Output.PercentLoad").report_id,
        0x13
    );
    // Battery voltage: unit volt with exponent 6, i.e. 0.1 V after the SI quirk's 10^7.
    let batt = field(&d, ReportKind::Feature, "UPS.PowerSummary.Voltage");
    assert_eq!(
        (batt.report_id, batt.unit, batt.unit_exponent),
        (0x0A, 0x00F0_D121, 6)
    );
    assert!((batt.to_physical(137) - 13.7).abs() < 1e-9);
    // Most of its values are flagged Constant, yet they are the real readings.
    assert!(charge.constant);
    // DelayBeforeShutdown has logical minimum -1: 0xFFFF is -1 (no countdown), not 65535.
    let delay = field(&d, ReportKind::Feature, "UPS.Output.DelayBeforeShutdown");
    assert_eq!(delay.extract(&[0xff, 0xff]), Some(-1));
    // Feature report 8: charge (8 bit), runtime (16), RemainingTimeLimit (16), plus the ID byte.
    assert_eq!(d.report_len(ReportKind::Feature, 0x08), Some(6));
}

#[test]
fn cyberpower_reports_decode_to_nut_variables() {
    let d = parse(&hex(CPS)).unwrap();
    let f = |kind, p| field(&d, kind, p);
    use ReportKind::Feature as F;
    let mut reports: HashMap<u8, Vec<u8>> = HashMap::new();
    reports.insert(
        8,
        report(
            &d,
            F,
            8,
            &[
                (f(F, "UPS.PowerSummary.RemainingCapacity"), 87),
                (f(F, "UPS.PowerSummary.RunTimeToEmpty"), 3200),
            ],
        ),
    );
    reports.insert(
        0x0A,
        report(&d, F, 0x0A, &[(f(F, "UPS.PowerSummary.Voltage"), 137)]),
    );
    reports.insert(
        0x0B,
        report(
            &d,
            F,
            0x0B,
            &[
                (f(F, "UPS.PowerSummary.PresentStatus.ACPresent"), 1),
                (f(F, "UPS.PowerSummary.PresentStatus.Charging"), 1),
            ],
        ),
    );
    reports.insert(
        0x0C,
        report(
            &d,
            F,
            0x0C,
            &[(f(F, "UPS.PowerSummary.AudibleAlarmControl"), 2)],
        ),
    );
    reports.insert(
        0x0F,
        report(&d, F, 0x0F, &[(f(F, "UPS.Input.Voltage"), 230)]),
    );
    reports.insert(
        0x12,
        report(&d, F, 0x12, &[(f(F, "UPS.Output.Voltage"), 229)]),
    );
    reports.insert(
        0x13,
        report(&d, F, 0x13, &[(f(F, "UPS.Output.PercentLoad"), 23)]),
    );
    let ident = Identity {
        vendor: 0x0764,
        product: 0x0601,
        name: Some("CPS CST135UC2".into()),
        serial: Some("CXXJX2000000".into()),
    };
    let mut asked = Vec::new();
    let mut fetch = |kind: ReportKind, id: u8, len: usize| {
        asked.push((kind, id));
        assert_eq!(
            Some(len),
            d.report_len(kind, id),
            "asks for the descriptor's report length"
        );
        reports.get(&id).cloned().ok_or(SensorError::Io {
            device: "x".into(),
            detail: "stall".into(),
        })
    };
    let vars = power::decode(&d, &ident, &mut fetch).unwrap();
    let want = [
        ("battery.charge", "87"),
        ("battery.runtime", "3200"),
        ("battery.voltage", "13.7"),
        ("input.voltage", "230.0"),
        ("output.voltage", "229.0"),
        ("ups.load", "23"),
        ("ups.beeper.status", "enabled"),
        ("ups.status", "OL CHRG"),
        ("device.mfr", "CPS"),
        ("device.model", "CST135UC2"),
        ("device.serial", "CXXJX2000000"),
        ("ups.vendorid", "0764"),
    ];
    for (k, v) in want {
        assert_eq!(vars.get(k).map(String::as_str), Some(v), "{k} in {vars:?}");
    }
    // Each report is fetched once even though several values share it.
    let mut dedup = asked.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), asked.len(), "{asked:?}");
    // Feature reports first, like NUT; an Input report only where the Feature one was refused.
    assert_eq!(asked[0].0, ReportKind::Feature);
    let answered: Vec<u8> = reports.keys().copied().collect();
    for (kind, id) in &asked {
        assert!(
            *kind == ReportKind::Feature || !answered.contains(id),
            "{asked:?}"
        );
    }
}

fn eaton_reports(d: &Descriptor, status: &[(&str, u32)]) -> HashMap<u8, Vec<u8>> {
    use ReportKind::Feature as F;
    let f = |p| field(d, F, p);
    let mut r = HashMap::new();
    r.insert(
        6,
        report(
            d,
            F,
            6,
            &[
                (f("UPS.PowerSummary.RemainingCapacity"), 100),
                (f("UPS.PowerSummary.RunTimeToEmpty"), 1440),
            ],
        ),
    );
    r.insert(
        7,
        report(
            d,
            F,
            7,
            &[(f("UPS.PowerSummary.RemainingCapacityLimit"), 20)],
        ),
    );
    r.insert(8, report(d, F, 8, &[(f("UPS.PowerSummary.Voltage"), 258)]));
    r.insert(
        9,
        report(d, F, 9, &[(f("UPS.PowerSummary.PercentLoad"), 20)]),
    );
    let paths: Vec<String> = status
        .iter()
        .map(|(p, _)| format!("UPS.PowerSummary.PresentStatus.{p}"))
        .collect();
    let bits: Vec<(&Field, u32)> = paths
        .iter()
        .zip(status)
        .map(|(p, (_, v))| (f(p), *v))
        .collect();
    r.insert(2, report(d, F, 2, &bits));
    r.insert(
        0x0C,
        report(
            d,
            F,
            0x0C,
            &[(f("UPS.PowerConverter.Output.Voltage"), 2300)],
        ),
    );
    r.insert(
        0x0D,
        report(
            d,
            F,
            0x0D,
            &[
                (f("UPS.Flow.[4].ConfigVoltage"), 230),
                (f("UPS.Flow.[4].ConfigApparentPower"), 850),
                (f("UPS.Flow.[4].ConfigActivePower"), 510),
            ],
        ),
    );
    r
}

#[test]
fn eaton_layout_paths_units_and_3s_rules() {
    let d = parse(&hex(EATON)).unwrap();
    assert_eq!(
        usage::path(
            &field(
                &d,
                ReportKind::Feature,
                "UPS.PowerConverter.Input.[1].Voltage"
            )
            .path
        ),
        "UPS.PowerConverter.Input.[1].Voltage"
    );
    let reports = eaton_reports(&d, &[("ACPresent", 1), ("Charging", 0)]);
    let eaton = Identity {
        vendor: 0x0463,
        product: 0xffff,
        name: Some("EATON Eaton 3S 850 ".into()),
        serial: Some("Blank".into()),
    };
    let mut fetch = |_: ReportKind, id: u8, _: usize| {
        reports.get(&id).cloned().ok_or(SensorError::Io {
            device: "x".into(),
            detail: "stall".into(),
        })
    };
    let vars = power::decode(&d, &eaton, &mut fetch).unwrap();
    assert_eq!(vars["battery.charge"], "100");
    assert_eq!(vars["battery.charge.low"], "20");
    assert_eq!(vars["battery.runtime"], "1440");
    assert_eq!(vars["ups.load"], "20");
    assert_eq!(
        vars["output.voltage"], "230.0",
        "volt unit with exponent 6: 2300 x 0.1 V"
    );
    assert_eq!(vars["output.voltage.nominal"], "230");
    assert_eq!(
        vars["ups.power.nominal"], "850",
        "VA with exponent 7: no scaling"
    );
    assert_eq!(vars["ups.realpower.nominal"], "510");
    assert_eq!(vars["ups.status"], "OL");
    assert_eq!(
        vars["device.model"], "Eaton 3S 850",
        "trailing space of the USB string trimmed"
    );
    assert!(
        !vars.contains_key("device.serial"),
        "\"Blank\" is no serial"
    );
    assert!(
        !vars.contains_key("battery.voltage"),
        "mge-hid does not take PowerSummary.Voltage as battery voltage on a 3S"
    );
    assert!(
        !vars.contains_key("input.voltage"),
        "the input voltage report was not answered: value absent, not zero"
    );

    // The same descriptor on another vendor: PowerSummary.Voltage is the battery voltage (25.8 V
    // from raw 258, the Eaton 5SC example of NUT issue #2380).
    let other = Identity {
        vendor: 0x0764,
        ..eaton.clone()
    };
    let vars = power::decode(&d, &other, &mut fetch).unwrap();
    assert_eq!(vars["battery.voltage"], "25.8");
}

#[test]
fn eaton_on_battery_low_replace_and_shutdown_imminent() {
    let d = parse(&hex(EATON)).unwrap();
    let reports = eaton_reports(
        &d,
        &[
            ("ACPresent", 0),
            ("Discharging", 1),
            ("ShutdownImminent", 1),
            ("NeedReplacement", 1),
            ("Overload", 1),
        ],
    );
    let mut fetch = |_: ReportKind, id: u8, _: usize| {
        reports.get(&id).cloned().ok_or(SensorError::Io {
            device: "x".into(),
            detail: "stall".into(),
        })
    };
    let vars = power::decode(
        &d,
        &Identity {
            vendor: 0x0463,
            ..Default::default()
        },
        &mut fetch,
    )
    .unwrap();
    assert_eq!(vars["ups.status"], "OB DISCHRG LB RB OVER");
    assert_eq!(vars["ups.alarm"], "Shutdown imminent!");
    let u = tessera_sensors::Ups::new("x", vars);
    assert!(
        u.status.on_battery
            && u.status.discharging
            && u.status.low_battery
            && u.status.replace_battery
            && u.status.overload
    );
}

#[test]
fn unplugged_mid_read_aborts_with_the_device_error() {
    let d = parse(&hex(EATON)).unwrap();
    let reports = eaton_reports(&d, &[("ACPresent", 1)]);
    let mut n = 0;
    let mut fetch = |_: ReportKind, id: u8, _: usize| {
        n += 1;
        if n > 2 {
            return Err(SensorError::Unplugged {
                device: "/dev/hidraw0".into(),
            });
        }
        Ok(reports[&id].clone())
    };
    let e = power::decode(&d, &Identity::default(), &mut fetch).unwrap_err();
    assert_eq!(
        e,
        SensorError::Unplugged {
            device: "/dev/hidraw0".into()
        }
    );
    assert!(e.to_string().contains("/dev/hidraw0: device went away"));
}

#[test]
fn a_report_with_the_wrong_id_or_too_short_is_ignored() {
    let d = parse(&hex(EATON)).unwrap();
    let mut fetch = |_: ReportKind, id: u8, _: usize| {
        Ok(if id == 6 {
            vec![6, 50]
        } else {
            vec![id.wrapping_add(1), 1, 1, 1, 1, 1, 1]
        })
    };
    let vars = power::decode(&d, &Identity::default(), &mut fetch).unwrap();
    // Report 6 holds the 8-bit charge but is too short for the 16-bit runtime behind it.
    assert_eq!(vars.get("battery.charge").map(String::as_str), Some("50"));
    assert!(!vars.contains_key("battery.runtime"));
    // Every other report came back with another ID: nothing read from them.
    assert!(
        !vars.contains_key("ups.load") && !vars.contains_key("output.voltage"),
        "{vars:?}"
    );
    assert_eq!(vars["ups.status"], "");
    // And when no report at all is usable, it is an error rather than an empty UPS.
    let mut fetch = |_: ReportKind, id: u8, _: usize| Ok(vec![id.wrapping_add(1), 1, 1, 1]);
    let e = power::decode(&d, &Identity::default(), &mut fetch).unwrap_err();
    assert!(matches!(e, SensorError::NoData { .. }), "{e:?}");
}

#[test]
fn every_truncation_of_a_real_descriptor_is_refused_without_panic() {
    let bytes = hex(CPS);
    for n in 6..bytes.len() {
        let r = parse(&bytes[..n]);
        assert!(
            matches!(
                r,
                Err(DescriptorError::Truncated { .. } | DescriptorError::Unbalanced)
            ),
            "{n}: {r:?}"
        );
    }
}

#[test]
fn not_a_power_device() {
    // A keyboard: Generic Desktop application.
    let kbd = [
        0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7, 0x15, 0x00, 0x25,
        0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0xC0,
    ];
    let d = parse(&kbd).unwrap();
    assert!(!power::is_power_device(&d));
    assert_eq!(d.fields.len(), 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_descriptors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(d) = parse(&bytes) {
            for f in &d.fields {
                let len = d.report_len(f.kind, f.report_id).unwrap();
                let payload = len - usize::from(d.uses_report_ids);
                prop_assert!((f.bit_offset + f.bit_size) as usize <= payload * 8);
                let _ = f.value(&data);
            }
            let mut fetch = |_: ReportKind, _: u8, _: usize| Ok(data.clone());
            let _ = power::decode(&d, &Identity::default(), &mut fetch);
        }
    }

    #[test]
    fn mutated_real_descriptor_never_panics(flips in proptest::collection::vec((0usize..726, any::<u8>()), 1..8)) {
        let mut bytes = hex(CPS);
        for (i, b) in flips {
            bytes[i] = b;
        }
        if let Ok(d) = parse(&bytes) {
            let mut fetch = |_: ReportKind, id: u8, len: usize| { let mut v = vec![0xA5u8; len]; v[0] = id; Ok(v) };
            let _ = power::decode(&d, &Identity::default(), &mut fetch);
        }
    }
}

const CIRCUITPYTHON: &str = include_str!("fixtures/hid/circuitpython-power-device.hex");

#[test]
fn diy_power_device_matches_its_documented_layout() {
    let bytes = hex(CIRCUITPYTHON);
    assert_eq!(bytes.len(), 194);
    let d = parse(&bytes).unwrap();
    // The project's notes: input report lengths 1, 2, 2 bytes for reports 12, 13, 7.
    assert_eq!(d.report_len(ReportKind::Input, 12), Some(2));
    assert_eq!(d.report_len(ReportKind::Input, 13), Some(3));
    assert_eq!(d.report_len(ReportKind::Input, 7), Some(3));
    let documented = [
        ("Charging", 0),
        ("Discharging", 1),
        ("ACPresent", 2),
        ("BatteryPresent", 3),
        ("BelowRemainingCapacityLimit", 4),
        ("RemainingTimeLimitExpired", 5),
        ("NeedReplacement", 6),
        ("VoltageNotRegulated", 7),
        ("FullyCharged", 8),
        ("FullyDischarged", 9),
        ("ShutdownRequested", 10),
        ("ShutdownImminent", 11),
        ("CommunicationLost", 12),
        ("Overload", 13),
    ];
    for (name, bit) in documented {
        let f = field(
            &d,
            ReportKind::Input,
            &format!("UPS.PowerSummary.PresentStatus.{name}"),
        );
        assert_eq!(
            (f.report_id, f.bit_offset, f.bit_size),
            (7, bit, 1),
            "{name}"
        );
    }
    // Its two documented status words.
    let decode_with = |status: u16| {
        let mut fetch = |_: ReportKind, id: u8, _: usize| {
            Ok(match id {
                12 => vec![12, 100],
                13 => vec![13, 0x10, 0x0e], // 3600 s
                7 => {
                    let [lo, hi] = status.to_le_bytes();
                    vec![7, lo, hi]
                }
                _ => {
                    return Err(SensorError::Io {
                        device: "x".into(),
                        detail: "stall".into(),
                    })
                }
            })
        };
        power::decode(&d, &Identity::default(), &mut fetch).unwrap()
    };
    let on_line = decode_with(0x010C);
    assert_eq!(
        on_line["ups.status"], "OL",
        "on line and fully charged: no CHRG"
    );
    assert_eq!(
        (
            on_line["battery.charge"].as_str(),
            on_line["battery.runtime"].as_str()
        ),
        ("100", "3600")
    );
    assert_eq!(decode_with(0x000A)["ups.status"], "OB DISCHRG");
    assert_eq!(
        decode_with(0x0801 | 0x0004)["ups.status"],
        "OL LB",
        "ShutdownImminent is LB; charging at 100 % is not CHRG"
    );
    assert_eq!(
        decode_with(0x0801 | 0x0004)["ups.alarm"],
        "Shutdown imminent!"
    );
}

#[test]
fn input_report_is_the_fallback_when_the_feature_report_is_refused() {
    // The DIY device declares every value as Feature and Input; refuse all Feature reports.
    let d = parse(&hex(CIRCUITPYTHON)).unwrap();
    let mut kinds = Vec::new();
    let mut fetch = |kind: ReportKind, id: u8, _: usize| {
        kinds.push(kind);
        match (kind, id) {
            (ReportKind::Feature, _) => Err(SensorError::Io {
                device: "x".into(),
                detail: "stall".into(),
            }),
            (_, 12) => Ok(vec![12, 55]),
            (_, 13) => Ok(vec![13, 0x2c, 0x01]),
            (_, 7) => Ok(vec![7, 0x0A, 0x00]),
            _ => Err(SensorError::Io {
                device: "x".into(),
                detail: "stall".into(),
            }),
        }
    };
    let vars = power::decode(&d, &Identity::default(), &mut fetch).unwrap();
    assert_eq!(
        (
            vars["battery.charge"].as_str(),
            vars["battery.runtime"].as_str()
        ),
        ("55", "300")
    );
    assert_eq!(vars["ups.status"], "OB DISCHRG");
    assert!(kinds.contains(&ReportKind::Feature) && kinds.contains(&ReportKind::Input));
}
