//! The rules file as the hosters' servers load it: promtool checks it and runs its unit tests
//! (monitoring/alerts.test.yml: every alert fires on its failing series and not on the healthy
//! one), and vmalert, VictoriaMetrics' rule evaluator, parses it unchanged.

use super::common::monitoring_dir;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}; run scripts/install-deps.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let dir = monitoring_dir();
    let check = run(Command::new("promtool")
        .args(["check", "rules"])
        .arg(dir.join("alerts.yml")));
    assert!(check.contains("SUCCESS: 14 rules found"), "{check}");
    let test = run(Command::new("promtool")
        .args(["test", "rules"])
        .arg(dir.join("alerts.test.yml")));
    assert!(test.contains("SUCCESS"), "{test}");

    // Every alert of the rules file has a unit test that expects it to fire.
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("alerts.test.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 14);
    for a in alerts {
        let fires = tests
            .split("alertname: ")
            .skip(1)
            .any(|t| t.starts_with(&format!("{a}\n")) && t.contains("exp_labels"));
        assert!(fires, "{a}: no promtool test in which it fires");
        assert!(
            tests.contains(&format!("alertname: {a}, exp_alerts: []")),
            "{a}: no promtool test in which it stays silent"
        );
    }
}

#[test]
fn vmalert_loads_the_rules_unchanged() {
    run(Command::new("vmalert").arg("-dryRun").arg(format!(
        "-rule={}",
        monitoring_dir().join("alerts.yml").display()
    )));
    // And refuses a broken file (so the check above means something).
    let bad = tempfile::tempdir().unwrap();
    let path = bad.path().join("bad.yml");
    std::fs::write(
        &path,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'sum(('\n",
    )
    .unwrap();
    let st = Command::new("vmalert")
        .arg("-dryRun")
        .arg(format!("-rule={}", path.display()))
        .output()
        .unwrap();
    assert!(!st.status.success(), "vmalert accepted a broken rule");
}
