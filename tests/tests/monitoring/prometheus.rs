//! Debian's Prometheus scrapes a real `tessera sensors serve` that reads a real upsd + dummy-ups,
//! and evaluates monitoring/alerts.yml (a copy whose one-minute `for:` is 5 s, every second): on
//! the healthy UPS nothing fires; when the UPS goes on battery with a low battery the on-battery
//! alert is first pending, then firing, the low-battery one firing; back on line they resolve.
//! Every state is read from `/api/v1/alerts` and `/api/v1/rules`. Then every dashboard query runs
//! through Prometheus' query API without error.

use super::common::{self, expand, panel_queries, Exporter, Prometheus};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The active alerts: name -> (state, the whole alert).
fn alerts(p: &Prometheus) -> BTreeMap<String, (String, Value)> {
    let v = p.api("/api/v1/alerts", &[]);
    v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                (a["state"].as_str().unwrap().to_string(), a.clone()),
            )
        })
        .collect()
}

/// Every alerting rule: name -> (state, health, lastError).
fn rules(p: &Prometheus) -> BTreeMap<String, (String, String, String)> {
    let v = p.api("/api/v1/rules", &[("type", "alert")]);
    let mut out = BTreeMap::new();
    for g in v["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            out.insert(s("name"), (s("state"), s("health"), s("lastError")));
        }
    }
    out
}

#[test]
fn ups_alerts_go_pending_then_firing_and_resolve_in_a_real_prometheus() {
    let started = Instant::now();
    let exporter = Exporter::start();
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(common::monitoring_dir().join("alerts.yml")).unwrap();
    assert!(original.contains("for: 1m"));
    let rules_file = dir.path().join("alerts.yml");
    std::fs::write(&rules_file, original.replace("for: 1m", "for: 5s")).unwrap();
    let prom = Prometheus::start(&exporter.addr, &rules_file);

    // Healthy: scraped, every rule evaluated without error, nothing active.
    common::wait_until(Duration::from_secs(30), "the first scrape", || {
        let v = prom.api(
            "/api/v1/query",
            &[("query", "up{job=\"tessera-sensors\"} == 1")],
        );
        (!v["data"]["result"].as_array().unwrap().is_empty()).then_some(())
    });
    let loaded = common::wait_until(Duration::from_secs(30), "every rule evaluated", || {
        let r = rules(&prom);
        r.values().all(|(_, h, _)| h == "ok").then_some(r)
    });
    assert_eq!(loaded.len(), 14, "{loaded:?}");
    std::thread::sleep(Duration::from_secs(3));
    let healthy = alerts(&prom);
    assert!(healthy.is_empty(), "alerts on a healthy UPS: {healthy:?}");

    // Mains lost, battery low, 300 s of runtime left.
    let cut = Instant::now();
    exporter.set_ups("OB DISCHRG LB", 18, 300);
    let mut pending_at = None;
    let firing_at = common::wait_until(
        Duration::from_secs(60),
        "TesseraUpsOnBattery firing",
        || {
            let a = alerts(&prom);
            match a.get("TesseraUpsOnBattery").map(|(s, _)| s.as_str()) {
                Some("pending") => {
                    pending_at.get_or_insert(Instant::now());
                    assert_eq!(rules(&prom)["TesseraUpsOnBattery"].0, "pending");
                    None
                }
                Some("firing") => Some((Instant::now(), a)),
                _ => None,
            }
        },
    );
    let (firing_at, active) = firing_at;
    let pending_at = pending_at.expect("TesseraUpsOnBattery was never seen pending");
    let held = firing_at - pending_at;
    assert!(
        held >= Duration::from_secs(3),
        "pending for only {held:?} with for: 5s"
    );
    let (_, on_battery) = &active["TesseraUpsOnBattery"];
    assert_eq!(on_battery["labels"]["ups"], "eaton3s");
    assert_eq!(on_battery["labels"]["severity"], "warning");
    assert_eq!(on_battery["labels"]["flag"], "OB");
    assert_eq!(
        on_battery["annotations"]["summary"],
        "UPS eaton3s is on battery"
    );
    // Low battery has no delay: firing by now. Runtime low has 5 s too.
    let active = common::wait_until(
        Duration::from_secs(30),
        "low battery and runtime firing",
        || {
            let a = alerts(&prom);
            ["TesseraUpsLowBattery", "TesseraUpsRuntimeLow"]
                .iter()
                .all(|n| a.get(*n).is_some_and(|(s, _)| s == "firing"))
                .then_some(a)
        },
    );
    let (_, low) = &active["TesseraUpsLowBattery"];
    assert_eq!(low["labels"]["severity"], "critical");
    assert_eq!(low["labels"]["ups"], "eaton3s");
    assert_eq!(
        active["TesseraUpsRuntimeLow"].1["annotations"]["summary"],
        "UPS eaton3s: only 5m 0s of runtime"
    );
    let unexpected: Vec<&String> = active
        .keys()
        .filter(|k| {
            ![
                "TesseraUpsOnBattery",
                "TesseraUpsLowBattery",
                "TesseraUpsRuntimeLow",
            ]
            .contains(&k.as_str())
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let r = rules(&prom);
    for n in [
        "TesseraUpsOnBattery",
        "TesseraUpsLowBattery",
        "TesseraUpsRuntimeLow",
    ] {
        assert_eq!(r[n].0, "firing", "{n} in /api/v1/rules");
    }
    eprintln!(
        "on battery: pending after {:?}, firing after {:?}",
        pending_at - cut,
        firing_at - cut
    );

    // Mains back: every alert resolves, every rule inactive again.
    exporter.set_ups("OL CHRG", 100, 3000);
    common::wait_until(Duration::from_secs(30), "the alerts to resolve", || {
        let a = alerts(&prom);
        let r = rules(&prom);
        (a.is_empty() && r.values().all(|(s, h, _)| s == "inactive" && h == "ok")).then_some(())
    });

    // Every dashboard query is valid PromQL that Prometheus evaluates (the warden's panels have
    // no data here; the sensors' panels must).
    for q in panel_queries(&common::dashboard()) {
        let expr = expand(&q.expr);
        let v = common::api(&prom.addr, "/api/v1/query", &[("query", &expr)]);
        assert_eq!(v["status"], "success", "{}: {expr}: {v}", q.panel);
        if !expr.contains("tessera_warden_") {
            assert!(
                !v["data"]["result"].as_array().unwrap().is_empty(),
                "{}: no data for {expr}",
                q.panel
            );
        }
    }
    let log = prom.log_text();
    assert!(!log.contains("level=error"), "{log}");
    eprintln!("prometheus test took {:?}", started.elapsed());
}
