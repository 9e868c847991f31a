//! The cluster view: one row per instance and the fleet's totals; Enter shows the selected
//! instance in the other views.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::header::{last_seen, short_url};
use super::{col, fit_columns, section, selected_style, state_style, widths, Col};
use crate::dashboard::tui::app::{App, InstanceState};
use crate::dashboard::tui::cluster::{row, totals, ClusterRow};
use crate::dashboard::tui::fmt;
use crate::dashboard::tui::model::figure;

const COLS: [Col; 7] = [
    col("INSTANCE", 20, 0),
    col("STATUS", 12, 0),
    col("REQ/S", 9, 0),
    col("P99", 9, 1),
    col("ERRORS", 13, 1),
    col("HIT", 6, 2),
    col("UPSTREAMS", 9, 2),
];

fn figures(r: &ClusterRow) -> [String; 5] {
    [
        figure(r.requests_per_second),
        fmt::ms(r.p99_ms),
        format!("{} · {}", r.errors, fmt::pct(r.error_rate_percent)),
        fmt::pct(r.hit_ratio_percent),
        format!("{}/{}", r.upstreams_up, r.upstreams),
    ]
}

fn cells(
    name: String,
    state: InstanceState,
    figs: Option<[String; 5]>,
    kept: &[usize],
) -> Row<'static> {
    let mut all: Vec<Cell> = vec![
        Cell::from(name),
        Cell::from(Span::styled(
            format!(" {} ", state.label()),
            state_style(state),
        )),
    ];
    match figs {
        Some(f) => all.extend(f.into_iter().map(Cell::from)),
        None => all.extend((0..5).map(|_| Cell::from("-"))),
    }
    Row::new(
        kept.iter()
            .map(|&i| std::mem::take(&mut all[i]))
            .collect::<Vec<_>>(),
    )
}

/// Draws the cluster view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let total = totals(&app.instances);
    let block = section(format!(
        "cluster · {}/{} instances answering",
        total.reporting,
        app.instances.len()
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let names: Vec<String> = app
        .instances
        .iter()
        .map(|inst| {
            let name = short_url(&inst.url);
            if inst.state() == InstanceState::Unreachable {
                format!("{name} ({})", last_seen(app, inst))
            } else {
                name
            }
        })
        .collect();
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as u16;
    let mut cols = COLS;
    cols[0].width = longest.clamp(8, 60);
    let kept = fit_columns(&cols, inner.width);
    let mut rows: Vec<Row> = app
        .instances
        .iter()
        .zip(names)
        .map(|(inst, name)| cells(name, inst.state(), row(inst).map(|r| figures(&r)), &kept))
        .collect();
    rows.push(
        cells("TOTAL".into(), total.state, Some(figures(&total)), &kept).style(Style::new().bold()),
    );
    let header = Row::new(kept.iter().map(|&i| cols[i].title)).style(Style::new().bold().dim());
    let table = Table::new(rows, widths(&cols, &kept))
        .header(header)
        .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(app.row()));
    f.render_stateful_widget(table, inner, &mut state);
}
