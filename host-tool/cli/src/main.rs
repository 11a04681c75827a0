//! tessera: the admin's tool. One module per verb; this file only parses the command line
//! (argh), runs the verb and turns its error into one line on stderr and an exit code.

mod error;
mod identity;
mod keygen;
mod known_hosts;
mod link;
mod paths;
mod prompt;
mod secrets;
mod sensors;
mod ssh_agent;
mod status;
mod talk;
mod unlock;

use std::process::ExitCode;

use argh::FromArgs;

use error::{code, EXIT_CODES};

/// tessera: unlock LUKS servers at boot with a signed token, over TCP or the serial console.
#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help", "help"))]
struct Cli {
    #[argh(subcommand)]
    verb: Verb,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Verb {
    Keygen(keygen::Keygen),
    Unlock(unlock::Unlock),
    Status(status::Status),
    Flash(tessera_flash::cli::FlashCmd),
    Boards(tessera_flash::cli::BoardsCmd),
    Sensors(sensors::Sensors),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("tessera")
        .to_string();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    // argh would parse the sensors options itself: hand them over untouched instead.
    if let Some(sensor_args) = sensors::wanted(&rest) {
        let e = sensors::exec(&sensor_args);
        eprintln!("{e}");
        return ExitCode::from(e.code);
    }
    let cli = match Cli::from_args(&[&cmd], &rest) {
        Ok(cli) => cli,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    println!("{}\n{EXIT_CODES}", early.output.trim_end());
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    eprintln!(
                        "tessera: {}; run `tessera --help`",
                        early.output.trim_end().replace('\n', " ")
                    );
                    ExitCode::from(code::USAGE)
                }
            };
        }
    };
    let result = match cli.verb {
        // These verbs print their own one-line errors and pick their own exit codes.
        Verb::Flash(a) => return a.run(),
        Verb::Boards(a) => return a.run(),
        Verb::Sensors(a) => Err(sensors::exec(&a.args)),
        Verb::Keygen(a) => keygen::run(a),
        Verb::Unlock(a) => unlock::run(a),
        Verb::Status(a) => status::run(a),
    };
    match result {
        Ok(()) => ExitCode::from(code::OK),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.code)
        }
    }
}
