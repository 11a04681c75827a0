//! The host tool mounts the subcommand with one enum variant; this is that mount, so a change
//! here that breaks the host tool's main.rs fails in this crate first.

use argh::FromArgs;
use tessera_sensors::cli::SensorsCmd;

#[derive(FromArgs, Debug)]
/// stand-in for the host tool
struct Top {
    #[argh(subcommand)]
    cmd: Cmd,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Cmd {
    Sensors(SensorsCmd),
}

#[test]
fn mounts_as_the_sensors_subcommand() {
    let top = Top::from_args(
        &["tessera"],
        &[
            "sensors",
            "serve",
            "--listen",
            "127.0.0.1:9200",
            "--nut",
            "ups@nas",
            "--no-scan",
        ],
    )
    .unwrap();
    let Cmd::Sensors(s) = top.cmd;
    assert_eq!(s.action.as_deref(), Some("serve"));
    assert_eq!(s.listen.as_deref(), Some("127.0.0.1:9200"));
    let cfg = s.config().unwrap();
    assert_eq!(
        (cfg.nut[0].host.as_str(), cfg.nut[0].ups.as_deref()),
        ("nas", Some("ups"))
    );
    assert!(!cfg.scan);
    let help = Top::from_args(&["tessera"], &["help", "sensors"]).unwrap_err();
    assert!(help.output.contains("--textfile"), "{}", help.output);
}
