//! The requests view: a live tail of `/api/requests/recent` (newest first), filtered by status
//! class, cache status, "slow" and text (`/`), frozen by `p`; Enter shows one request whole.

use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{col, fit_columns, no_data, popup, section, selected_style, status_style, widths, Col};
use crate::dashboard::tui::app::App;
use crate::dashboard::tui::fmt;
use crate::dashboard::tui::model::RequestView;

const COLS: [Col; 8] = [
    col("TIME", 9, 2),
    col("METHOD", 7, 3),
    Col {
        title: "PATH",
        width: 12,
        keep: 0,
        fill: true,
    },
    col("STATUS", 6, 0),
    col("LATENCY", 9, 0),
    col("CACHE", 6, 1),
    col("UPSTREAM", 21, 4),
    col("TRACE", 32, 5),
];

fn cells(r: &RequestView, slow_ms: f64) -> Vec<Cell<'static>> {
    let latency = Span::raw(fmt::ms(r.latency_ms));
    vec![
        Cell::from(fmt::clock(r.unix_ms)),
        Cell::from(r.method.clone()),
        Cell::from(r.path.clone()),
        Cell::from(Span::styled(r.status.to_string(), status_style(r.status))),
        Cell::from(if r.latency_ms >= slow_ms {
            latency.yellow().bold()
        } else {
            latency
        }),
        Cell::from(r.cache.clone()),
        Cell::from(r.upstream.clone().unwrap_or_else(|| "-".into())),
        Cell::from(Span::raw(r.trace_id.clone().unwrap_or_else(|| "-".into())).dim()),
    ]
}

/// Draws the requests view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let inst = app.current();
    if inst.live().is_none() {
        return no_data(f, area, app);
    }
    let rows = app.request_rows();
    let mut title = format!(
        "requests · {} of the last {}",
        rows.len(),
        inst.recent.len()
    );
    if !app.filter().is_empty() {
        title.push_str(&format!(" · filter \"{}\"", app.filter()));
    }
    if app.paused {
        title.push_str(" · PAUSED (p resumes)");
    }
    let block = section(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let kept = fit_columns(&COLS, inner.width);
    let slow = inst.slow_ms();
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|r| {
            let mut all = cells(r, slow);
            Row::new(
                kept.iter()
                    .map(|&i| std::mem::take(&mut all[i]))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let header = Row::new(kept.iter().map(|&i| COLS[i].title)).style(Style::new().bold().dim());
    let table = Table::new(table_rows, widths(&COLS, &kept))
        .header(header)
        .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(app.row()));
    f.render_stateful_widget(table, inner, &mut state);
    if app.detail {
        if let Some(r) = rows.get(app.row()) {
            let mut lines = vec![
                Line::from(format!("{} {}", r.method, r.path)),
                Line::from(format!(
                    "status {} · {} · cache {} · at {}",
                    r.status,
                    fmt::ms(r.latency_ms),
                    r.cache,
                    fmt::clock(r.unix_ms)
                )),
                Line::from(format!(
                    "upstream {}",
                    r.upstream.as_deref().unwrap_or("none")
                )),
                Line::from(format!(
                    "trace {}",
                    r.trace_id.as_deref().unwrap_or("not sampled")
                )),
            ];
            if let Some(url) = &r.trace_url {
                lines.push(Line::from(url.clone()));
            }
            popup(f, area, "request", lines);
        }
    }
}
