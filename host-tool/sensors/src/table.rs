//! The human table: one line per UPS or probe, errors inline with their fix.

use crate::model::{Reading, SensorResult, Ups};
use std::fmt::Write;

fn duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn ups_line(u: &Ups) -> String {
    let mut parts = vec![u
        .vars
        .get("ups.status")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "status ?".into())];
    if let Some(c) = u.num("battery.charge") {
        parts.push(format!("charge {c:.0}%"));
    }
    if let Some(r) = u.num("battery.runtime") {
        parts.push(format!("runtime {}", duration(r)));
    }
    if let Some(l) = u.num("ups.load") {
        parts.push(format!("load {l:.0}%"));
    }
    for (var, name) in [
        ("input.voltage", "in"),
        ("output.voltage", "out"),
        ("battery.voltage", "batt"),
    ] {
        if let Some(v) = u.num(var) {
            parts.push(format!("{name} {v:.1} V"));
        }
    }
    if u.status.shutdown_imminent {
        parts.push("SHUTDOWN IMMINENT".into());
    }
    if let Some(m) = u.vars.get("device.model") {
        parts.push(format!("({})", m.trim()));
    }
    parts.join("  ")
}

/// Renders the table.
pub fn render(results: &[SensorResult]) -> String {
    let mut rows: Vec<(String, &str, String)> = Vec::new();
    for r in results {
        match &r.reading {
            Reading::Ups(u) => rows.push((r.id.clone(), r.kind.as_str(), ups_line(u))),
            Reading::Temperatures(ts) if ts.is_empty() => {
                rows.push((r.id.clone(), r.kind.as_str(), "no readable probe".into()))
            }
            Reading::Temperatures(ts) => {
                for t in ts {
                    let mut s = format!("{:.1} °C", t.celsius);
                    if let Some(age) = t.age_seconds {
                        let _ = write!(s, " (logged {} ago)", duration(age));
                    }
                    let mut name = t.probe.clone();
                    if let Some(l) = &t.label {
                        name = format!("{name} {l}");
                    }
                    rows.push((r.id.clone(), r.kind.as_str(), format!("{name}: {s}")));
                }
            }
            Reading::Error(e) => rows.push((r.id.clone(), r.kind.as_str(), format!("ERROR {e}"))),
        }
    }
    let w0 = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut out = format!("{:<w0$}  {:<8}  READING\n", "SENSOR", "KIND");
    for (id, kind, text) in rows {
        let _ = writeln!(out, "{id:<w0$}  {kind:<8}  {text}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::duration(3000.0), "50m00s");
        assert_eq!(super::duration(42.0), "42s");
        assert_eq!(super::duration(7300.0), "2h01m");
    }
}
