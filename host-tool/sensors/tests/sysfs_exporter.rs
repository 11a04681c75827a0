//! The sysfs readers, hidraw discovery and every output mode against a sysfs-like fixture tree in
//! a temp dir: the exporter is scraped over real HTTP and its body parsed with a Prometheus
//! text-format parser; the textfile is written for real and checked.

use argh::FromArgs;
use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use tessera_sensors::cli::SensorsCmd;
use tessera_sensors::hid::{discover, Found};
use tessera_sensors::{collect, Config, Kind, Reading, SensorError};

const CPS: &str = include_str!("fixtures/hid/cyberpower-cst135uc2.hex");

fn hex(text: &str) -> Vec<u8> {
    text.lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| {
            l.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// A sysfs tree shaped like the kernel's, and a /dev with what the tests need.
fn fixture() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let sys = t.path().join("sys");
    let sys = sys.as_path();
    // 1-Wire: one good DS18B20, one with a CRC failure, and the bus master (not a thermometer).
    write(
        sys,
        "bus/w1/devices/28-0000061b587b/w1_slave",
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
    );
    write(
        sys,
        "bus/w1/devices/28-000000000bad/w1_slave",
        "72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
    );
    write(sys, "bus/w1/devices/w1_bus_master1/uevent", "");
    // hwmon: coretemp behind a device link, a w1 chip without one, a chip with no temperature.
    write(sys, "devices/platform/coretemp.0/uevent", "");
    write(sys, "class/hwmon/hwmon0/name", "coretemp\n");
    write(sys, "class/hwmon/hwmon0/temp1_input", "45000\n");
    write(sys, "class/hwmon/hwmon0/temp1_label", "Package id 0\n");
    write(sys, "class/hwmon/hwmon0/temp2_input", "43000\n");
    write(sys, "class/hwmon/hwmon0/temp3_input", "127000\n");
    write(sys, "class/hwmon/hwmon0/temp3_fault", "1\n");
    std::os::unix::fs::symlink(
        "../../../devices/platform/coretemp.0",
        sys.join("class/hwmon/hwmon0/device"),
    )
    .unwrap();
    write(sys, "class/hwmon/hwmon1/name", "w1_slave_temp\n");
    write(sys, "class/hwmon/hwmon1/temp1_input", "23125\n");
    write(sys, "class/hwmon/hwmon2/name", "nvme\n");
    write(sys, "class/hwmon/hwmon2/in0_input", "1200\n");
    // thermal zones: one good, one whose temp file is missing.
    write(sys, "class/thermal/thermal_zone0/type", "acpitz\n");
    write(sys, "class/thermal/thermal_zone0/temp", "27800\n");
    write(sys, "class/thermal/thermal_zone1/type", "x86_pkg_temp\n");
    write(sys, "class/thermal/cooling_device0/type", "Processor\n");
    // hidraw: a CyberPower UPS, and a TEMPer stick's two interfaces (keyboard, vendor page).
    write(
        sys,
        "class/hidraw/hidraw0/device/uevent",
        "DRIVER=hid-generic\nHID_ID=0003:00000764:00000601\nHID_NAME=CPS CST135UC2\nHID_UNIQ=\n",
    );
    write(
        sys,
        "class/hidraw/hidraw0/device/report_descriptor",
        hex(CPS),
    );
    let kbd = [
        0x05u8, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7, 0x15, 0x00, 0x25,
        0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0xC0,
    ];
    let vendor = [
        0x06u8, 0x00, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x01, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75,
        0x08, 0x95, 0x08, 0x81, 0x02, 0x09, 0x01, 0x91, 0x02, 0xC0,
    ];
    write(
        sys,
        "class/hidraw/hidraw1/device/uevent",
        "HID_ID=0003:00000C45:00007401\nHID_NAME=RDing TEMPerV1.4\n",
    );
    write(sys, "class/hidraw/hidraw1/device/report_descriptor", kbd);
    write(
        sys,
        "class/hidraw/hidraw2/device/uevent",
        "HID_ID=0003:00000C45:00007401\nHID_NAME=RDing TEMPerV1.4\n",
    );
    write(sys, "class/hidraw/hidraw2/device/report_descriptor", vendor);
    // /dev/hidraw0 is a plain file here: the hidraw ioctls fail on it with ENOTTY.
    write(t.path(), "dev/hidraw0", "");
    t
}

fn config(t: &Path) -> Config {
    Config {
        sysfs: t.join("sys"),
        dev: t.join("dev"),
        ..Default::default()
    }
}

#[test]
fn discovery_picks_the_ups_and_the_temper_vendor_interface() {
    let t = fixture();
    let found = discover(&t.path().join("sys"), &t.path().join("dev"));
    assert_eq!(
        found,
        vec![
            Found::Ups(t.path().join("dev/hidraw0")),
            Found::Temper(t.path().join("dev/hidraw2"))
        ]
    );
}

#[test]
fn collect_reads_every_sensor_and_names_each_failure() {
    let t = fixture();
    let results = collect(&config(t.path()));
    let by_id: HashMap<&str, _> = results.iter().map(|r| (r.id.as_str(), r)).collect();
    let dev0 = t.path().join("dev/hidraw0").display().to_string();
    assert!(
        matches!(
            &by_id[dev0.as_str()].reading,
            Reading::Error(SensorError::WrongDevice { .. })
        ),
        "{results:#?}"
    );
    let dev2 = t.path().join("dev/hidraw2").display().to_string();
    assert!(matches!(
        &by_id[dev2.as_str()].reading,
        Reading::Error(SensorError::NotFound { .. })
    ));
    assert_eq!(by_id[dev2.as_str()].kind, Kind::Temper);
    match &by_id["28-0000061b587b"].reading {
        Reading::Temperatures(t) => assert_eq!(t[0].celsius, 23.125),
        o => panic!("{o:?}"),
    }
    assert!(
        matches!(&by_id["28-000000000bad"].reading, Reading::Error(SensorError::Garbled { detail, .. }) if detail.contains("CRC"))
    );
    assert!(!by_id.contains_key("w1_bus_master1"));
    match &by_id["platform_coretemp_0"].reading {
        Reading::Temperatures(t) => {
            assert_eq!(
                t.iter()
                    .map(|t| (t.probe.as_str(), t.celsius))
                    .collect::<Vec<_>>(),
                vec![("temp1", 45.0), ("temp2", 43.0)]
            );
            assert_eq!(t[0].label.as_deref(), Some("Package id 0"));
        }
        o => panic!("{o:?}"),
    }
    assert!(by_id.contains_key("w1_slave_temp"));
    assert!(
        !by_id.contains_key("nvme"),
        "a chip without temperatures is not a thermometer"
    );
    match &by_id["thermal_zone0"].reading {
        Reading::Temperatures(t) => assert_eq!(
            (t[0].celsius, t[0].label.as_deref()),
            (27.8, Some("acpitz"))
        ),
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        &by_id["thermal_zone1"].reading,
        Reading::Error(SensorError::NotFound { .. })
    ));
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

fn gauge(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn exporter_scraped_over_http_keeps_serving_around_broken_sensors() {
    let t = fixture();
    let mut cfg = config(t.path());
    // A NUT server that is not there: up=0 for it, the rest still exported.
    cfg.nut.push(
        tessera_sensors::nut::NutServer::parse(&format!("127.0.0.1:{}", free_port())).unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        std::thread::spawn(move || tessera_sensors::exporter::serve(&listener, &cfg, Some(4)));

    // A client that connects and says nothing must not hold up the scrape behind it.
    let idle = std::net::TcpStream::connect(addr).unwrap();
    let start = std::time::Instant::now();
    let (head, body) = http_get(addr, "/metrics");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(3),
        "scrape waited for the idle client"
    );
    drop(idle);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let dev0 = t.path().join("dev/hidraw0").display().to_string();
    assert_eq!(
        gauge(
            &scrape,
            "tessera_sensor_up",
            &[("sensor", &dev0), ("kind", "ups_hid")]
        ),
        Some(0.0)
    );
    assert_eq!(
        gauge(
            &scrape,
            "tessera_sensor_up",
            &[("sensor", "28-0000061b587b")]
        ),
        Some(1.0)
    );
    assert_eq!(
        gauge(
            &scrape,
            "tessera_sensor_up",
            &[("sensor", "28-000000000bad")]
        ),
        Some(0.0)
    );
    assert_eq!(
        gauge(&scrape, "tessera_sensor_up", &[("kind", "ups_nut")]),
        Some(0.0)
    );
    assert_eq!(
        gauge(
            &scrape,
            "tessera_temperature_celsius",
            &[("sensor", "28-0000061b587b"), ("kind", "w1")]
        ),
        Some(23.125)
    );
    assert_eq!(
        gauge(
            &scrape,
            "node_hwmon_temp_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", "temp1")]
        ),
        Some(45.0)
    );
    assert_eq!(
        gauge(
            &scrape,
            "node_hwmon_sensor_label",
            &[("chip", "platform_coretemp_0"), ("label", "Package id 0")]
        ),
        Some(1.0)
    );
    assert_eq!(
        gauge(
            &scrape,
            "node_thermal_zone_temp",
            &[("zone", "0"), ("type", "acpitz")]
        ),
        Some(27.8)
    );
    assert!(
        scrape.docs.contains_key("tessera_sensor_up"),
        "HELP lines present"
    );
    let ups_up = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "tessera_sensor_up")
        .count();
    // hidraw UPS, TEMPer, NUT, two w1, two hwmon chips, two thermal zones.
    assert_eq!(ups_up, 9, "one up sample per sensor");

    let (head, _) = http_get(addr, "/nope");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    // A client that sends garbage gets 400 and the server goes on.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    server.join().unwrap().unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(args: &[&str]) -> (u8, String, String) {
    let cmd = SensorsCmd::from_args(&["tessera", "sensors"], args).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cmd.run_with(&mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn textfile_is_written_atomically_without_node_families() {
    let t = fixture();
    let sys = t.path().join("sys").display().to_string();
    let dev = t.path().join("dev").display().to_string();
    let out_dir = t.path().join("textfile");
    fs::create_dir(&out_dir).unwrap();
    let dir = out_dir.display().to_string();
    let (code, out, err) = run(&["--sysfs", &sys, "--dev", &dev, "--textfile", &dir]);
    assert_eq!(code, 1, "some fixture sensors are broken on purpose: {err}");
    assert!(out.is_empty(), "textfile mode prints nothing on stdout");
    assert!(
        err.lines().all(|l| l.starts_with("tessera sensors: ")),
        "{err}"
    );
    assert!(
        err.contains("28-000000000bad") || err.contains("w1_slave"),
        "{err}"
    );
    let names: Vec<_> = fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["tessera_sensors.prom"],
        "no temp file left behind"
    );
    let text = fs::read_to_string(out_dir.join("tessera_sensors.prom")).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert!(
        scrape
            .samples
            .iter()
            .all(|s| !s.metric.starts_with("node_")),
        "{text}"
    );
    assert_eq!(
        gauge(
            &scrape,
            "tessera_temperature_celsius",
            &[("sensor", "28-0000061b587b")]
        ),
        Some(23.125)
    );

    let (code, _, err) = run(&[
        "--sysfs",
        &sys,
        "--dev",
        &dev,
        "--textfile",
        "/nonexistent/dir",
    ]);
    assert_eq!(code, 3);
    assert!(
        err.contains("cannot write /nonexistent/dir/tessera_sensors.prom")
            && err.contains("create the directory"),
        "{err}"
    );
}

#[test]
fn table_watch_json_and_usage_errors() {
    let t = fixture();
    let sys = t.path().join("sys").display().to_string();
    let dev = t.path().join("dev").display().to_string();
    let (code, out, _) = run(&[
        "--sysfs", &sys, "--dev", &dev, "--watch", "1", "--count", "2",
    ]);
    assert_eq!(code, 1);
    assert_eq!(out.matches("SENSOR").count(), 2, "two rounds: {out}");
    assert!(
        out.contains("28-0000061b587b") && out.contains("temp1: 23.1 °C"),
        "{out}"
    );
    assert!(out.contains("ERROR") && out.contains("CRC"), "{out}");

    let (_, out, _) = run(&["--sysfs", &sys, "--dev", &dev, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let w1 = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "28-0000061b587b")
        .unwrap();
    assert_eq!(w1["temperatures"][0]["celsius"], 23.125);
    let bad = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "28-000000000bad")
        .unwrap();
    assert_eq!(bad["error"]["kind"], "garbled");

    let (_, out, _) = run(&[
        "--sysfs", &sys, "--dev", &dev, "--json", "--watch", "1", "--count", "2",
    ]);
    let rounds: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rounds.len(), 2, "one JSON array per line and round: {out}");

    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().display().to_string();
    let (code, _, err) = run(&["--sysfs", &e, "--dev", &e]);
    assert_eq!(code, 2);
    assert!(err.contains("no sensors found"), "{err}");
    assert_eq!(run(&["bogus"]).0, 2);
    assert_eq!(run(&["--listen", "127.0.0.1:1"]).0, 2);
    assert_eq!(run(&["--json", "--prometheus"]).0, 2);
    assert_eq!(run(&["--nut", "host:port"]).0, 2);
}

#[test]
fn serve_action_through_the_cli() {
    let t = fixture();
    let sys = t.path().join("sys").display().to_string();
    let dev = t.path().join("dev").display().to_string();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let l2 = listen.clone();
    let h = std::thread::spawn(move || {
        run(&[
            "serve", "--listen", &l2, "--sysfs", &sys, "--dev", &dev, "--count", "1",
        ])
    });
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let start = std::time::Instant::now();
    let body = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            break r;
        }
        assert!(start.elapsed().as_secs() < 10, "exporter did not come up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        body.contains("node_thermal_zone_temp{type=\"acpitz\",zone=\"0\"} 27.8"),
        "{body}"
    );
    let (code, _, err) = h.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("serving http://{listen}/metrics")),
        "{err}"
    );
    // The port is now free again; a second exporter on a taken port says so in one line.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run(&["serve", "--listen", &a, "--no-scan"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("cannot listen on") && err.trim().lines().count() == 1,
        "{err}"
    );
}
