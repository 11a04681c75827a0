//! The servers of the monitoring tests, each a real process on a free loopback port with its data
//! in a temp dir, killed when its handle drops: the sensors crate's upsd + dummy-ups helper, the
//! exporter (`tessera sensors serve`), Prometheus and VictoriaMetrics; a tiny HTTP/1.0 client for
//! their APIs; and the dashboard's queries as Grafana would send them.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_e2e::qemu::scaled;

/// Debian's upsd + dummy-ups for a test (the sensors crate's own helper, shared, not copied).
#[path = "../../../host-tool/sensors/tests/upsd_common.rs"]
#[allow(dead_code)]
pub mod upsd;

/// The Eaton 3S 550 dump the sensors crate's upsd tests serve.
pub const EATON_3S: &str =
    include_str!("../../../host-tool/sensors/tests/fixtures/eaton-3s-550.dev");

/// The warden's metrics as agreed with the warden (docs/monitoring.md): one host waiting, one with
/// a pending request, one healthy. The warden is another daemon; these stand in for its scrape.
pub const WARDEN_METRICS: &str = include_str!("warden.prom");

pub fn monitoring_dir() -> PathBuf {
    tessera_e2e::tools::workspace().join("monitoring")
}

/// Polls `f` every 200 ms until it returns Some, or panics after `timeout` (scaled).
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + scaled(timeout);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process whose stdout and stderr go to a log file; killed and reaped on drop.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {:?}: {e}; run scripts/install-deps.sh",
                    cmd.get_program()
                )
            });
        Proc { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self, what: &str) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{what} exited ({st}):\n{}", self.log_text());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&…` with both sides percent-encoded.
pub fn query_string(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One HTTP/1.0 request (so no chunked answer); the status code and the body.
pub fn http(addr: &str, method: &str, target: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "{method} {target} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

pub fn get(addr: &str, target: &str) -> Option<(u16, String)> {
    http(addr, "GET", target, b"").ok()
}

/// A Prometheus-style API call (`/api/v1/...`): the JSON answer, whatever its status.
pub fn api(addr: &str, path: &str, params: &[(&str, &str)]) -> Value {
    let target = format!("{path}?{}", query_string(params));
    let (code, body) =
        get(addr, &target).unwrap_or_else(|| panic!("no answer from {addr}{target}"));
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{addr}{target}: HTTP {code}, not JSON ({e}): {body}"))
}

/// The metric names (`name` before `{` or a blank) in a text exposition.
pub fn exposition_names(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split(|c: char| c == '{' || c.is_whitespace())
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// upsd with the Eaton 3S and `tessera sensors serve` reading it and a 1-Wire thermometer (a
/// sysfs fixture: this machine has no 1-Wire bus), on a free loopback port.
pub struct Exporter {
    pub upsd: upsd::Upsd,
    pub addr: String,
    _dir: tempfile::TempDir,
    proc: Proc,
}

impl Exporter {
    pub fn start() -> Exporter {
        let upsd = upsd::Upsd::start("eaton3s", EATON_3S);
        let dir = tempfile::tempdir().unwrap();
        let w1 = dir.path().join("sys/bus/w1/devices/28-0000061b587b");
        std::fs::create_dir_all(&w1).unwrap();
        std::fs::create_dir_all(dir.path().join("dev")).unwrap();
        std::fs::write(
            w1.join("w1_slave"),
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", upsd::free_port());
        let tool = tessera_e2e::tools::host_tool().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            tool.with_file_name("tessera-sensors").is_file(),
            "{} is missing: run `cargo build -p tessera -p tessera-sensors` first",
            tool.with_file_name("tessera-sensors").display()
        );
        let mut cmd = Command::new(tool);
        cmd.args(["sensors", "serve", "--listen", &addr, "--timeout", "2"])
            .arg("--nut")
            .arg(format!("eaton3s@127.0.0.1:{}", upsd.port))
            .arg("--sysfs")
            .arg(dir.path().join("sys"))
            .arg("--dev")
            .arg(dir.path().join("dev"));
        let proc = Proc::spawn(&mut cmd, dir.path().join("exporter.log"));
        let mut me = Exporter {
            upsd,
            addr,
            _dir: dir,
            proc,
        };
        wait_until(Duration::from_secs(20), "the exporter's /metrics", || {
            me.proc.assert_running("tessera sensors serve");
            get(&me.addr, "/metrics")
                .filter(|(c, b)| *c == 200 && b.contains("network_ups_tools_ups_status"))
        });
        me
    }

    pub fn metrics(&self) -> String {
        let (code, body) = get(&self.addr, "/metrics").expect("the exporter answers");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Rewrites the UPS' .dev file (dummy-ups re-reads it when it changes) and waits until the
    /// exporter shows the new status.
    pub fn set_ups(&self, status: &str, charge: u32, runtime: u32) {
        let dev = EATON_3S
            .replace("ups.status: OL CHRG", &format!("ups.status: {status}"))
            .replace("battery.charge: 100", &format!("battery.charge: {charge}"))
            .replace(
                "battery.runtime: 3000",
                &format!("battery.runtime: {runtime}"),
            );
        std::fs::write(self.upsd.path().join("etc/eaton3s.dev"), dev).unwrap();
        let first = status.split_whitespace().next().unwrap();
        let want = format!("flag=\"{first}\"}} 1\n");
        wait_until(
            Duration::from_secs(30),
            "the exporter to show the new status",
            || {
                self.metrics()
                    .lines()
                    .any(|l| {
                        l.starts_with("network_ups_tools_ups_status")
                            && format!("{l}\n").ends_with(&want)
                    })
                    .then_some(())
            },
        );
    }
}

/// A scrape config for one target, every second, as job `tessera-sensors` (the job name the
/// rules' exporter-down alert and docs/monitoring.md use).
fn scrape_config(target: &str, rules: Option<&Path>) -> String {
    let mut s = String::from("global:\n  scrape_interval: 1s\n");
    if let Some(r) = rules {
        s.push_str(&format!(
            "  evaluation_interval: 1s\nrule_files:\n  - {}\n",
            r.display()
        ));
    }
    s.push_str(&format!(
        "scrape_configs:\n  - job_name: tessera-sensors\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{target}']\n"
    ));
    s
}

/// Debian's Prometheus scraping `target` every second and evaluating `rules` every second.
pub struct Prometheus {
    pub addr: String,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(target: &str, rules: &Path) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("prometheus.yml");
        std::fs::write(&conf, scrape_config(target, Some(rules))).unwrap();
        let addr = format!("127.0.0.1:{}", upsd::free_port());
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn");
        let proc = Proc::spawn(&mut cmd, dir.path().join("prometheus.log"));
        let mut me = Prometheus {
            addr,
            proc,
            _dir: dir,
        };
        wait_until(Duration::from_secs(60), "Prometheus to be ready", || {
            me.proc.assert_running("prometheus");
            get(&me.addr, "/-/ready").filter(|(c, _)| *c == 200)
        });
        me
    }

    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let v = api(&self.addr, path, params);
        assert_eq!(v["status"], "success", "{path} {params:?}: {v}");
        v
    }

    pub fn log_text(&self) -> String {
        self.proc.log_text()
    }
}

/// Debian's VictoriaMetrics (single node) scraping `target` every second.
pub struct Victoria {
    pub addr: String,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl Victoria {
    pub fn start(target: &str) -> Victoria {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("scrape.yml");
        std::fs::write(&conf, scrape_config(target, None)).unwrap();
        let addr = format!("127.0.0.1:{}", upsd::free_port());
        let mut cmd = Command::new("victoria-metrics");
        cmd.arg(format!(
            "-storageDataPath={}",
            dir.path().join("data").display()
        ))
        .arg(format!("-httpListenAddr={addr}"))
        .arg(format!("-promscrape.config={}", conf.display()))
        // Fresh samples are hidden from queries for 30 s by default.
        .arg("-search.latencyOffset=1s")
        // A test's first, empty answers must not be cached for the later queries.
        .arg("-search.disableCache")
        .arg("-loggerLevel=WARN");
        let proc = Proc::spawn(&mut cmd, dir.path().join("victoria-metrics.log"));
        let mut me = Victoria {
            addr,
            proc,
            _dir: dir,
        };
        wait_until(
            Duration::from_secs(60),
            "VictoriaMetrics to be ready",
            || {
                me.proc.assert_running("victoria-metrics");
                get(&me.addr, "/health").filter(|(c, b)| *c == 200 && b.trim() == "OK")
            },
        );
        me
    }

    /// Imports a text exposition with millisecond timestamps (`/api/v1/import/prometheus`).
    pub fn import(&self, text: &str) {
        let (code, body) = http(
            &self.addr,
            "POST",
            "/api/v1/import/prometheus",
            text.as_bytes(),
        )
        .expect("VictoriaMetrics answers the import");
        assert!(code == 204 || code == 200, "import: HTTP {code}: {body}");
    }

    pub fn log_text(&self) -> String {
        self.proc.log_text()
    }
}

/// The dashboard JSON.
pub fn dashboard() -> Value {
    let path = monitoring_dir().join("grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, rows' nested panels included.
pub fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter());
        }
    }
    out
}

/// One query of a panel: its expression and whether Grafana sends it as an instant query.
pub struct PanelQuery {
    pub panel: String,
    pub expr: String,
    pub instant: bool,
}

pub fn panel_queries(d: &Value) -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(PanelQuery {
                panel: p["title"].as_str().unwrap_or("").to_string(),
                expr: t["expr"].as_str().unwrap_or("").to_string(),
                instant: t["instant"].as_bool().unwrap_or(false),
            });
        }
    }
    out
}

/// The expression as Grafana sends it with every variable on "All" (`.*`) and the time range and
/// intervals filled in.
pub fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
        .replace("$ups", ".*")
        .replace("$sensor", ".*")
        .replace("$host", ".*")
}

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers and
/// ranges that are not functions, aggregations, keywords or the label lists of by/on/….
pub fn metric_names(expr: &str) -> std::collections::BTreeSet<String> {
    // Aggregations may be followed by `by (…)` instead of their parenthesis.
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "count",
        "count_values",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let c: Vec<char> = expr.chars().collect();
    let mut names = std::collections::BTreeSet::new();
    let mut i = 0;
    let skip_to = |i: &mut usize, close: char| {
        while *i < c.len() && c[*i] != close {
            if c[*i] == '"' || c[*i] == '\'' {
                let q = c[*i];
                *i += 1;
                while *i < c.len() && c[*i] != q {
                    if c[*i] == '\\' {
                        *i += 1;
                    }
                    *i += 1;
                }
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '{' {
            i += 1;
            skip_to(&mut i, '}');
        } else if ch == '[' {
            i += 1;
            skip_to(&mut i, ']');
        } else if ch == '"' || ch == '\'' {
            i += 1;
            skip_to(&mut i, ch);
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
        } else if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let mut j = i;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            let call = j < c.len() && c[j] == '(';
            if LABEL_LISTS.contains(&word.as_str()) {
                if call {
                    i = j + 1;
                    skip_to(&mut i, ')');
                }
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_skips_functions_labels_and_keywords() {
    let e = r#"max by (instance, ups) (a_b{x=~"$ups",flag="OB"}) + 2 * sum(rate(c:d[5m])) > bool 0 unless on (host) e offset 5m"#;
    let got: Vec<String> = metric_names(e).into_iter().collect();
    assert_eq!(got, ["a_b", "c:d", "e"]);
}
