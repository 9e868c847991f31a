//! Frames from fixed snapshots: threshold colours, sparklines, an unreachable instance, cluster
//! totals, narrow and tiny terminals, and fields only newer instances send.

use std::time::Duration;

use ratatui::style::Color;
use serde_json::json;

use super::*;
use crate::dashboard::tui::app::{InstanceState, View};
use crate::dashboard::tui::cluster::totals;

/// The foreground colour of `value` on the overview row `label`.
fn colour_of(app: &App, label: &str, value: &str) -> Option<Color> {
    let buf = draw(app, 120, 40);
    let pos = find_in_row(&buf, label, value)
        .unwrap_or_else(|| panic!("no {value:?} on the {label:?} row:\n{}", screen(&buf)));
    style_at(&buf, pos).fg
}

fn is_bar(c: char) -> bool {
    ('▁'..='█').contains(&c)
}

#[test]
fn colours_follow_each_threshold() {
    // avg_response_time_ms > 200 (warning): green clear of it, yellow within 20 %, red beyond.
    for (avg, shown, colour) in [
        (100.0, "100 ms", Color::Green),
        (170.0, "170 ms", Color::Yellow),
        (250.0, "250 ms", Color::Red),
    ] {
        let mut a = app(1);
        feed(
            &mut a,
            0,
            summary(json!({"window": {"avg_response_time_ms": avg}})),
            None,
        );
        assert_eq!(colour_of(&a, "avg", shown), Some(colour), "avg {avg}");
    }
    // cache_hit_ratio_percent < 50 (warning), judged only with 20 cacheable requests.
    for (hit, shown, colour) in [
        (80.0, "80%", Color::Green),
        (55.0, "55%", Color::Yellow),
        (30.0, "30%", Color::Red),
    ] {
        let mut a = app(1);
        feed(
            &mut a,
            0,
            summary(json!({"window": {"cache_hit_ratio_percent": hit}})),
            None,
        );
        assert_eq!(colour_of(&a, "hit ratio", shown), Some(colour), "hit {hit}");
    }
    let mut idle = app(1);
    let few = json!({"window": {"cache_hit_ratio_percent": 10.0, "cache": {"hit": 1, "miss": 9}}});
    feed(&mut idle, 0, summary(few), None);
    assert_eq!(
        colour_of(&idle, "hit ratio", "10%"),
        Some(Color::Reset),
        "too few lookups to judge"
    );
    // error_rate_percent > 5 (critical).
    for (err, shown, colour) in [
        (0.25, "0.2%", Color::Green),
        (4.5, "4.5%", Color::Yellow),
        (12.0, "12%", Color::Red),
    ] {
        let mut a = app(1);
        feed(
            &mut a,
            0,
            summary(json!({"window": {"error_rate_percent": err}})),
            None,
        );
        assert_eq!(colour_of(&a, "errors", shown), Some(colour), "errors {err}");
    }
    // No rule watches in-flight requests: uncoloured.
    let mut a = app(1);
    feed(&mut a, 0, summary(json!({})), None);
    assert_eq!(colour_of(&a, "in flight", "3"), Some(Color::Reset));
}

#[test]
fn sparklines_draw_the_history() {
    let mut a = app(1);
    feed(
        &mut a,
        0,
        summary(json!({})),
        Some(history(300, |i| i as f64)),
    );
    let buf = draw(&a, 120, 40);
    let row = rows(&buf)
        .into_iter()
        .find(|r| r.starts_with("req/s"))
        .expect("a req/s row");
    let bars: Vec<char> = row.chars().filter(|&c| is_bar(c)).collect();
    assert!(bars.len() >= 80, "a bar per column: {row}");
    assert!(bars.first() < bars.last(), "rising traffic rises: {row}");
    assert_eq!(bars.last(), Some(&'█'));
    assert!(row.contains('↑'), "trend arrow: {row}");
    // The status mix has its own sparkline per class.
    let mix = rows(&buf)
        .into_iter()
        .find(|r| r.starts_with("2xx"))
        .unwrap();
    assert!(mix.chars().any(is_bar), "{mix}");
    // A young history (30 s of the 5-minute window) takes the right-hand tenth only.
    feed(&mut a, 0, summary(json!({})), Some(history(30, |_| 5.0)));
    let row = rows(&draw(&a, 120, 40))
        .into_iter()
        .find(|r| r.starts_with("req/s"))
        .unwrap();
    let first = row.chars().position(is_bar).unwrap();
    assert_eq!(row.chars().filter(|&c| is_bar(c)).count(), 10, "{row}");
    assert_eq!(first, 110, "{row}");
    // Falling traffic points down.
    feed(
        &mut a,
        0,
        summary(json!({})),
        Some(history(300, |i| 300.0 - i as f64)),
    );
    let row = rows(&draw(&a, 120, 40))
        .into_iter()
        .find(|r| r.starts_with("req/s"))
        .unwrap();
    assert!(row.contains('↓'), "{row}");
}

#[test]
fn unreachable_instance_shows_the_error_and_last_seen() {
    let mut a = app(2);
    feed(&mut a, 0, summary(json!({})), None);
    a.apply(
        0,
        Round {
            summary: Some(Err("cannot connect: Connection refused".into())),
            retry_in: Some(Duration::from_secs(16)),
            ..Default::default()
        },
    );
    a.apply(
        1,
        Round {
            summary: Some(Err("timed out".into())),
            retry_in: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    );
    let later = a.now + Duration::from_secs(12);
    a.tick(later, WALL + 12_000);
    let text = screen(&draw(&a, 160, 30));
    assert!(text.contains("UNREACHABLE"), "{text}");
    assert!(
        text.contains("cannot connect: Connection refused"),
        "{text}"
    );
    assert!(text.contains("last seen 12s ago"), "{text}");
    assert!(text.contains("retry in 4s"), "{text}");
    assert!(
        text.contains("timed out") && text.contains("never seen"),
        "{text}"
    );
    assert_eq!(a.current().state(), InstanceState::Unreachable);
    // The body says so too, rather than showing stale figures as live.
    assert!(!text.contains("req/s"), "{text}");
}

#[test]
fn cluster_totals_sum_rates_and_weigh_averages() {
    let mut a = app(3);
    feed(
        &mut a,
        0,
        summary(json!({"window": {
            "requests_per_second": 100.0, "requests": 1000, "p99_ms": 10.0, "avg_response_time_ms": 5.0,
            "errors": 10, "cache": {"hit": 90, "miss": 10}, "cache_hit_ratio_percent": 90.0,
        }})),
        None,
    );
    let two_of_two = [
        upstream("10.1.0.1:80", true),
        upstream("10.1.0.2:80", false),
    ];
    feed(
        &mut a,
        1,
        summary(json!({
            "status": "degraded", "healthy_upstreams": 1, "total_upstreams": 2, "upstreams": two_of_two,
            "window": {
                "requests_per_second": 50.0, "requests": 3000, "p99_ms": 50.0, "avg_response_time_ms": 9.0,
                "errors": 30, "cache": {"hit": 150, "miss": 150}, "cache_hit_ratio_percent": 50.0,
            }
        })),
        None,
    );
    a.apply(
        2,
        Round {
            summary: Some(Err("cannot connect: Connection refused".into())),
            ..Default::default()
        },
    );
    let t = totals(&a.instances);
    assert_eq!(t.requests_per_second, 150.0);
    assert_eq!(t.p99_ms, (10.0 * 1000.0 + 50.0 * 3000.0) / 4000.0);
    assert_eq!(t.avg_ms, (5.0 * 1000.0 + 9.0 * 3000.0) / 4000.0);
    assert_eq!((t.errors, t.error_rate_percent), (40, 1.0));
    assert_eq!(t.hit_ratio_percent, (90.0 * 100.0 + 50.0 * 300.0) / 400.0);
    assert_eq!((t.upstreams_up, t.upstreams, t.reporting), (4, 5, 2));
    assert_eq!(t.state, InstanceState::Unreachable, "worst state wins");

    a.view = View::Cluster;
    let buf = draw(&a, 120, 30);
    let text = screen(&buf);
    let total = rows(&buf)
        .into_iter()
        .find(|r| r.trim_start().starts_with("TOTAL"))
        .unwrap();
    for figure in ["unreachable", "150", "40 ms", "40 · 1%", "60%", "4/5"] {
        assert!(total.contains(figure), "{figure:?} in {total:?}");
    }
    assert!(text.contains("2/3 instances answering"), "{text}");
    assert!(
        text.contains("10.0.0.2:9190") && text.contains("degraded"),
        "{text}"
    );
    assert!(text.contains("10.0.0.3:9190 (never seen)"), "{text}");
}

#[test]
fn narrow_terminals_drop_columns_not_the_program() {
    let mut a = app(2);
    let mut down = summary(json!({}));
    down.upstreams[1].healthy = false;
    feed(&mut a, 0, down, Some(history(300, |i| (i % 17) as f64)));
    a.view = View::Upstreams;
    let wide = screen(&draw(&a, 160, 48));
    for col in [
        "ADDRESS",
        "HEALTH",
        "REQ/S",
        "LAST CHECK",
        "FAILS",
        "DOWNTIME",
    ] {
        assert!(wide.contains(col), "{col} at 160 columns:\n{wide}");
    }
    assert!(wide.contains("DOWN"), "{wide}");
    let narrow = screen(&draw(&a, 40, 12));
    assert!(
        narrow.contains("ADDRESS") && narrow.contains("127.0.0.1:9001"),
        "{narrow}"
    );
    assert!(
        !narrow.contains("DOWNTIME"),
        "dropped at 40 columns:\n{narrow}"
    );
    // Every view, with popups, at narrow and absurd sizes: drawn, never a panic.
    for view in View::ALL {
        for detail in [false, true] {
            a.view = view;
            a.detail = detail;
            a.help = detail;
            for (w, h) in [(40, 12), (20, 5), (1, 1), (3, 0), (0, 3), (200, 4)] {
                let _ = draw(&a, w, h);
            }
        }
    }
    a.help = false;
    a.detail = false;
    a.view = View::Overview;
    let small = screen(&draw(&a, 40, 12));
    assert!(
        small.contains("HEALTHY") && small.contains("req/s"),
        "{small}"
    );
}

#[test]
fn newer_fields_show_when_present_and_are_absent_safe() {
    let mut a = app(1);
    let mut ejected = upstream("127.0.0.1:9001", true);
    ejected["ejected"] = json!(true);
    ejected["ejected_until_unix_ms"] = json!(WALL + 20_000);
    ejected["ejection_reason"] = json!("5 consecutive 5xx");
    ejected["ejections"] = json!(2);
    let newer = summary(json!({
        "cpu_percent": 12.5, "connections": 48,
        "bytes_received_per_second": 1536.0, "bytes_sent_per_second": 2_097_152.0,
        "upstreams": [ejected], "rejected": {"bad_header": 3}, "some_future_field": [1, 2],
    }));
    feed(&mut a, 0, newer, None);
    let text = screen(&draw(&a, 120, 40));
    for s in [
        "cpu",
        "12%",
        "connections",
        "48",
        "recv/s",
        "1.5 KiB",
        "2.0 MiB",
    ] {
        assert!(text.contains(s), "{s}:\n{text}");
    }
    a.view = View::Upstreams;
    let text = screen(&draw(&a, 160, 40));
    assert!(
        text.contains("EJECTED") && text.contains("ejected"),
        "{text}"
    );
    assert!(text.contains("20s left 5 consecutive 5xx"), "{text}");

    let mut old = app(1);
    feed(&mut old, 0, summary(json!({})), None);
    let text = screen(&draw(&old, 120, 40));
    assert!(!text.contains("cpu") && !text.contains("recv/s"), "{text}");
    old.view = View::Upstreams;
    assert!(!screen(&draw(&old, 160, 40)).contains("EJECTED"));

    let mut hourly = history(60, |_| 5.0);
    for p in &mut hourly.samples {
        p.seconds = 60.0;
        p.resolution = Some(json!(60));
    }
    feed(&mut a, 0, summary(json!({})), Some(hourly));
    a.view = View::Overview;
    a.window = crate::dashboard::tui::app::HistoryWindow::Hour;
    let text = screen(&draw(&a, 120, 40));
    assert!(
        text.contains("figures · last 1 h · 1-min samples"),
        "{text}"
    );
    let row = rows(&draw(&a, 120, 40))
        .into_iter()
        .find(|r| r.starts_with("req/s"))
        .unwrap();
    assert_eq!(
        row.chars().filter(|&c| is_bar(c)).count(),
        95,
        "60 minute samples fill the hour: {row}"
    );

    let minute: crate::dashboard::tui::model::PointView =
        serde_json::from_value(json!({"seconds": 60.0, "resolution": "1m"})).unwrap();
    assert_eq!(minute.resolution_seconds(), 60.0);
    let plain: crate::dashboard::tui::model::PointView =
        serde_json::from_value(json!({"seconds": 1.0})).unwrap();
    assert_eq!(plain.resolution_seconds(), 1.0);
}

#[test]
fn header_carries_status_version_uptime_alerts_window_refresh_sample() {
    let mut a = app(1);
    let s = summary(json!({
        "status": "degraded",
        "alerts": [{"id": 4, "name": "upstream_down", "target": "127.0.0.1:9003", "severity": "warning",
                    "value": 0.0, "since_unix_ms": WALL - 65_000, "acknowledged": false}],
    }));
    feed(&mut a, 0, s, None);
    let buf = draw(&a, 160, 40);
    let head = &rows(&buf)[0];
    for s in [
        "DEGRADED",
        "10.0.0.1:9190",
        "v0.1.0",
        "up 2 hours 3 minutes",
        "alerts 1",
        "window 10s",
        "refresh 1s",
        "sample 23:59:59Z",
    ] {
        assert!(head.contains(s), "{s:?} in {head:?}");
    }
    let badge = find_in_row(&buf, "", "DEGRADED").unwrap();
    assert_eq!(style_at(&buf, badge).bg, Some(Color::Yellow));
    let text = screen(&buf);
    assert!(text.contains("upstream_down(127.0.0.1:9003)"), "{text}");
    assert!(
        text.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "slowest with trace id:\n{text}"
    );
}
