//! Debian's VictoriaMetrics scrapes the same real exporter (upsd + dummy-ups, a 1-Wire fixture),
//! and holds the warden's series (the agreed names, imported: the warden is another daemon); every
//! dashboard panel's query, as Grafana sends it, and every variable's label_values() go through its
//! Prometheus query API and return data without error.

use super::common::{self, expand, panel_queries, Exporter, Victoria};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The warden's exposition with a millisecond timestamp on every sample; counters 0 when `zero`.
fn stamped(text: &str, ts_ms: u128, zero: bool) -> String {
    let mut out = String::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = l.rsplit_once(' ').unwrap();
        let value = if zero && series.contains("_total") {
            "0"
        } else {
            value
        };
        out.push_str(&format!("{series} {value} {ts_ms}\n"));
    }
    out
}

#[test]
fn victoriametrics_answers_every_dashboard_query_with_data() {
    let exporter = Exporter::start();
    let vm = Victoria::start(&exporter.addr);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // Ten minutes of warden history: the counters rise once, five minutes ago.
    let mut import = String::new();
    for m in (0..=10u128).rev() {
        import.push_str(&stamped(common::WARDEN_METRICS, now - m * 60_000, m > 5));
    }
    vm.import(&import);

    // VictoriaMetrics makes new samples searchable within seconds; a range query's points are
    // aligned to its step, so wait until the last 15 s step holds scraped and imported samples.
    let now_s = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let range = |expr: &str, end: u64| {
        common::api(
            &vm.addr,
            "/api/v1/query_range",
            &[
                ("query", expr),
                ("start", &(end - 900).to_string()),
                ("end", &end.to_string()),
                ("step", "15"),
            ],
        )
    };
    let end = common::wait_until(
        Duration::from_secs(60),
        "scraped and imported series",
        || {
            let end = now_s();
            [
                "tessera_sensor_up",
                "network_ups_tools_ups_status",
                "tessera_warden_up",
            ]
            .iter()
            .all(|m| {
                range(m, end)["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            })
            .then_some(end)
        },
    );
    let (start, end) = ((end - 900).to_string(), end.to_string());
    let queries = panel_queries(&common::dashboard());
    assert!(queries.len() >= 15, "{} queries", queries.len());
    for q in &queries {
        let expr = expand(&q.expr);
        let v = if q.instant {
            common::api(
                &vm.addr,
                "/api/v1/query",
                &[("query", &expr), ("time", &end)],
            )
        } else {
            common::api(
                &vm.addr,
                "/api/v1/query_range",
                &[
                    ("query", &expr),
                    ("start", &start),
                    ("end", &end),
                    ("step", "15"),
                ],
            )
        };
        assert_eq!(v["status"], "success", "{}: {expr}: {v}", q.panel);
        let result = v["data"]["result"].as_array().unwrap();
        assert!(
            !result.is_empty(),
            "{}: no data for {expr}\n{}",
            q.panel,
            vm.log_text()
        );
    }
    // The variables, as Grafana's label_values(metric, label) asks for them.
    for v in common::dashboard()["templating"]["list"]
        .as_array()
        .unwrap()
    {
        let Some(q) = v["query"]["query"].as_str() else {
            continue;
        };
        let inner = q.trim_start_matches("label_values(").trim_end_matches(')');
        let (metric, label) = inner.split_once(',').unwrap();
        let ans = common::api(
            &vm.addr,
            &format!("/api/v1/label/{}/values", label.trim()),
            &[("match[]", metric.trim()), ("start", &start), ("end", &end)],
        );
        assert_eq!(ans["status"], "success", "{q}: {ans}");
        assert!(
            ans["data"].as_array().is_some_and(|d| !d.is_empty()),
            "variable {}: no values for {q}",
            v["name"]
        );
    }
    // The exporter's UPS and thermometer are what the power and temperature panels show.
    let v = common::api(
        &vm.addr,
        "/api/v1/query",
        &[("query", "tessera_temperature_celsius"), ("time", &end)],
    );
    assert_eq!(v["data"]["result"][0]["value"][1], "23.125", "{v}");
    assert_eq!(
        v["data"]["result"][0]["metric"]["job"], "tessera-sensors",
        "{v}"
    );
}
