//! Tests of `sightline top`: frames drawn with ratatui's `TestBackend` from fixed snapshots,
//! key handling, and the HTTP side against real local listeners.

mod keys;
mod live;
mod render;

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Style;
use ratatui::Terminal;
use serde_json::{json, Value};

use super::app::{App, Round};
use super::model::{HistoryView, RuleView, SummaryView};

/// The wall clock of the fixed snapshots (00:00:00Z on 2023-11-15).
pub(super) const WALL: u64 = 1_700_006_400_000;

/// A summary as an instance would send it, with `patch` merged over the defaults.
pub(super) fn summary(patch: Value) -> SummaryView {
    let mut base = json!({
        "status": "healthy",
        "version": "0.1.0",
        "generated_unix_ms": WALL - 400,
        "uptime_seconds": 7_384.0,
        "window": {
            "window_seconds": 10.0, "covered_seconds": 10.0, "requests": 1200,
            "requests_per_second": 120.0, "avg_response_time_ms": 85.2, "p50_ms": 40.0,
            "p99_ms": 310.0, "errors": 3, "error_rate_percent": 0.25,
            "status": {"1xx": 0, "2xx": 1100, "3xx": 40, "4xx": 57, "5xx": 3},
            "cache": {"hit": 300, "miss": 100, "stale": 0, "bypass": 800},
            "cache_hit_ratio_percent": 75.0, "bytes_per_second": 2_048_000.0,
        },
        "memory_usage_bytes": 97_300_000u64,
        "queue_size": 3,
        "healthy_upstreams": 3,
        "total_upstreams": 3,
        "upstreams": [
            upstream("127.0.0.1:9001", true),
            upstream("127.0.0.1:9002", true),
            upstream("127.0.0.1:9003", true),
        ],
        "alerts": [],
        "slowest": [{
            "unix_ms": WALL - 2000, "method": "GET", "path": "/api/items/7", "status": 200,
            "latency_ms": 412.5, "cache": "bypass", "upstream": "127.0.0.1:9002",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "trace_url": null
        }],
    });
    merge(&mut base, patch);
    serde_json::from_value(base).expect("fixture summary parses")
}

/// One upstream's figures.
pub(super) fn upstream(addr: &str, healthy: bool) -> Value {
    json!({
        "address": addr, "healthy": healthy, "in_flight": 1, "requests": 4012, "errors": 2,
        "avg_response_time_ms": 12.5, "window_requests": 400, "window_errors": 1,
        "window_avg_response_time_ms": 11.0, "last_check_unix_ms": WALL - 1500,
        "last_check_ok": healthy, "last_check_duration_ms": 1.2,
        "consecutive_failures": if healthy { 0 } else { 3 },
        "last_change_unix_ms": WALL - 600_000, "downtime_seconds": 12.0,
    })
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The spec's default rules, as `/api/alerts/rules` lists them.
pub(super) fn default_rules() -> Vec<RuleView> {
    serde_json::from_value(json!([
        {"name": "high_latency", "metric": "avg_response_time_ms", "op": ">", "threshold": 200.0, "severity": "warning"},
        {"name": "low_cache_hit_ratio", "metric": "cache_hit_ratio_percent", "op": "<", "threshold": 50.0, "severity": "warning", "min_samples": 20},
        {"name": "high_error_rate", "metric": "error_rate_percent", "op": ">", "threshold": 5.0, "severity": "critical"},
        {"name": "no_healthy_upstream", "metric": "healthy_upstreams", "op": "<", "threshold": 1.0, "severity": "critical"},
    ]))
    .expect("rules parse")
}

/// A history of `n` seconds where `rps(i)` gives each second's rate.
pub(super) fn history(n: usize, rps: impl Fn(usize) -> f64) -> HistoryView {
    let samples: Vec<Value> = (0..n)
        .map(|i| {
            let r = rps(i);
            json!({
                "unix_ms": WALL - 1000 * (n - i) as u64, "seconds": 1.0,
                "requests": r as u64, "requests_per_second": r,
                "status": {"1xx": 0, "2xx": r as u64, "3xx": 0, "4xx": 0, "5xx": (i % 7 == 0) as u64},
                "errors": 0, "error_rate_percent": 0.0, "cache_hit_ratio_percent": 75.0,
                "avg_response_time_ms": 10.0 + i as f64, "p50_ms": 5.0, "p99_ms": 30.0,
                "bytes_sent": 1000, "in_flight": 2, "healthy_upstreams": 3,
            })
        })
        .collect();
    serde_json::from_value(json!({"duration_seconds": n, "samples": samples})).expect("history")
}

/// An app over `n` instances with the clocks fixed.
pub(super) fn app(n: usize) -> App {
    let urls: Vec<String> = (0..n)
        .map(|i| format!("http://10.0.0.{}:9190", i + 1))
        .collect();
    let mut app = App::new(&urls, Duration::from_secs(1));
    app.tick(Instant::now(), WALL);
    app
}

/// Feeds instance `i` a good round.
pub(super) fn feed(app: &mut App, i: usize, s: SummaryView, h: Option<HistoryView>) {
    app.apply(
        i,
        Round {
            summary: Some(Ok(s)),
            history: h,
            rules: Some(default_rules()),
            ..Default::default()
        },
    );
}

/// Draws the app on a `w` × `h` test terminal.
pub(super) fn draw(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| super::views::draw(f, app)).expect("draw");
    t.backend().buffer().clone()
}

/// The screen's rows as text.
pub(super) fn rows(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

/// The whole screen as text.
pub(super) fn screen(buf: &Buffer) -> String {
    rows(buf).join("\n")
}

/// Where `needle` first appears on a row whose text starts (after trimming) with `row_start`,
/// as (x, y).
pub(super) fn find_in_row(buf: &Buffer, row_start: &str, needle: &str) -> Option<(u16, u16)> {
    rows(buf).iter().enumerate().find_map(|(y, row)| {
        if !row.trim_start().starts_with(row_start) {
            return None;
        }
        let at = row.find(needle)?;
        let x = row[..at].chars().count();
        Some((x as u16, y as u16))
    })
}

/// The style of the cell at `pos`.
pub(super) fn style_at(buf: &Buffer, pos: (u16, u16)) -> Style {
    buf[pos].style()
}
