//! `/etc/tessera/agent.conf`: the agent's config, one model with its parser and its writer
//! (format in docs/interfaces.md).
//!
//! Line based on purpose: the agent lives in an initramfs and a TOML parser would cost more than the
//! whole protocol. Every error names the file, the line and the fix, because the person reading it is
//! looking at a server that will not boot. `render` writes what `parse` reads back unchanged. This
//! module never touches the files the config names.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use tessera_core::limits::MAX_VOLUMES;
use tessera_core::Name;

/// Default TCP endpoint; falls back to `0.0.0.0:7743` when the kernel has no IPv6.
pub const DEFAULT_PORT: u16 = 7743;
/// Where the FIFOs and the pid file live, unless `run-dir` or `TESSERA_RUN_DIR` says otherwise.
pub const DEFAULT_RUN_DIR: &str = "/run/tessera";
/// Debian askpass's FIFO, unless `passfifo` or `TESSERA_PASSFIFO` says otherwise.
pub const DEFAULT_PASSFIFO: &str = "/lib/cryptsetup/passfifo";

/// How a verified secret is used (docs/interfaces.md, table "METHOD").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The agent runs `cryptsetup open` itself.
    Cryptsetup,
    /// Tests: the secret is compared, nothing is opened.
    Test,
    /// The secret goes to the keyscript cryptroot runs.
    Keyscript,
    /// The secret goes to askpass's FIFO.
    Askpass,
}

impl Method {
    /// The method named `s` (`cryptsetup`, `test`, `keyscript`, `askpass`).
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "cryptsetup" => Method::Cryptsetup,
            "test" => Method::Test,
            "keyscript" => Method::Keyscript,
            "askpass" => Method::Askpass,
            _ => return None,
        })
    }

    /// The method's name in agent.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Cryptsetup => "cryptsetup",
            Method::Test => "test",
            Method::Keyscript => "keyscript",
            Method::Askpass => "askpass",
        }
    }
}

/// A `volume NAME DEVICE METHOD` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// The crypttab name, a `tessera_core::Name`.
    pub name: String,
    /// The LUKS device.
    pub device: PathBuf,
    /// How the secret is used.
    pub method: Method,
}

/// The `serial DEVICE BAUD` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serial {
    /// The tty (`/dev/ttyAML0`).
    pub device: PathBuf,
    /// Its speed.
    pub baud: u32,
}

/// Where to listen: the explicit `listen` lines, or the default dual-stack endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// No `listen` line: `[::]:7743`, or `0.0.0.0:7743` without IPv6.
    Default,
    /// `listen off`: serial only.
    Off,
    /// The `listen ADDR:PORT` lines.
    Addrs(Vec<SocketAddr>),
}

/// The whole file; `run_dir` and `passfifo` with their defaults and overrides applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// A `tessera_core::Name`.
    pub host_id: String,
    pub host_key: PathBuf,
    pub authorized_keys: PathBuf,
    pub listen: Listen,
    pub serial: Option<Serial>,
    pub volumes: Vec<Volume>,
    pub run_dir: PathBuf,
    pub passfifo: PathBuf,
}

/// A config error: where, what, and how to fix it.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub what: String,
    pub fix: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}; {}", self.file, self.what, self.fix)
        } else {
            write!(
                f,
                "{}:{}: {}; {}",
                self.file, self.line, self.what, self.fix
            )
        }
    }
}

/// Parses config text; `file` only labels errors.
pub fn parse(
    file: &str,
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let err = |line: usize, what: String, fix: &'static str| ConfigError {
        file: file.to_string(),
        line,
        what,
        fix,
    };
    let mut host_id = None;
    let mut host_key = None;
    let mut authorized_keys = None;
    let mut listen = Listen::Default;
    let mut serial = None;
    let mut volumes: Vec<Volume> = Vec::new();
    let mut run_dir = None;
    let mut passfifo = None;

    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (key, args) = (words[0], &words[1..]);
        let want = |count: usize, usage: &'static str| {
            if args.len() == count {
                Ok(())
            } else {
                Err(err(
                    n,
                    format!("`{key}` takes {count} value(s), got {}", args.len()),
                    usage,
                ))
            }
        };
        match key {
            "host-id" => {
                want(1, "write `host-id NAME`, e.g. `host-id web1`")?;
                if let Err(e) = Name::new(args[0]) {
                    return Err(err(
                        n,
                        format!("host id `{}`: {}", args[0], e.message()),
                        "use a short name such as the host name, e.g. `host-id web1`",
                    ));
                }
                once(&host_id, n, key, &err)?;
                host_id = Some(args[0].to_string());
            }
            "host-key" => {
                want(1, "write `host-key /etc/tessera/host_key`")?;
                once(&host_key, n, key, &err)?;
                host_key = Some(PathBuf::from(args[0]));
            }
            "authorized-keys" => {
                want(1, "write `authorized-keys /etc/tessera/authorized_keys`")?;
                once(&authorized_keys, n, key, &err)?;
                authorized_keys = Some(PathBuf::from(args[0]));
            }
            "listen" => {
                want(1, "write `listen [::]:7743`, `listen 0.0.0.0:7743` or `listen off`")?;
                if args[0] == "off" {
                    if matches!(listen, Listen::Addrs(_)) {
                        return Err(err(
                            n,
                            "`listen off` together with listen addresses".into(),
                            "keep either `listen off` or the addresses",
                        ));
                    }
                    listen = Listen::Off;
                } else {
                    let addr: SocketAddr = args[0].parse().map_err(|_| {
                        err(
                            n,
                            format!("`{}` is not an address:port", args[0]),
                            "write e.g. `listen [::]:7743` or `listen 192.0.2.10:7743`",
                        )
                    })?;
                    match &mut listen {
                        Listen::Addrs(v) => v.push(addr),
                        Listen::Default => listen = Listen::Addrs(vec![addr]),
                        Listen::Off => {
                            return Err(err(
                                n,
                                "listen address after `listen off`".into(),
                                "keep either `listen off` or the addresses",
                            ))
                        }
                    }
                }
            }
            "serial" => {
                want(2, "write `serial /dev/ttyS0 115200`")?;
                let baud: u32 = args[1].parse().ok().filter(|b| *b > 0).ok_or_else(|| {
                    err(
                        n,
                        format!("baud rate `{}` is not a number", args[1]),
                        "write e.g. `serial /dev/ttyAML0 115200`",
                    )
                })?;
                once(&serial, n, key, &err)?;
                serial = Some(Serial {
                    device: PathBuf::from(args[0]),
                    baud,
                });
            }
            "volume" => {
                want(3, "write `volume NAME DEVICE METHOD`, e.g. `volume root_crypt /dev/sda2 keyscript`")?;
                if let Err(e) = Name::new(args[0]) {
                    return Err(err(
                        n,
                        format!("volume name `{}`: {}", args[0], e.message()),
                        "use the crypttab name, e.g. `sda2_crypt`",
                    ));
                }
                let method = Method::parse(args[2]).ok_or_else(|| {
                    err(
                        n,
                        format!("unknown method `{}`", args[2]),
                        "use one of cryptsetup, test, keyscript, askpass",
                    )
                })?;
                if volumes.iter().any(|v| v.name == args[0]) {
                    return Err(err(
                        n,
                        format!("volume `{}` is listed twice", args[0]),
                        "remove the duplicate line",
                    ));
                }
                if volumes.len() == MAX_VOLUMES {
                    return Err(err(
                        n,
                        format!("more than {MAX_VOLUMES} volumes"),
                        "run a second agent config or merge volumes",
                    ));
                }
                volumes.push(Volume {
                    name: args[0].to_string(),
                    device: PathBuf::from(args[1]),
                    method,
                });
            }
            "run-dir" => {
                want(1, "write `run-dir /run/tessera`")?;
                once(&run_dir, n, key, &err)?;
                run_dir = Some(PathBuf::from(args[0]));
            }
            "passfifo" => {
                want(1, "write `passfifo /lib/cryptsetup/passfifo`")?;
                once(&passfifo, n, key, &err)?;
                passfifo = Some(PathBuf::from(args[0]));
            }
            other => {
                return Err(err(
                    n,
                    format!("unknown key `{other}`"),
                    "keys are host-id, host-key, authorized-keys, listen, serial, volume, run-dir, passfifo",
                ))
            }
        }
    }
    let missing = |what: &str, fix: &'static str| err(0, format!("no `{what}` line"), fix);
    let host_id = host_id.ok_or_else(|| missing("host-id", "add e.g. `host-id web1`"))?;
    let host_key =
        host_key.ok_or_else(|| missing("host-key", "add `host-key /etc/tessera/host_key`"))?;
    let authorized_keys = authorized_keys.ok_or_else(|| {
        missing(
            "authorized-keys",
            "add `authorized-keys /etc/tessera/authorized_keys`",
        )
    })?;
    if volumes.is_empty() {
        return Err(missing(
            "volume",
            "add `volume NAME DEVICE METHOD` for each volume to unlock",
        ));
    }
    if listen == Listen::Off && serial.is_none() {
        return Err(err(
            0,
            "`listen off` and no `serial` line: nothing could reach the agent".into(),
            "add `serial DEVICE BAUD` or remove `listen off`",
        ));
    }
    let run_dir = env("TESSERA_RUN_DIR")
        .map(PathBuf::from)
        .or(run_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUN_DIR));
    let passfifo = env("TESSERA_PASSFIFO")
        .map(PathBuf::from)
        .or(passfifo)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PASSFIFO));
    Ok(Config {
        host_id,
        host_key,
        authorized_keys,
        listen,
        serial,
        volumes,
        run_dir,
        passfifo,
    })
}

fn once<T>(
    slot: &Option<T>,
    n: usize,
    key: &str,
    err: &impl Fn(usize, String, &'static str) -> ConfigError,
) -> Result<(), ConfigError> {
    match slot {
        Some(_) => Err(err(
            n,
            format!("`{key}` is given twice"),
            "keep one of the lines",
        )),
        None => Ok(()),
    }
}

impl Config {
    /// The config as agent.conf text, opened by `# comment`; [`parse`] reads it back unchanged.
    /// `run-dir` and `passfifo` are written only when they are not the defaults.
    pub fn render(&self, comment: &str) -> String {
        let mut s = format!("# {comment}\n");
        s.push_str(&format!("host-id {}\n", self.host_id));
        s.push_str(&format!("host-key {}\n", self.host_key.display()));
        s.push_str(&format!(
            "authorized-keys {}\n",
            self.authorized_keys.display()
        ));
        match &self.listen {
            Listen::Default => {}
            Listen::Off => s.push_str("listen off\n"),
            Listen::Addrs(addrs) => {
                for a in addrs {
                    s.push_str(&format!("listen {a}\n"));
                }
            }
        }
        if let Some(serial) = &self.serial {
            s.push_str(&format!(
                "serial {} {}\n",
                serial.device.display(),
                serial.baud
            ));
        }
        for v in &self.volumes {
            s.push_str(&format!(
                "volume {} {} {}\n",
                v.name,
                v.device.display(),
                v.method.as_str()
            ));
        }
        if self.run_dir.as_path() != std::path::Path::new(DEFAULT_RUN_DIR) {
            s.push_str(&format!("run-dir {}\n", self.run_dir.display()));
        }
        if self.passfifo.as_path() != std::path::Path::new(DEFAULT_PASSFIFO) {
            s.push_str(&format!("passfifo {}\n", self.passfifo.display()));
        }
        s
    }
}

/// `listen` values as `tessera flash MODE --listen` takes them: none for the default, `off`, or
/// addresses; `Err` names the first value that is none of these.
pub fn listen_from_args(args: &[String]) -> Result<Listen, String> {
    match args {
        [] => Ok(Listen::Default),
        [off] if off == "off" => Ok(Listen::Off),
        _ => args
            .iter()
            .map(|a| a.parse::<SocketAddr>().map_err(|_| a.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map(Listen::Addrs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# a comment
host-id web1
host-key /etc/tessera/host_key   # trailing comment
authorized-keys /etc/tessera/authorized_keys
listen [::]:7743
listen 127.0.0.1:7744
serial /dev/ttyS0 115200
volume root_crypt /dev/sda2 keyscript
volume data /dev/sdb1 test
";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_every_key() {
        let c = parse("agent.conf", GOOD, no_env).unwrap();
        assert_eq!(c.host_id, "web1");
        assert_eq!(c.host_key, PathBuf::from("/etc/tessera/host_key"));
        assert_eq!(
            c.listen,
            Listen::Addrs(vec![
                "[::]:7743".parse().unwrap(),
                "127.0.0.1:7744".parse().unwrap()
            ])
        );
        assert_eq!(
            c.serial,
            Some(Serial {
                device: "/dev/ttyS0".into(),
                baud: 115200
            })
        );
        assert_eq!(c.volumes.len(), 2);
        assert_eq!(c.volumes[0].method, Method::Keyscript);
        assert_eq!(c.volumes[1].method, Method::Test);
        assert_eq!(c.run_dir, PathBuf::from(DEFAULT_RUN_DIR));
        assert_eq!(c.passfifo, PathBuf::from(DEFAULT_PASSFIFO));
    }

    #[test]
    fn env_overrides_run_dir_and_passfifo() {
        let text = format!("{GOOD}run-dir /tmp/a\npassfifo /tmp/b\n");
        let c = parse("f", &text, no_env).unwrap();
        assert_eq!(c.run_dir, PathBuf::from("/tmp/a"));
        let c = parse("f", &text, |k| Some(format!("/env/{k}"))).unwrap();
        assert_eq!(c.run_dir, PathBuf::from("/env/TESSERA_RUN_DIR"));
        assert_eq!(c.passfifo, PathBuf::from("/env/TESSERA_PASSFIFO"));
    }

    #[test]
    fn default_listen_when_no_listen_line() {
        let text = GOOD.replace("listen [::]:7743\nlisten 127.0.0.1:7744\n", "");
        assert_eq!(parse("f", &text, no_env).unwrap().listen, Listen::Default);
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let cases = [
            ("colour blue\n", 1, "unknown key `colour`"),
            ("host-id web 1\n", 1, "takes 1 value"),
            ("\nhost-id we/b\n", 2, "holds a character other than"),
            ("volume a /dev/x luks\n", 1, "unknown method `luks`"),
            (
                "volume a /dev/x test\nvolume a /dev/y test\n",
                2,
                "listed twice",
            ),
            ("serial /dev/ttyS0 fast\n", 1, "not a number"),
            ("listen 7743\n", 1, "not an address:port"),
            ("host-id a\nhost-id b\n", 2, "given twice"),
        ];
        for (text, line, what) in cases {
            let e = parse("agent.conf", text, no_env).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.what.contains(what), "{text:?}: {e}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("agent.conf:{line}: ")),
                "{shown}"
            );
            assert!(!e.fix.is_empty());
        }
    }

    #[test]
    fn missing_required_keys_are_named() {
        let e = parse("f", "host-id a\n", no_env).unwrap_err();
        assert!(e.what.contains("host-key"), "{e}");
        let text = GOOD
            .lines()
            .filter(|l| !l.starts_with("volume"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(parse("f", &text, no_env)
            .unwrap_err()
            .what
            .contains("volume"));
    }

    #[test]
    fn render_is_read_back_unchanged() {
        let mut c = parse("agent.conf", GOOD, no_env).unwrap();
        let text = c.render("written by a test");
        assert!(text.starts_with("# written by a test\n"), "{text}");
        assert_eq!(parse("agent.conf", &text, no_env).unwrap(), c);
        c.listen = Listen::Off;
        c.run_dir = "/tmp/run".into();
        let text = c.render("x");
        assert!(text.contains("listen off\nserial "), "{text}");
        assert!(text.contains("run-dir /tmp/run\n"), "{text}");
        assert_eq!(parse("agent.conf", &text, no_env).unwrap(), c);
    }

    #[test]
    fn listen_arguments() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(listen_from_args(&[]), Ok(Listen::Default));
        assert_eq!(listen_from_args(&args(&["off"])), Ok(Listen::Off));
        assert_eq!(
            listen_from_args(&args(&["0.0.0.0:7743"])),
            Ok(Listen::Addrs(vec!["0.0.0.0:7743".parse().unwrap()]))
        );
        assert_eq!(
            listen_from_args(&args(&["off", "[::]:1"])),
            Err("off".to_string())
        );
    }

    #[test]
    fn too_many_volumes() {
        let mut text = GOOD.to_string();
        for i in 0..7 {
            text.push_str(&format!("volume v{i} /dev/x test\n"));
        }
        let e = parse("f", &text, no_env).unwrap_err();
        assert!(e.what.contains("more than 8"), "{e}");
    }

    #[test]
    fn listen_off_needs_serial() {
        let text = GOOD
            .replace("listen [::]:7743\nlisten 127.0.0.1:7744\n", "listen off\n")
            .replace("serial /dev/ttyS0 115200\n", "");
        assert!(parse("f", &text, no_env)
            .unwrap_err()
            .what
            .contains("listen off"));
    }
}
