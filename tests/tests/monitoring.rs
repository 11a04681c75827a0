//! monitoring/ (alert rules, their promtool unit tests, the Grafana dashboard) against real servers:
//! promtool and vmalert load the rules; Debian's Prometheus scrapes a real `tessera sensors serve`
//! that reads a real upsd + dummy-ups, and its alerts go pending, firing and resolved as the UPS
//! loses and regains mains; Debian's VictoriaMetrics scrapes the same and answers every dashboard
//! query; the dashboard JSON holds what Grafana's import needs.
//! Needs `cargo build -p tessera -p tessera-sensors` and the Debian packages `prometheus`,
//! `victoria-metrics`, `nut-server`, `nut-client` (scripts/install-deps.sh).

mod common;
mod dashboard;
mod prometheus;
mod rules;
mod victoria;
