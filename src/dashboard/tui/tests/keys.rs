//! Key handling: view switching, selection, filter, pause, window, help, quit, acknowledge.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::*;
use crate::dashboard::tui::app::{HistoryWindow, View};
use crate::dashboard::tui::keys::{on_key, Action};
use crate::dashboard::tui::model::{AlertsView, RequestView};

fn press(app: &mut App, code: KeyCode) -> Option<Action> {
    on_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn request(status: u16, cache: &str, latency_ms: f64, path: &str) -> RequestView {
    RequestView {
        unix_ms: WALL,
        method: "GET".into(),
        path: path.into(),
        status,
        latency_ms,
        cache: cache.into(),
        ..Default::default()
    }
}

fn with_tail(app: &mut App) {
    feed(app, 0, summary(json!({})), None);
    app.apply(
        0,
        Round {
            recent: Some(vec![
                request(200, "hit", 1.0, "/static/app.css"),
                request(503, "bypass", 30.0, "/api/items/1"),
                request(404, "miss", 2.0, "/nope"),
                request(500, "bypass", 900.0, "/api/slow"),
            ]),
            ..Default::default()
        },
    );
}

#[test]
fn tab_shift_tab_and_digits_switch_views() {
    let mut a = app(1);
    assert_eq!(a.view, View::Overview);
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.view, View::Upstreams);
    press(&mut a, KeyCode::BackTab);
    press(&mut a, KeyCode::BackTab);
    assert_eq!(a.view, View::Cluster, "wraps");
    for (key, view) in [
        ('1', View::Overview),
        ('2', View::Upstreams),
        ('3', View::Requests),
        ('4', View::Alerts),
        ('5', View::Cluster),
    ] {
        press(&mut a, KeyCode::Char(key));
        assert_eq!(a.view, view);
    }
    let text = screen(&draw(&a, 120, 20));
    assert!(text.contains("cluster ·"), "{text}");
}

#[test]
fn arrows_select_and_enter_opens_detail() {
    let mut a = app(2);
    feed(&mut a, 0, summary(json!({})), None);
    feed(&mut a, 1, summary(json!({})), None);
    press(&mut a, KeyCode::Char('2'));
    press(&mut a, KeyCode::Down);
    press(&mut a, KeyCode::Down);
    press(&mut a, KeyCode::Down);
    assert_eq!(a.row(), 2, "stops at the last upstream");
    press(&mut a, KeyCode::Up);
    assert_eq!(a.row(), 1);
    press(&mut a, KeyCode::Enter);
    assert!(a.detail);
    assert_eq!(a.wants().detail.as_deref(), Some("127.0.0.1:9002"));
    press(&mut a, KeyCode::Esc);
    assert!(!a.detail && a.wants().detail.is_none());
    // In the cluster view Enter picks the instance the other views show.
    press(&mut a, KeyCode::Char('5'));
    press(&mut a, KeyCode::Down);
    press(&mut a, KeyCode::Enter);
    assert_eq!((a.view, a.selected), (View::Overview, 1));
    press(&mut a, KeyCode::Right);
    assert_eq!(a.selected, 0, "→ cycles instances");
}

#[test]
fn slash_filters_the_tail_and_esc_clears_it() {
    let mut a = app(1);
    with_tail(&mut a);
    press(&mut a, KeyCode::Char('3'));
    assert_eq!(a.request_rows().len(), 4);
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "5xx");
    assert_eq!(a.request_rows().len(), 4, "applies on Enter");
    let text = screen(&draw(&a, 120, 20));
    assert!(
        text.contains("/5xx"),
        "the prompt shows what is typed:\n{text}"
    );
    press(&mut a, KeyCode::Enter);
    let paths: Vec<&str> = a.request_rows().iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/api/items/1", "/api/slow"]);
    let text = screen(&draw(&a, 120, 20));
    assert!(
        text.contains("/api/slow") && !text.contains("/static/app.css"),
        "{text}"
    );
    // Refine: slow only (the instance's latency rule: 200 ms).
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, " slow");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.filter(), "5xx slow");
    let paths: Vec<&str> = a.request_rows().iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/api/slow"]);
    // Cache status.
    press(&mut a, KeyCode::Char('/'));
    for _ in 0.."5xx slow".len() {
        press(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "hit");
    press(&mut a, KeyCode::Enter);
    let paths: Vec<&str> = a.request_rows().iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/static/app.css"]);
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.request_rows().len(), 4);
    // q while typing is text, not quit.
    press(&mut a, KeyCode::Char('/'));
    press(&mut a, KeyCode::Char('q'));
    assert!(!a.quit);
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.filter(), "", "Esc cancels the prompt");
}

#[test]
fn p_freezes_the_tail() {
    let mut a = app(1);
    with_tail(&mut a);
    press(&mut a, KeyCode::Char('3'));
    press(&mut a, KeyCode::Char('p'));
    assert!(a.paused && a.wants().paused);
    a.apply(
        0,
        Round {
            recent: Some(vec![request(200, "hit", 1.0, "/new")]),
            ..Default::default()
        },
    );
    assert_eq!(a.request_rows().len(), 4, "frozen");
    assert!(screen(&draw(&a, 120, 20)).contains("PAUSED"));
    press(&mut a, KeyCode::Char('p'));
    a.apply(
        0,
        Round {
            recent: Some(vec![request(200, "hit", 1.0, "/new")]),
            ..Default::default()
        },
    );
    assert_eq!(a.request_rows()[0].path, "/new");
}

#[test]
fn plus_minus_r_help_and_quit() {
    let mut a = app(1);
    assert_eq!(a.wants().history_seconds, 300);
    press(&mut a, KeyCode::Char('+'));
    assert_eq!(
        (a.window, a.wants().history_seconds),
        (HistoryWindow::Hour, 3600)
    );
    press(&mut a, KeyCode::Char('+'));
    press(&mut a, KeyCode::Char('+'));
    assert_eq!(a.wants().history_seconds, 86_400, "24 h is the longest");
    press(&mut a, KeyCode::Char('-'));
    assert_eq!(a.window, HistoryWindow::Hour);
    let seq = a.wants().refresh_seq;
    press(&mut a, KeyCode::Char('r'));
    assert_eq!(a.wants().refresh_seq, seq + 1);
    press(&mut a, KeyCode::Char('?'));
    assert!(a.help);
    assert!(screen(&draw(&a, 120, 30)).contains("acknowledge the selected alert"));
    press(&mut a, KeyCode::Esc);
    assert!(!a.help && !a.quit);
    press(&mut a, KeyCode::Char('q'));
    assert!(a.quit);
    let mut b = app(1);
    on_key(
        &mut b,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    );
    assert!(b.quit, "Ctrl-C quits");
}

/// An app in the alerts view with alert 7 firing and 5 resolved.
pub(super) fn with_alerts(app: &mut App) {
    feed(app, 0, summary(json!({})), None);
    let alerts: AlertsView = serde_json::from_value(json!({
        "active": [{"id": 7, "name": "high_latency", "severity": "warning", "metric": "avg_response_time_ms",
                    "op": ">", "threshold": 200.0, "state": "firing", "value": 250.3, "peak": 312.0,
                    "started_unix_ms": WALL - 42_000, "acknowledged": false, "message": "ALERT FIRING ..."}],
        "history": [
            {"id": 7, "name": "high_latency", "severity": "warning", "state": "firing", "started_unix_ms": WALL - 42_000},
            {"id": 5, "name": "high_error_rate", "severity": "critical", "metric": "error_rate_percent",
             "op": ">", "threshold": 5.0, "state": "resolved", "value": 9.0, "peak": 20.0,
             "started_unix_ms": WALL - 600_000, "ended_unix_ms": WALL - 540_000, "acknowledged": true},
        ],
    }))
    .unwrap();
    app.apply(
        0,
        Round {
            alerts: Some(alerts),
            ..Default::default()
        },
    );
    press(app, KeyCode::Char('4'));
}

#[test]
fn a_acknowledges_the_selected_alert() {
    let mut a = app(1);
    press(&mut a, KeyCode::Char('a'));
    assert!(
        a.note.as_deref().unwrap().contains("alerts view"),
        "not in the alerts view"
    );
    with_alerts(&mut a);
    let text = screen(&draw(&a, 160, 30));
    assert!(
        text.contains("firing") && text.contains("resolved"),
        "{text}"
    );
    assert!(
        text.contains("312") && text.contains("> 200"),
        "peak and rule: {text}"
    );
    let buf = draw(&a, 160, 30);
    let warning = find_in_row(&buf, "warning", "warning").unwrap();
    assert_eq!(
        style_at(&buf, warning).fg,
        Some(ratatui::style::Color::Yellow)
    );
    let critical = find_in_row(&buf, "critical", "critical").unwrap();
    assert_eq!(
        style_at(&buf, critical).fg,
        Some(ratatui::style::Color::Red)
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('a')),
        Some(Action::Ack { instance: 0, id: 7 })
    );
    press(&mut a, KeyCode::Down);
    assert_eq!(
        press(&mut a, KeyCode::Char('a')),
        None,
        "5 is already acknowledged"
    );
}
