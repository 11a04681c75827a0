//! The NUT client against Debian's real upsd + dummy-ups (see upsd_common.rs): the library and the
//! CLI must show what `upsc` shows, and a dead driver, a dead upsd or a cut connection must give
//! one-line errors naming the UPS while other sensors keep working.

use crate::upsd_common::{free_port, wait_for, Upsd};
use argh::FromArgs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use tessera_sensors::cli::SensorsCmd;
use tessera_sensors::nut::NutServer;
use tessera_sensors::{Kind, Reading, SensorError};

const EATON_3S: &str = include_str!("fixtures/eaton-3s-550.dev");

fn server(port: u16) -> NutServer {
    let mut s = NutServer::parse(&format!("127.0.0.1:{port}")).unwrap();
    s.timeout = Duration::from_secs(3);
    s
}

#[test]
fn library_reads_what_upsc_shows() {
    let upsd = Upsd::start("eaton3s", EATON_3S);
    let results = server(upsd.port).read();
    assert_eq!(results.len(), 1, "{results:?}");
    let r = &results[0];
    assert_eq!(r.id, format!("eaton3s@127.0.0.1:{}", upsd.port));
    assert_eq!(r.kind, Kind::UpsNut);
    let Reading::Ups(ups) = &r.reading else {
        panic!("{r:?}")
    };
    let upsc = upsd.upsc("eaton3s").unwrap();
    assert_eq!(
        ups.vars, upsc,
        "every variable and value as upsc prints them"
    );
    assert_eq!(ups.vars["device.model"], "Eaton 3S 550");
    assert!(ups.status.on_line && ups.status.charging && !ups.status.on_battery);
    assert_eq!(ups.num("battery.runtime"), Some(3000.0));
}

#[test]
fn login_with_user_and_password_from_upsd_users() {
    let upsd = Upsd::start("eaton3s", EATON_3S);
    let mut s = server(upsd.port);
    s.ups = Some("eaton3s".into());
    s.user = Some("monuser".into());
    s.password = Some("s3cret".into());
    let results = s.read();
    assert!(
        matches!(&results[0].reading, Reading::Ups(u) if u.vars["battery.charge"] == "100"),
        "{results:?}"
    );
    // A UPS name upsd does not know is an error for that name, with the upsc -l hint.
    s.ups = Some("nosuch".into());
    let results = s.read();
    match &results[0].reading {
        Reading::Error(e @ SensorError::Nut { code, .. }) => {
            assert_eq!(code, "UNKNOWN-UPS");
            assert!(e.to_string().contains("upsc -l"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cli_json_and_prometheus_match_upsc() {
    let upsd = Upsd::start("eaton3s", EATON_3S);
    let spec = format!("127.0.0.1:{}", upsd.port);
    let run = |extra: &[&str]| {
        let mut args = vec!["--nut", spec.as_str(), "--no-scan"];
        args.extend_from_slice(extra);
        let cmd = SensorsCmd::from_args(&["tessera", "sensors"], &args).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = cmd.run_with(&mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    let upsc = upsd.upsc("eaton3s").unwrap();

    let (code, out, err) = run(&["--json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let vars = &json[0]["ups"]["vars"];
    for (k, v) in &upsc {
        assert_eq!(vars[k].as_str(), Some(v.as_str()), "{k}");
    }
    assert_eq!(json[0]["ups"]["status"]["charging"], true);

    let (code, out, _) = run(&["--prometheus"]);
    assert_eq!(code, 0);
    let lines: Vec<_> = out.lines().map(|l| Ok(l.to_string())).collect();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).unwrap();
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} missing in\n{out}"))
    };
    assert_eq!(
        value("network_ups_tools_battery_charge"),
        upsc["battery.charge"].parse::<f64>().unwrap()
    );
    assert_eq!(value("network_ups_tools_battery_runtime"), 3000.0);
    assert_eq!(value("network_ups_tools_output_voltage"), 115.0);
    assert_eq!(value("tessera_sensor_up"), 1.0);

    let (code, out, _) = run(&[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("OL CHRG") && out.contains("charge 100%") && out.contains("runtime 50m00s"),
        "{out}"
    );
}

#[test]
fn killed_driver_is_an_error_for_that_ups_only() {
    let mut upsd = Upsd::start("eaton3s", EATON_3S);
    upsd.kill_driver();
    // upsd notices on its next poll of the driver socket.
    let s = server(upsd.port);
    let mut last = None;
    wait_for(
        || {
            let r = s.read();
            let broken = matches!(&r[0].reading, Reading::Error(SensorError::Nut { .. }));
            last = Some(r);
            broken
        },
        "upsd to report the dead driver",
    );
    let r = last.unwrap();
    let Reading::Error(e) = &r[0].reading else {
        unreachable!()
    };
    let SensorError::Nut { code, .. } = e else {
        unreachable!()
    };
    assert!(
        code == "DRIVER-NOT-CONNECTED" || code == "DATA-STALE",
        "{code}"
    );
    let line = e.to_string();
    assert!(
        line.starts_with(&format!("127.0.0.1:{}: upsd answered ERR", upsd.port)),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[test]
fn dead_upsd_is_a_connect_error() {
    let mut upsd = Upsd::start("eaton3s", EATON_3S);
    let port = upsd.port;
    upsd.kill_upsd();
    let r = server(port).read();
    assert!(
        matches!(
            &r[0].reading,
            Reading::Error(SensorError::ConnectFailed { .. })
        ),
        "{r:?}"
    );
    assert_eq!(r[0].id, format!("127.0.0.1:{port}"));
    assert!(r[0].outcome_error_line().contains("LISTEN"));
}

trait Line {
    fn outcome_error_line(&self) -> String;
}
impl Line for tessera_sensors::SensorResult {
    fn outcome_error_line(&self) -> String {
        match &self.reading {
            Reading::Error(e) => e.to_string(),
            _ => String::new(),
        }
    }
}

/// A proxy to upsd that forwards requests but cuts the connection after `limit` reply bytes.
fn cutting_proxy(upstream: u16, limit: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        let mut c2 = client.try_clone().unwrap();
        let mut s2 = server.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = c2.read(&mut buf) {
                if n == 0 || s2.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let mut sent = 0;
        let mut buf = [0u8; 1];
        while sent < limit && server.read(&mut buf).unwrap_or(0) == 1 {
            client.write_all(&buf).unwrap();
            sent += 1;
        }
        let _ = client.shutdown(std::net::Shutdown::Both);
    });
    port
}

#[test]
fn connection_cut_in_the_middle_of_a_list() {
    let upsd = Upsd::start("eaton3s", EATON_3S);
    // LIST UPS's reply is ~60 bytes; cut 100 bytes into LIST VAR's reply.
    let port = cutting_proxy(upsd.port, 160);
    let r = server(port).read();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].id, format!("eaton3s@127.0.0.1:{port}"));
    match &r[0].reading {
        Reading::Error(e @ SensorError::ConnectionLost { .. }) => {
            assert!(e.to_string().contains("reconnects"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Through the exporter: the cut server is up=0 while the direct one is up=1.
    let cfg = tessera_sensors::Config {
        scan: false,
        nut: vec![server(upsd.port), server(cutting_proxy(upsd.port, 160))],
        ..Default::default()
    };
    let text =
        tessera_sensors::prometheus::Exposition::of(&tessera_sensors::collect(&cfg)).render(false);
    assert!(
        text.contains(&format!(
            "tessera_sensor_up{{sensor=\"eaton3s@127.0.0.1:{}\",kind=\"ups_nut\"}} 1",
            upsd.port
        )),
        "{text}"
    );
    assert_eq!(text.matches("kind=\"ups_nut\"} 0").count(), 1, "{text}");
}

#[test]
fn nothing_listening_gives_connect_failed_with_hint() {
    let r = server(free_port()).read();
    let line = r[0].outcome_error_line();
    assert!(
        line.contains("cannot connect") && line.contains("--nut"),
        "{line}"
    );
}

/// A fake server on loopback that runs `behave` on the accepted connection.
fn fake_server(behave: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((s, _)) = listener.accept() {
            behave(s);
        }
    });
    port
}

#[test]
fn silent_server_times_out_within_the_timeout() {
    let port = fake_server(|s| {
        std::thread::sleep(Duration::from_secs(5));
        drop(s);
    });
    let mut s = server(port);
    s.timeout = Duration::from_millis(500);
    let start = std::time::Instant::now();
    let r = s.read();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(&r[0].reading, Reading::Error(SensorError::Timeout { .. })),
        "{r:?}"
    );
}

#[test]
fn a_server_that_is_not_upsd_is_garbled() {
    let port = fake_server(|mut s| {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let r = server(port).read();
    match &r[0].reading {
        Reading::Error(e @ SensorError::Garbled { .. }) => {
            assert!(e.to_string().contains("BEGIN LIST UPS"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_endless_line_is_cut_off_at_the_limit() {
    let port = fake_server(|mut s| {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let junk = vec![b'A'; 1 << 16];
        for _ in 0..64 {
            if s.write_all(&junk).is_err() {
                break;
            }
        }
    });
    let r = server(port).read();
    match &r[0].reading {
        Reading::Error(e @ SensorError::Garbled { .. }) => {
            assert!(e.to_string().contains("longer than 4096"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn power_failure_shows_up_as_on_battery_and_low_battery() {
    let upsd = Upsd::start("eaton3s", EATON_3S);
    // The 3S loses mains: dummy-ups re-reads its .dev when the file changes.
    let dev = upsd.path().join("etc/eaton3s.dev");
    let failing = EATON_3S
        .replace("ups.status: OL CHRG", "ups.status: OB DISCHRG LB")
        .replace("battery.charge: 100", "battery.charge: 18");
    std::fs::write(&dev, failing).unwrap();
    let s = server(upsd.port);
    let mut ups = None;
    wait_for(
        || {
            let r = s.read();
            if let Reading::Ups(u) = &r[0].reading {
                if u.status.on_battery {
                    ups = Some(u.clone());
                    return true;
                }
            }
            false
        },
        "the on-battery status to reach upsd",
    );
    let ups = ups.unwrap();
    assert!(
        ups.status.on_battery
            && ups.status.discharging
            && ups.status.low_battery
            && !ups.status.on_line
    );
    assert_eq!(ups.vars["battery.charge"], "18");
    let r = s.read();
    let text = tessera_sensors::prometheus::Exposition::of(&r).render(false);
    let sensor = format!("eaton3s@127.0.0.1:{}", upsd.port);
    for (flag, v) in [("OL", 0), ("OB", 1), ("LB", 1), ("DISCHRG", 1), ("CHRG", 0)] {
        let line = format!("network_ups_tools_ups_status{{ups=\"eaton3s\",sensor=\"{sensor}\",flag=\"{flag}\"}} {v}\n");
        assert!(text.contains(&line), "{line} in\n{text}");
    }
}
