//! The alerts view: firing alerts first, then past ones, coloured by severity, with start, end,
//! value and peak; `a` acknowledges the selected one, Enter shows its message and trace ids.

use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{
    col, fit_columns, no_data, popup, section, selected_style, severity_style, widths, Col,
};
use crate::dashboard::tui::app::App;
use crate::dashboard::tui::fmt;
use crate::dashboard::tui::model::{figure, label, AlertRecordView};

const COLS: [Col; 10] = [
    col("SEVERITY", 8, 0),
    Col {
        title: "ALERT",
        width: 16,
        keep: 0,
        fill: true,
    },
    col("STATE", 8, 1),
    col("STARTED", 9, 2),
    col("ENDED", 9, 3),
    col("FOR", 8, 2),
    col("VALUE", 8, 1),
    col("PEAK", 8, 2),
    col("RULE", 10, 4),
    col("ACK", 3, 3),
];

fn cells(a: &AlertRecordView, wall_ms: u64) -> Vec<Cell<'static>> {
    let lasted = match a.ended_unix_ms {
        Some(end) => fmt::span(end.saturating_sub(a.started_unix_ms) as f64 / 1000.0),
        None => fmt::span(wall_ms.saturating_sub(a.started_unix_ms) as f64 / 1000.0),
    };
    let state = if a.firing() {
        Span::raw("firing").red().bold()
    } else {
        Span::raw("resolved").green()
    };
    vec![
        Cell::from(Span::styled(
            a.severity.as_str(),
            severity_style(a.severity),
        )),
        Cell::from(label(&a.name, a.target.as_deref())),
        Cell::from(state),
        Cell::from(fmt::clock(a.started_unix_ms)),
        Cell::from(a.ended_unix_ms.map_or("-".to_owned(), fmt::clock)),
        Cell::from(lasted),
        Cell::from(figure(a.value)),
        Cell::from(figure(a.peak)),
        Cell::from(if a.op.is_empty() {
            "-".to_owned()
        } else {
            format!("{} {}", a.op, figure(a.threshold))
        }),
        Cell::from(if a.acknowledged { "yes" } else { "no" }),
    ]
}

/// Draws the alerts view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let inst = app.current();
    if inst.live().is_none() {
        return no_data(f, area, app);
    }
    let rows = app.alert_rows();
    let firing = rows.iter().filter(|a| a.firing()).count();
    let block = section(format!(
        "alerts · {firing} firing · {} past · a acknowledges",
        rows.len() - firing
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if rows.is_empty() {
        f.render_widget(Line::from("no alerts".green()), inner);
        return;
    }
    let kept = fit_columns(&COLS, inner.width);
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|a| {
            let mut all = cells(a, app.wall_ms);
            let row = Row::new(
                kept.iter()
                    .map(|&i| std::mem::take(&mut all[i]))
                    .collect::<Vec<_>>(),
            );
            if a.firing() {
                row
            } else {
                row.style(Style::new().dim())
            }
        })
        .collect();
    let header = Row::new(kept.iter().map(|&i| COLS[i].title)).style(Style::new().bold().dim());
    let table = Table::new(table_rows, widths(&COLS, &kept))
        .header(header)
        .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(Some(app.row()));
    f.render_stateful_widget(table, inner, &mut state);
    if app.detail {
        if let Some(a) = rows.get(app.row()) {
            let mut lines = vec![Line::from(a.message.clone())];
            lines.push(Line::from(format!(
                "{} {} {} · value {} · peak {}",
                a.metric,
                a.op,
                figure(a.threshold),
                figure(a.value),
                figure(a.peak)
            )));
            for id in &a.trace_ids {
                lines.push(Line::from(format!("trace {id}")));
            }
            popup(f, area, &label(&a.name, a.target.as_deref()), lines);
        }
    }
}
