//! monitoring/grafana-dashboard.json holds what Grafana's import needs (no Grafana in Debian to
//! import it for real): the schema fields, no fixed dashboard id, a datasource variable that
//! every panel, query and variable uses, unique panel ids, panels inside the 24-column grid that do
//! not overlap, every variable a query uses defined, and every metric a query selects present in
//! the real exporter's output (or, for the warden's, in the names agreed with it).

use super::common::{self, dashboard, exposition_names, metric_names, panel_queries, panels};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const PANEL_TYPES: &[&str] = &[
    "row",
    "stat",
    "gauge",
    "timeseries",
    "table",
    "state-timeline",
    "bargauge",
];

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{what} must be a non-empty string, is {v}"))
}

#[test]
fn the_dashboard_json_has_what_grafana_needs_to_import_it() {
    let d = dashboard();
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});

    // Top level.
    str_of(&d["title"], "title");
    let uid = str_of(&d["uid"], "uid");
    assert!(
        uid.len() <= 40
            && uid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "uid {uid}"
    );
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion {} (datasource references by uid need 36 or later)",
        d["schemaVersion"]
    );
    assert!(
        d["id"].is_null(),
        "a fixed id would overwrite another dashboard on import"
    );
    assert!(
        d["__inputs"].is_null(),
        "the datasource is a variable, not an import input"
    );
    str_of(&d["time"]["from"], "time.from");
    str_of(&d["time"]["to"], "time.to");

    // Variables: the datasource first (the others query it), then query variables.
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    assert_eq!(vars[0]["name"], "datasource");
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    let mut names = BTreeSet::new();
    for v in vars {
        assert!(names.insert(str_of(&v["name"], "variable name")), "{v}");
        if v["type"] == "query" {
            assert_eq!(v["datasource"], ds, "variable {}", v["name"]);
            let q = str_of(&v["query"]["query"], "variable query");
            assert_eq!(v["definition"], q);
            assert!(q.starts_with("label_values("), "{q}");
        }
    }

    // Panels.
    let all = panels(&d);
    assert!(all.len() >= 10, "{} panels", all.len());
    let mut ids = BTreeSet::new();
    let mut boxes = Vec::new();
    for p in &all {
        let title = str_of(&p["title"], "panel title");
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "panel id {id} ({title}) is used twice");
        let ty = str_of(&p["type"], "panel type");
        assert!(PANEL_TYPES.contains(&ty), "{title}: panel type {ty}");
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
            g[k].as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {g}");
        for (other, (ox, oy, ow, oh)) in &boxes {
            assert!(
                x >= ox + ow || ox >= &(x + w) || y >= oy + oh || oy >= &(y + h),
                "{title} overlaps {other}"
            );
        }
        boxes.push((title.to_string(), (x, y, w, h)));
        if ty == "row" {
            continue;
        }
        assert_eq!(p["datasource"], ds, "{title}: datasource");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let mut refs = BTreeSet::new();
        for t in targets {
            assert_eq!(t["datasource"], ds, "{title}: query datasource");
            assert!(
                refs.insert(str_of(&t["refId"], "refId")),
                "{title}: refId twice"
            );
            str_of(&t["expr"], "expr");
        }
    }

    // Every $variable a query uses is defined (or one of Grafana's own).
    for q in panel_queries(&d) {
        for part in q.expr.split('$').skip(1) {
            let var: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                var.starts_with("__") || names.contains(var.as_str()),
                "{}: ${var} is not a dashboard variable",
                q.panel
            );
        }
    }

    // Every metric a query or variable selects exists: the sensors' in the real exporter's
    // output, the warden's in the names agreed with it.
    let exporter = common::Exporter::start();
    let mut known = exposition_names(&exporter.metrics());
    known.extend(exposition_names(common::WARDEN_METRICS));
    let mut used = BTreeSet::new();
    for q in panel_queries(&d) {
        let found = metric_names(&q.expr);
        assert!(!found.is_empty(), "{}: no metric in {}", q.panel, q.expr);
        for m in found {
            assert!(
                known.contains(&m),
                "{}: {m} is in neither the exporter's output nor the warden's names",
                q.panel
            );
            used.insert(m);
        }
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let q = v["query"]["query"].as_str().unwrap();
        let metric = q["label_values(".len()..].split(',').next().unwrap().trim();
        assert!(known.contains(metric), "variable {}: {metric}", v["name"]);
    }
    // The panels the issue asks for are there.
    for m in [
        "network_ups_tools_ups_status",
        "network_ups_tools_battery_charge",
        "network_ups_tools_battery_runtime",
        "network_ups_tools_ups_load",
        "tessera_temperature_celsius",
        "tessera_warden_host_waiting_seconds",
        "tessera_warden_pending",
        "tessera_warden_unlocks_total",
    ] {
        assert!(used.contains(m), "no panel shows {m}");
    }
}
