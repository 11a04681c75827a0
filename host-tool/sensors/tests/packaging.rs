//! The exporter as a service (packaging/, shipped in the tessera .deb): the udev rule gives the
//! group of the sysusers user every UPS and TEMPer id the readers know, in rule syntax udev
//! accepts (udev 252 has no `udevadm verify`, so the grammar is checked here); systemd 252's
//! `systemd-analyze verify` finds nothing to say about the unit and `systemd-analyze security`
//! rates it at most 2.0 ("OK").

use std::path::{Path, PathBuf};
use std::process::Command;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(packaging().join(name)).unwrap()
}

/// The sysusers user (and group) name.
fn service_user() -> String {
    let conf = read("tessera.sysusers");
    let line = conf
        .lines()
        .find(|l| l.starts_with("u "))
        .expect("a `u` line in tessera.sysusers");
    line.split_whitespace().nth(1).unwrap().to_string()
}

/// Each rule of the file: its `KEY op "value"` parts.
fn rules() -> Vec<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for (n, line) in read("60-tessera-sensors.rules").lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rule = Vec::new();
        for part in line.split(", ") {
            let at = part
                .find(|c: char| "=!+:".contains(c))
                .unwrap_or_else(|| panic!("line {}: no operator in {part}", n + 1));
            let key = &part[..at];
            let rest = &part[at..];
            let op_len = rest
                .find('"')
                .unwrap_or_else(|| panic!("line {}: {part}", n + 1));
            let (op, value) = rest.split_at(op_len);
            assert!(
                ["==", "!=", "=", "+=", ":="].contains(&op),
                "line {}: operator {op}",
                n + 1
            );
            assert!(
                value.len() >= 2
                    && value.ends_with('"')
                    && !value[1..value.len() - 1].contains('"'),
                "line {}: value {value}",
                n + 1
            );
            let bare = key.split('{').next().unwrap();
            assert!(
                [
                    "SUBSYSTEM",
                    "ATTRS",
                    "KERNEL",
                    "GROUP",
                    "MODE",
                    "SYMLINK",
                    "TAG"
                ]
                .contains(&bare),
                "line {}: key {key}",
                n + 1
            );
            let matching = op == "==" || op == "!=";
            assert_eq!(
                matching,
                ["SUBSYSTEM", "ATTRS", "KERNEL"].contains(&bare),
                "line {}: {key}{op} (a match key needs ==, an assignment =)",
                n + 1
            );
            rule.push((
                key.to_string(),
                op.to_string(),
                value[1..value.len() - 1].to_string(),
            ));
        }
        out.push(rule);
    }
    out
}

fn grants(rules: &[Vec<(String, String, String)>], vid: u16, pid: u16, group: &str) -> bool {
    let has = |r: &Vec<(String, String, String)>, k: &str, v: &str| {
        r.iter().any(|(key, _, val)| key == k && val == v)
    };
    rules.iter().any(|r| {
        has(r, "SUBSYSTEM", "hidraw")
            && has(r, "ATTRS{idVendor}", &format!("{vid:04x}"))
            && has(r, "ATTRS{idProduct}", &format!("{pid:04x}"))
            && has(r, "GROUP", group)
            && has(r, "MODE", "0660")
    })
}

#[test]
fn udev_rule_gives_the_service_group_every_known_ups_and_temper() {
    let user = service_user();
    assert_eq!(user, "tessera-sensors");
    let rules = rules();
    assert!(grants(&rules, 0x0463, 0xffff, &user), "Eaton 0463:ffff");
    for &(vid, pid) in tessera_sensors::hid::temper::IDS {
        assert!(
            grants(&rules, vid, pid, &user),
            "TEMPer {vid:04x}:{pid:04x}"
        );
    }
    // Nothing else is regrouped: every GROUP= is the service's.
    for r in &rules {
        for (k, _, v) in r {
            if k == "GROUP" {
                assert_eq!(v, &user);
            }
        }
    }
    let unit = read("tessera-sensors.service");
    assert!(unit.contains(&format!("\nUser={user}\n")), "{unit}");
    assert!(unit.contains("DeviceAllow=char-hidraw rw"));
}

fn analyze(args: &[&str], unit: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian's systemd; scripts/install-deps.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn systemd_analyze_verifies_the_unit_and_rates_it_ok() {
    // The unit as installed, with ExecStart pointing at this build (verify wants it executable).
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("tessera-sensors.service");
    let text = read("tessera-sensors.service");
    assert!(text.contains("ExecStart=/usr/bin/tessera-sensors serve"));
    std::fs::write(
        &unit,
        text.replace(
            "ExecStart=/usr/bin/tessera-sensors",
            &format!("ExecStart={}", env!("CARGO_BIN_EXE_tessera-sensors")),
        ),
    )
    .unwrap();
    let (ok, out) = analyze(&["verify"], &unit);
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );

    let (ok, out) = analyze(&["security", "--offline=yes", "--no-pager"], &unit);
    assert!(ok, "{out}");
    let score: f64 = out
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for tessera-sensors.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{out}"));
    eprintln!("systemd-analyze security: {score}");
    assert!(score <= 2.0, "exposure {score}:\n{out}");
    for want in [
        "✓ NoNewPrivileges=",
        "✓ ProtectSystem=",
        "✓ CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "✓ RestrictAddressFamilies=~AF_PACKET",
    ] {
        assert!(out.contains(want), "{want} missing in\n{out}");
    }
}
