//! tessera-agent: the initramfs side of tessera.
//!
//! Waits on TCP and on the serial console at once for a signed unlock token, hands each verified
//! secret to cryptsetup, and exits 0 once every configured volume is unlocked
//! (CLI and config: docs/interfaces.md). main parses the command line, loads the files, runs the
//! TCP and serial tasks on the executor (rt.rs) until every volume is open, and maps errors to
//! exit codes; it never prints a secret.

mod backend;
mod challenge;
mod config;
mod console;
mod handoff;
mod keys;
mod line_editor;
mod log;
mod net;
mod ratelimit;
mod rt;
mod serial;
mod session;
mod state;
mod tty;

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::Method;
use crate::log::log;
use crate::state::Shared;

const USAGE: &str = "\
usage: tessera-agent [--config FILE]       wait for unlock tokens (default /etc/tessera/agent.conf)
       tessera-agent --gen-host-key FILE   write a new host key seed (0600) and FILE.pub";

/// Exit codes (docs/interfaces.md).
const EXIT_CONFIG: u8 = 1;
const EXIT_IO: u8 = 2;

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
                ExitCode::from(EXIT_CONFIG)
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
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn run(path: PathBuf) -> ExitCode {
    let cfg = match config::load(&path, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            log!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let seed = match keys::load_seed(&cfg.host_key) {
        Ok(s) => s,
        Err(e) => {
            log!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let admins = match keys::load_authorized(&cfg.authorized_keys) {
        Ok(k) => k,
        Err(e) => {
            log!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let keyscript: Vec<&str> = cfg
        .volumes
        .iter()
        .filter(|v| v.method == Method::Keyscript)
        .map(|v| v.name.as_str())
        .collect();
    let _run_dir = match handoff::RunDir::create(&cfg.run_dir, &keyscript) {
        Ok(r) => r,
        Err(e) => {
            log!(
                "cannot prepare {}: {e}; check that it is writable",
                cfg.run_dir.display()
            );
            return ExitCode::from(EXIT_IO);
        }
    };
    let tty = match &cfg.serial {
        Some(s) => match tty::Tty::open(&s.device, s.baud) {
            Ok(t) => Some(t),
            Err(e) => {
                log!(
                    "cannot open serial {}: {e}; check the `serial` line",
                    s.device.display()
                );
                return ExitCode::from(EXIT_IO);
            }
        },
        None => None,
    };
    let identity = match challenge::BootIdentity::new(&cfg, &seed, &admins) {
        Ok(p) => p,
        Err(e) => {
            log!("{e}");
            return ExitCode::from(EXIT_IO);
        }
    };
    drop(seed);
    let shared = Shared::new(cfg, identity);
    let result = rt::run(serve(Rc::clone(&shared), tty));
    match result {
        Ok(()) => {
            log!("every volume is unlocked; exiting");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log!("{e}");
            ExitCode::from(EXIT_IO)
        }
    }
}

async fn serve(shared: Rc<Shared>, tty: Option<tty::Tty>) -> std::io::Result<()> {
    let names: Vec<&str> = shared.cfg.volumes.iter().map(|v| v.name.as_str()).collect();
    log!(
        "host {}: waiting for {}",
        shared.cfg.host_id,
        names.join(", ")
    );
    for listener in net::bind(&shared.cfg.listen)? {
        rt::spawn(net::accept_loop(Rc::clone(&shared), listener));
    }
    if let Some(tty) = tty {
        let shared = Rc::clone(&shared);
        rt::spawn(async move {
            if let Err(e) = serial::serve(shared, tty).await {
                log!("serial console stopped: {e}");
            }
        });
    }
    let mut done_since: Option<Instant> = None;
    loop {
        shared.notice_unlocked_elsewhere();
        if shared.finished() {
            return Ok(());
        }
        // A console nobody reads must not keep a booted server's agent alive.
        if shared.all_done() {
            let since = *done_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(2) {
                return Ok(());
            }
        }
        let changed = shared.changed.listen();
        if shared.finished() {
            return Ok(());
        }
        smol::future::or(changed, async {
            smol::Timer::after(Duration::from_secs(1)).await;
        })
        .await;
    }
}
