//! tessera: the admin's tool. One module per verb; this file only parses the command line
//! (argh), runs the verb and turns its error into one line on stderr and an [`exit::ExitCode`].

mod connect;
mod error;
mod exit;
mod flash;
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
mod target;
mod unlock;

use argh::FromArgs;

use error::ToolError;
use exit::ExitCode;

/// tessera: unlock LUKS servers at boot with a signed token, over TCP or the serial console.
#[derive(FromArgs, Debug)]
#[argh(
    help_triggers("-h", "--help", "help"),
    note = "`tessera sensors` runs the tessera-sensors binary, which has its own exit codes.",
    error_code(0, "every requested volume is unlocked (or: command done)"),
    error_code(1, "other error (files, I/O, broken answer, failed flash)"),
    error_code(2, "usage error (every verb)"),
    error_code(
        3,
        "agent unreachable (no TCP connection, no answer on the serial line)"
    ),
    error_code(4, "host key mismatch, or unpinned host key not accepted"),
    error_code(
        5,
        "token refused by the agent (unknown admin key, stale boot, wrong host, bad signature)"
    ),
    error_code(6, "wrong secret for at least one volume")
)]
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
    Flash(flash::Flash),
    Boards(flash::Boards),
    Sensors(sensors::Sensors),
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("tessera")
        .to_string();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let result = run(&cmd, &rest);
    match result {
        Ok(()) => ExitCode::Ok.into(),
        Err(e) => {
            eprintln!("{e}");
            e.exit().into()
        }
    }
}

fn run(cmd: &str, rest: &[&str]) -> error::Result<()> {
    // argh would parse the sensors options itself: hand them over untouched instead.
    if let Some(sensor_args) = sensors::wanted(rest) {
        return Err(sensors::exec(&sensor_args));
    }
    let cli = match Cli::from_args(&[cmd], rest) {
        Ok(cli) => cli,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    print!("{}", early.output);
                    Ok(())
                }
                Err(()) => Err(ToolError::Args {
                    text: early.output.trim_end().replace('\n', " "),
                    command: command_of(rest),
                }),
            };
        }
    };
    match cli.verb {
        Verb::Keygen(a) => keygen::run(a),
        Verb::Unlock(a) => unlock::run(a),
        Verb::Status(a) => status::run(a),
        Verb::Flash(a) => flash::run_flash(a),
        Verb::Boards(a) => flash::run_boards(a),
        Verb::Sensors(a) => Err(sensors::exec(&a.args)),
    }
}

/// The command a bad command line belongs to, as far as its words name one: `tessera`,
/// `tessera unlock`, `tessera flash initrd` (the names come from argh's own tables).
fn command_of(rest: &[&str]) -> String {
    let named = |commands: &[&argh::CommandInfo], word: Option<&&str>| {
        word.filter(|w| commands.iter().any(|c| c.name == **w))
            .map(|w| w.to_string())
    };
    let mut command = String::from("tessera");
    if let Some(verb) = named(<Verb as argh::SubCommands>::COMMANDS, rest.first()) {
        command = format!("{command} {verb}");
        let modes = <flash::FlashMode as argh::SubCommands>::COMMANDS;
        if let Some(mode) = named(modes, rest.get(1)).filter(|_| verb == "flash") {
            command = format!("{command} {mode}");
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help's table (argh's `error_code` lines above) and `ExitCode` list the same codes.
    #[test]
    fn help_lists_every_exit_code() {
        let help = Cli::from_args(&["tessera"], &["--help"])
            .unwrap_err()
            .output;
        let table = help
            .split("Error codes:")
            .nth(1)
            .expect("an exit-code table");
        let listed: Vec<u8> = table
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        let all: Vec<u8> = ExitCode::ALL.iter().map(|c| c.number()).collect();
        assert_eq!(listed, all, "{help}");
    }

    #[test]
    fn a_usage_error_points_at_the_help_of_its_command() {
        assert_eq!(command_of(&["frobnicate"]), "tessera");
        assert_eq!(command_of(&["unlock", "--bogus"]), "tessera unlock");
        assert_eq!(
            command_of(&["flash", "initrd", "f"]),
            "tessera flash initrd"
        );
        assert_eq!(command_of(&["flash", "--bogus"]), "tessera flash");
        assert_eq!(command_of(&["status", "ssh"]), "tessera status");
    }
}
