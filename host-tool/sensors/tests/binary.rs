//! The `tessera-sensors` binary as `tessera sensors` runs it: argh parsing, help with the exit-code
//! table, a usage error's exit code, and a read of a fixture tree with nothing in it.

use std::process::Command;

use argh::FromArgs;
use tessera_sensors::cli::SensorsCmd;

fn sensors() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera-sensors"))
}

#[test]
fn parses_serve_with_its_options() {
    let s = SensorsCmd::from_args(
        &["tessera", "sensors"],
        &[
            "serve",
            "--listen",
            "127.0.0.1:9200",
            "--nut",
            "ups@nas",
            "--no-scan",
        ],
    )
    .unwrap();
    assert_eq!(s.action.as_deref(), Some("serve"));
    assert_eq!(s.listen.as_deref(), Some("127.0.0.1:9200"));
    let cfg = s.config().unwrap();
    assert_eq!(
        (cfg.nut[0].host.as_str(), cfg.nut[0].ups.as_deref()),
        ("nas", Some("ups"))
    );
    assert!(!cfg.scan);
}

#[test]
fn help_lists_the_options_and_the_exit_codes() {
    let out = sensors().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--textfile"), "{help}");
    assert!(help.contains("Error codes:"), "{help}");
    assert!(help.contains("3 the output failed"), "{help}");
}

#[test]
fn bad_options_exit_2_and_no_sensor_exits_2() {
    let out = sensors().arg("--no-such-option").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("tessera-sensors: "), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let out = sensors()
        .args(["--sysfs", empty.path().to_str().unwrap(), "--dev"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no sensors found"), "{err}");
}
