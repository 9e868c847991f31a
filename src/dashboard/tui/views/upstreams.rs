//! The upstreams view: a table (health, ejection when the instance reports it, in-flight,
//! req/s, avg/p99, errors, last check, consecutive failures, downtime) with a selectable row,
//! and, on Enter, a detail pane with that upstream's history over the window.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::overview::draw_spark;
use super::{col, fit_columns, no_data, section, selected_style, widths, Col};
use crate::dashboard::tui::app::App;
use crate::dashboard::tui::fmt;
use crate::dashboard::tui::judge::trend;
use crate::dashboard::tui::model::{figure, UpstreamView};

const COLS: [Col; 12] = [
    col("ADDRESS", 21, 0),
    col("HEALTH", 7, 0),
    col("EJECTED", 26, 3),
    col("IN-FL", 5, 2),
    col("REQ/S", 7, 1),
    col("AVG", 9, 1),
    col("P99", 9, 4),
    col("ERRORS", 7, 2),
    col("LAST CHECK", 13, 3),
    col("FAILS", 5, 4),
    col("DOWNTIME", 9, 5),
    col("CHANGED", 8, 6),
];

fn health(u: &UpstreamView) -> Span<'static> {
    if u.ejected == Some(true) {
        Span::raw("ejected").magenta().bold()
    } else if u.healthy {
        Span::raw("up").green()
    } else {
        Span::raw("DOWN").red().bold()
    }
}

fn ejected(u: &UpstreamView, wall_ms: u64) -> String {
    match (u.ejected, u.ejected_until_unix_ms) {
        (Some(true), Some(until)) => format!(
            "{} left{}",
            fmt::age(std::time::Duration::from_millis(
                until.saturating_sub(wall_ms)
            )),
            u.ejection_reason
                .as_deref()
                .map(|r| format!(" {r}"))
                .unwrap_or_default()
        ),
        (Some(true), None) => "yes".to_owned(),
        _ => match u.ejections {
            Some(n) if n > 0 => format!("no ({n}×)"),
            _ => "no".to_owned(),
        },
    }
}

fn cells(u: &UpstreamView, covered: f64, wall_ms: u64) -> Vec<Cell<'static>> {
    let rps = if covered > 0.0 {
        u.window_requests as f64 / covered
    } else {
        0.0
    };
    let check = if u.last_check_unix_ms == 0 {
        Span::raw("never").dim()
    } else if u.last_check_ok {
        Span::raw(format!("ok {}", fmt::ms(u.last_check_duration_ms))).green()
    } else {
        Span::raw(format!("FAIL {}", fmt::ms(u.last_check_duration_ms))).red()
    };
    vec![
        Cell::from(u.address.clone()),
        Cell::from(health(u)),
        Cell::from(ejected(u, wall_ms)),
        Cell::from(u.in_flight.to_string()),
        Cell::from(figure(rps)),
        Cell::from(fmt::ms(u.window_avg_response_time_ms)),
        Cell::from(u.window_p99_ms.map_or("-".to_owned(), fmt::ms)),
        Cell::from(if u.window_errors > 0 {
            Span::raw(u.window_errors.to_string()).red()
        } else {
            Span::raw("0")
        }),
        Cell::from(check),
        Cell::from(if u.consecutive_failures > 0 {
            Span::raw(u.consecutive_failures.to_string()).red()
        } else {
            Span::raw("0")
        }),
        Cell::from(fmt::span(u.downtime_seconds)),
        Cell::from(fmt::age_ms(u.last_change_unix_ms, wall_ms)),
    ]
}

/// Draws the upstreams view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let inst = app.current();
    let Some(s) = inst.live() else {
        return no_data(f, area, app);
    };
    let rows = app.upstream_rows();
    let (table_area, detail_area) = if app.detail && area.height >= 8 {
        let table_h = (rows.len() as u16 + 2).min(area.height / 2);
        let [a, b] =
            Layout::vertical([Constraint::Length(table_h), Constraint::Fill(1)]).areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    let block = section(format!(
        "upstreams · {}/{} in rotation · window {}s",
        s.healthy_upstreams,
        s.total_upstreams,
        figure(s.window.window_seconds)
    ));
    let inner = block.inner(table_area);
    f.render_widget(block, table_area);
    // The ejection column only for instances that report ejection.
    let reports_ejection = s.upstreams.iter().any(|u| u.ejected.is_some());
    let longest = rows.iter().map(|u| u.address.len()).max().unwrap_or(0) as u16;
    let cols: Vec<Col> = COLS
        .iter()
        .copied()
        .filter(|c| reports_ejection || c.title != "EJECTED")
        .map(|c| match c.title {
            // As wide as the longest address: spare width stays at the right.
            "ADDRESS" => col(c.title, longest.clamp(7, 40), c.keep),
            _ => c,
        })
        .collect();
    let kept = fit_columns(&cols, inner.width);
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|u| {
            let mut all = cells(u, s.window.covered_seconds, app.wall_ms);
            if !reports_ejection {
                all.remove(2);
            }
            Row::new(
                kept.iter()
                    .map(|&i| std::mem::take(&mut all[i]))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let header = Row::new(kept.iter().map(|&i| cols[i].title)).style(Style::new().bold().dim());
    let table = Table::new(table_rows, widths(&cols, &kept))
        .header(header)
        .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(app.row()));
    f.render_stateful_widget(table, inner, &mut state);
    if let (Some(area), Some(u)) = (detail_area, rows.get(app.row())) {
        draw_detail(f, area, app, u);
    }
}

fn draw_detail(f: &mut Frame, area: Rect, app: &App, u: &UpstreamView) {
    let block = section(format!("{} · last {}", u.address, app.window.label()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut lines = vec![Line::from(format!(
        "since start: {} requests, {} errors, avg {} · {} · downtime {}",
        u.requests,
        u.errors,
        fmt::ms(u.avg_response_time_ms),
        if u.last_change_unix_ms == 0 {
            "never left the rotation".to_owned()
        } else {
            format!(
                "last change {} ago",
                fmt::age_ms(u.last_change_unix_ms, app.wall_ms)
            )
        },
        fmt::span(u.downtime_seconds)
    ))];
    if let Some(reason) = &u.ejection_reason {
        lines.push(Line::from(format!("ejection: {reason}")));
    }
    let detail = app
        .current()
        .detail
        .as_ref()
        .filter(|(addr, _)| *addr == u.address);
    let Some((_, d)) = detail else {
        lines.push(Line::from("loading history…".dim()));
        f.render_widget(Paragraph::new(lines), inner);
        return;
    };
    let n = lines.len() as u16;
    f.render_widget(Paragraph::new(lines), inner);
    let series: [(&str, Vec<f64>, Color); 3] = [
        (
            "avg latency",
            d.history.iter().map(|p| p.avg_response_time_ms).collect(),
            Color::Cyan,
        ),
        (
            "requests",
            d.history.iter().map(|p| p.requests as f64).collect(),
            Color::Green,
        ),
        (
            "errors",
            d.history.iter().map(|p| p.errors as f64).collect(),
            Color::Red,
        ),
    ];
    // Up to 4 rows each: enough for a shape, and the pane stays readable on tall terminals.
    let spark_h = (inner.height.saturating_sub(n) / 3).clamp(1, 4);
    for (i, (name, data, color)) in series.iter().enumerate() {
        let y = inner.y + n + i as u16 * spark_h;
        if y >= inner.y + inner.height {
            break;
        }
        let h = spark_h.min(inner.y + inner.height - y);
        let last = data.last().copied().unwrap_or(0.0);
        let label = format!(
            "{name:<12}{:>9} {} ",
            if *name == "avg latency" {
                fmt::ms(last)
            } else {
                figure(last)
            },
            trend(data).arrow()
        );
        let lw = label.chars().count() as u16;
        f.render_widget(
            Paragraph::new(label),
            Rect {
                x: inner.x,
                y,
                width: inner.width.min(lw),
                height: 1,
            },
        );
        if inner.width > lw + 1 {
            let rect = Rect {
                x: inner.x + lw,
                y,
                width: inner.width - lw,
                height: h,
            };
            let covered: f64 = d.history.iter().map(|p| p.resolution_seconds()).sum();
            let window = app.window.seconds() as f64;
            draw_spark(
                f,
                rect,
                (data, covered, window),
                None,
                Style::new().fg(*color),
            );
        }
    }
}
