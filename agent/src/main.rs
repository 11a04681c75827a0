//! tessera-agent: the initramfs side of tessera.
//!
//! Waits on TCP and on the serial console at once for a signed unlock token, hands each verified
//! secret to cryptsetup, and exits 0 once every configured volume is unlocked
//! (CLI and config: docs/interfaces.md). main only parses the command line and maps errors to
//! exit codes; it never prints a secret.

// The serving loop that uses these lands with tessera-core's first API.
#[allow(dead_code)]
mod backend;
#[allow(dead_code)]
mod config;
#[allow(dead_code)]
mod console;
#[allow(dead_code)]
mod handoff;
#[allow(dead_code)]
mod keys;
mod log;
#[allow(dead_code)]
mod tty;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: tessera-agent [--config FILE]       wait for unlock tokens (default /etc/tessera/agent.conf)
       tessera-agent --gen-host-key FILE   write a new host key seed (0600) and FILE.pub";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--gen-host-key", file] => match keys::generate(&PathBuf::from(file)) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                log!("{e}");
                ExitCode::from(1)
            }
        },
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        [] => run(PathBuf::from("/etc/tessera/agent.conf")),
        ["--config", file] => run(PathBuf::from(file)),
        _ => {
            log!("unknown arguments; {}", USAGE.replace('\n', " | "));
            ExitCode::from(1)
        }
    }
}

fn run(path: PathBuf) -> ExitCode {
    let cfg = match config::load(&path, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            log!("{e}");
            return ExitCode::from(1);
        }
    };
    let _ = cfg;
    ExitCode::from(2)
}
