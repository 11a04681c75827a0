//! The `tessera-sensors` command line (argh) and its output modes. The admin types
//! `tessera sensors ...`; `tessera` execs this binary with the same arguments, git-style.
//!
//! Exit codes (this binary's own table, printed by `--help`): 0 every sensor read, 1 some sensor
//! failed (the others are still printed), 2 bad options or no sensor found, 3 the output itself
//! failed (textfile dir, listen address).

use crate::exporter;
use crate::nut::NutServer;
use crate::prometheus::Exposition;
use crate::{collect, Config, Reading, SensorResult};
use argh::FromArgs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(FromArgs, Debug, Default)]
/// Read UPSes (USB HID, NUT upsd) and thermometers (Elitech, TEMPer, 1-Wire, hwmon, thermal
/// zones); print a table, JSON or Prometheus metrics, or serve them over HTTP.
#[argh(
    help_triggers("-h", "--help", "help"),
    error_code(0, "every sensor was read"),
    error_code(1, "some sensor failed (the others are still printed)"),
    error_code(2, "bad options, or no sensor found"),
    error_code(3, "the output failed (textfile directory, listen address)")
)]
pub struct SensorsCmd {
    /// action: `serve` runs an HTTP exporter answering GET /metrics
    #[argh(positional)]
    pub action: Option<String>,
    /// print JSON instead of a table
    #[argh(switch)]
    pub json: bool,
    /// print Prometheus text exposition instead of a table
    #[argh(switch)]
    pub prometheus: bool,
    /// write DIR/tessera_sensors.prom atomically for node_exporter's textfile collector
    #[argh(option, arg_name = "DIR")]
    pub textfile: Option<PathBuf>,
    /// repeat every SECONDS until interrupted
    #[argh(option, arg_name = "SECONDS")]
    pub watch: Option<u64>,
    /// stop after N rounds (--watch) or N requests (serve)
    #[argh(option, arg_name = "N")]
    pub count: Option<u64>,
    /// address for `serve` (default 127.0.0.1:9199)
    #[argh(option, arg_name = "ADDR")]
    pub listen: Option<String>,
    /// read a NUT upsd at [UPS@]HOST[:PORT] (repeatable; port 3493 by default)
    #[argh(option, arg_name = "HOST")]
    pub nut: Vec<String>,
    /// NUT user name (or env TESSERA_NUT_USER); reads normally need none
    #[argh(option)]
    pub nut_user: Option<String>,
    /// NUT password (or env TESSERA_NUT_PASSWORD, which keeps it out of `ps`)
    #[argh(option)]
    pub nut_password: Option<String>,
    /// an Elitech RC-4/RC-4HC/RC-5 logger's serial port (repeatable; never probed on its own)
    #[argh(option, arg_name = "PORT")]
    pub elitech: Vec<PathBuf>,
    /// a UPS hidraw node to read (repeatable; found by scanning otherwise)
    #[argh(option, arg_name = "NODE")]
    pub hidraw: Vec<PathBuf>,
    /// a TEMPer hidraw node to read (repeatable; found by scanning otherwise)
    #[argh(option, arg_name = "NODE")]
    pub temper: Vec<PathBuf>,
    /// sysfs root (default /sys)
    #[argh(option, arg_name = "DIR")]
    pub sysfs: Option<PathBuf>,
    /// device root for hidraw nodes (default /dev)
    #[argh(option, arg_name = "DIR")]
    pub dev: Option<PathBuf>,
    /// read only the sensors named by options; do not scan hidraw, 1-Wire, hwmon, thermal zones
    #[argh(switch)]
    pub no_scan: bool,
    /// seconds to wait for any one device or server (default 5)
    #[argh(option, arg_name = "SECONDS")]
    pub timeout: Option<u64>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl SensorsCmd {
    /// The sensor configuration these options describe.
    pub fn config(&self) -> Result<Config, String> {
        let timeout = Duration::from_secs(self.timeout.unwrap_or(5).max(1));
        let user = self.nut_user.clone().or_else(|| env("TESSERA_NUT_USER"));
        let password = self
            .nut_password
            .clone()
            .or_else(|| env("TESSERA_NUT_PASSWORD"));
        let mut nut = Vec::new();
        for spec in &self.nut {
            let mut s = NutServer::parse(spec)?;
            s.user = user.clone();
            s.password = password.clone();
            s.timeout = timeout;
            nut.push(s);
        }
        let defaults = Config::default();
        Ok(Config {
            sysfs: self.sysfs.clone().unwrap_or(defaults.sysfs),
            dev: self.dev.clone().unwrap_or(defaults.dev),
            scan: !self.no_scan,
            hidraw: self.hidraw.clone(),
            temper: self.temper.clone(),
            nut,
            elitech: self.elitech.clone(),
            timeout,
        })
    }

    /// Runs with the process's stdout and stderr.
    pub fn run(self) -> ExitCode {
        let code = self.run_with(&mut std::io::stdout().lock(), &mut std::io::stderr());
        ExitCode::from(code)
    }

    /// Runs, writing results to `out` and diagnostics to `err`; returns the exit code.
    pub fn run_with(self, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
        let usage = |err: &mut dyn Write, msg: &str| {
            let _ = writeln!(err, "tessera sensors: {msg}");
            2
        };
        let serve = match self.action.as_deref() {
            None => false,
            Some("serve") => true,
            Some(other) => {
                return usage(
                    err,
                    &format!("unknown action {other:?}; the only action is `serve`"),
                )
            }
        };
        if self.listen.is_some() && !serve {
            return usage(
                err,
                "--listen only goes with `serve` (tessera sensors serve --listen ADDR)",
            );
        }
        if self.json && self.prometheus {
            return usage(err, "choose one of --json and --prometheus");
        }
        let cfg = match self.config() {
            Ok(c) => c,
            Err(e) => return usage(err, &format!("{e}; expected [UPS@]HOST[:PORT]")),
        };
        if serve {
            return self.serve(&cfg, err);
        }
        let mut round = 0u64;
        loop {
            let results = collect(&cfg);
            round += 1;
            let code = match self.emit(&results, out, err) {
                Ok(code) => code,
                Err(code) => return code,
            };
            let done = self.watch.is_none() || self.count.is_some_and(|c| round >= c);
            if done {
                return code;
            }
            let _ = out.flush();
            std::thread::sleep(Duration::from_secs(self.watch.unwrap_or(1).max(1)));
        }
    }

    fn emit(
        &self,
        results: &[SensorResult],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<u8, u8> {
        if results.is_empty() {
            let _ = writeln!(
                err,
                "tessera sensors: no sensors found; name them with --nut HOST, --hidraw NODE, --elitech PORT, \
                 or check read access to /sys/class/hidraw and /dev/hidraw*"
            );
            return Ok(2);
        }
        let failed = results.iter().filter(|r| !r.ok()).count();
        let table = !self.json && !self.prometheus && self.textfile.is_none();
        if !table {
            for r in results {
                if let Reading::Error(e) = &r.reading {
                    let _ = writeln!(err, "tessera sensors: {e}");
                }
            }
        }
        let written = if self.json {
            // With --watch, one compact array per line (JSON lines) so a pipe can parse each round.
            let text = if self.watch.is_some() {
                serde_json::to_string(results)
            } else {
                serde_json::to_string_pretty(results)
            };
            text.map(|s| writeln!(out, "{s}")).unwrap_or(Ok(()))
        } else if self.prometheus {
            write!(out, "{}", Exposition::of(results).render(false))
        } else if table {
            write!(out, "{}", crate::table::render(results))
        } else {
            Ok(())
        };
        if written.is_err() {
            return Err(3);
        }
        if let Some(dir) = &self.textfile {
            if let Err(e) = exporter::write_textfile(dir, &Exposition::of(results)) {
                let _ = writeln!(
                    err,
                    "tessera sensors: cannot write {}/tessera_sensors.prom: {e}; create the directory or run as a user who may write there",
                    dir.display()
                );
                return Err(3);
            }
        }
        Ok(if failed > 0 { 1 } else { 0 })
    }

    fn serve(&self, cfg: &Config, err: &mut dyn Write) -> u8 {
        let addr = self
            .listen
            .clone()
            .unwrap_or_else(|| exporter::DEFAULT_LISTEN.to_string());
        let listener = match std::net::TcpListener::bind(&addr) {
            Ok(l) => l,
            Err(e) => {
                let _ = writeln!(err, "tessera sensors: cannot listen on {addr}: {e}; pick another --listen address or stop what holds it");
                return 3;
            }
        };
        let shown = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
        let _ = writeln!(err, "tessera sensors: serving http://{shown}/metrics");
        let _ = err.flush();
        match exporter::serve(&listener, cfg, self.count.map(|c| c as usize)) {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(err, "tessera sensors: exporter stopped: {e}; restart it");
                3
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_serve_and_sources() {
        let e = SensorsCmd::from_args(&["tessera", "sensors"], &["--help"]).unwrap_err();
        assert!(e.status.is_ok());
        for word in [
            "serve",
            "--nut",
            "--elitech",
            "--textfile",
            "--prometheus",
            "--sysfs",
        ] {
            assert!(e.output.contains(word), "{word} missing from\n{}", e.output);
        }
    }

    #[test]
    fn password_comes_from_the_environment_when_not_given() {
        // Only this test touches the variable.
        std::env::set_var("TESSERA_NUT_PASSWORD", "from-env");
        let cmd =
            SensorsCmd::from_args(&["tessera", "sensors"], &["--nut", "ups@10.1.1.1"]).unwrap();
        let cfg = cmd.config().unwrap();
        std::env::remove_var("TESSERA_NUT_PASSWORD");
        assert_eq!(cfg.nut[0].password.as_deref(), Some("from-env"));
        assert_eq!(
            (cfg.nut[0].ups.as_deref(), cfg.nut[0].port),
            (Some("ups"), 3493)
        );
    }
}
