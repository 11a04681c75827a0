//! tessera-sensors: the sensors binary (`tessera sensors` execs it). It reads UPSes and
//! thermometers and may serve them over HTTP; it never touches an admin key, ssh-agent or an
//! unlock token, which is why it is a binary of its own and not linked into `tessera`.

use std::process::ExitCode;

use argh::FromArgs;
use tessera_sensors::cli::SensorsCmd;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `tessera` execs us with argv[0] = "tessera sensors", so help and errors name the command the
    // admin typed; run directly, we are `tessera-sensors`.
    let cmd = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("tessera-sensors")
        .to_string();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match SensorsCmd::from_args(&[&cmd], &rest) {
        Ok(sensors) => sensors.run(),
        Err(early) => match early.status {
            Ok(()) => {
                print!("{}", early.output);
                ExitCode::SUCCESS
            }
            Err(()) => {
                eprintln!(
                    "{cmd}: {}; run `{cmd} --help`",
                    early.output.trim_end().replace('\n', " ")
                );
                ExitCode::from(2)
            }
        },
    }
}
