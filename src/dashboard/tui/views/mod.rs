//! Drawing: a pure function of the [`App`] into a ratatui frame. The screen is the header (one
//! line per instance), the tab bar, the current view, and a footer with the filter prompt or
//! the last message; help and details open as popups.

mod alerts;
mod cluster;
mod header;
mod overview;
mod requests;
mod upstreams;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, InstanceState, View};
use super::judge::Level;
use super::model::AlertLevel;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let header_lines = header::height(app, area.height);
    let [head, tabs, body, foot] = Layout::vertical([
        Constraint::Length(header_lines),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, head, app);
    draw_tabs(f, tabs, app);
    match app.view {
        View::Overview => overview::draw(f, body, app),
        View::Upstreams => upstreams::draw(f, body, app),
        View::Requests => requests::draw(f, body, app),
        View::Alerts => alerts::draw(f, body, app),
        View::Cluster => cluster::draw(f, body, app),
    }
    draw_footer(f, foot, app);
    if app.help {
        draw_help(f, area);
    }
}

fn draw_tabs(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    for v in View::ALL {
        let text = format!(" {} {} ", v.index() + 1, v.title());
        spans.push(if v == app.view {
            Span::styled(text, Style::new().reversed().bold())
        } else {
            Span::raw(text)
        });
    }
    let mut right = format!(
        " history {} · refresh {}s ",
        app.window.label(),
        super::model::figure(app.refresh.as_secs_f64())
    );
    if app.instances.len() > 1 {
        right = format!(
            " instance {}/{} ·{right}",
            app.selected + 1,
            app.instances.len()
        );
    }
    if app.paused {
        right.push_str("PAUSED ");
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let room = usize::from(area.width).saturating_sub(used);
    if right.chars().count() <= room {
        spans.push(Span::raw(" ".repeat(room - right.chars().count())));
        spans.push(Span::styled(right, Style::new().dim()));
    }
    f.render_widget(Line::from(spans), area);
}

fn draw_footer(f: &mut Frame, area: Rect, app: &App) {
    let line = if let Some(edit) = &app.editing {
        Line::from(vec![
            Span::styled("/", Style::new().bold()),
            Span::raw(edit.clone()),
            Span::styled("█", Style::new().dim()),
            Span::styled("  Enter apply · Esc cancel", Style::new().dim()),
        ])
    } else if let Some(note) = &app.note {
        Line::from(Span::styled(note.clone(), Style::new().bold()))
    } else {
        let filter = app.filter();
        let mut spans = vec![Span::styled(
            "? help · Tab/1-5 views · ↑↓ select · Enter detail · / filter · p pause · a ack · +/- window · r refresh · q quit",
            Style::new().dim(),
        )];
        if !filter.is_empty() {
            spans.insert(
                0,
                Span::styled(format!("filter: {filter}  "), Style::new().bold()),
            );
        }
        Line::from(spans)
    };
    f.render_widget(line, area);
}

/// The keys, as the help popup lists them.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous view"),
    ("1 … 5", "overview, upstreams, requests, alerts, cluster"),
    ("↑ ↓  PgUp PgDn", "select a row"),
    ("← →", "previous / next instance"),
    ("Enter", "detail (cluster: show that instance)"),
    ("Esc", "close the detail, clear the filter"),
    ("/", "filter: 2xx…5xx hit miss stale bypass slow, text"),
    ("p", "pause / resume the request tail"),
    ("a", "acknowledge the selected alert"),
    ("+ / -", "history window: 5 min, 1 h, 24 h"),
    ("r", "refresh now (retries unreachable instances)"),
    ("?", "this help"),
    ("q / Ctrl-C", "quit"),
];

fn draw_help(f: &mut Frame, area: Rect) {
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:<16}"), Style::new().bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    let popup = centered(area, 70, KEYS.len() as u16 + 2);
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" keys · any key closes ")
                .border_style(Style::new().cyan()),
        ),
        popup,
    );
}

/// A popup with a title and lines (request and alert details).
fn popup(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    let rect = centered(area, 100, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(format!(" {title} · Esc closes "))
                .border_style(Style::new().cyan()),
        ),
        rect,
    );
}

/// A rectangle of at most `w` × `h` centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A section title rule: `── title ───`.
fn section(title: impl Into<String>) -> Block<'static> {
    Block::new()
        .borders(Borders::TOP)
        .border_style(Style::new().dark_gray())
        .title(Span::styled(
            format!(" {} ", title.into()),
            Style::new().bold(),
        ))
}

/// The colour of a verdict.
pub fn level_style(l: Level) -> Style {
    match l {
        Level::Unjudged => Style::new(),
        Level::Ok => Style::new().fg(Color::Green),
        Level::Near => Style::new().fg(Color::Yellow),
        Level::Breach => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// The colour of a severity.
pub fn severity_style(s: AlertLevel) -> Style {
    match s {
        AlertLevel::Info => Style::new().fg(Color::Blue),
        AlertLevel::Warning => Style::new().fg(Color::Yellow),
        AlertLevel::Critical => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// The badge of an instance state.
pub fn state_style(s: InstanceState) -> Style {
    match s {
        InstanceState::Healthy => Style::new().fg(Color::Black).bg(Color::Green),
        InstanceState::Degraded => Style::new().fg(Color::Black).bg(Color::Yellow),
        InstanceState::Unhealthy | InstanceState::Unreachable => {
            Style::new().fg(Color::White).bg(Color::Red).bold()
        }
        InstanceState::Connecting | InstanceState::Unknown => {
            Style::new().fg(Color::Black).bg(Color::Gray)
        }
    }
}

/// The colour of a status code.
pub fn status_style(code: u16) -> Style {
    match code / 100 {
        2 => Style::new().fg(Color::Green),
        3 => Style::new().fg(Color::Cyan),
        4 => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Red),
    }
}

/// A table column: its title, width, and how long it survives narrowing (0 = last to go).
#[derive(Debug, Clone, Copy)]
pub struct Col {
    /// Header text.
    pub title: &'static str,
    /// Width in cells (the minimum for `fill`).
    pub width: u16,
    /// Lower survives longer.
    pub keep: u8,
    /// Takes the width left over.
    pub fill: bool,
}

/// Shorthand for a fixed column.
pub const fn col(title: &'static str, width: u16, keep: u8) -> Col {
    Col {
        title,
        width,
        keep,
        fill: false,
    }
}

/// The columns that fit in `width` (one cell between columns), in table order: narrow
/// terminals drop the least important columns first.
pub fn fit_columns(cols: &[Col], width: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&i| (cols[i].keep, i));
    let mut kept = Vec::new();
    let mut used = 0u16;
    for i in order {
        let need = cols[i].width + u16::from(!kept.is_empty());
        if kept.is_empty() || used + need <= width {
            used += need;
            kept.push(i);
        }
    }
    kept.sort_unstable();
    kept
}

/// The ratatui widths for kept columns.
pub fn widths(cols: &[Col], kept: &[usize]) -> Vec<Constraint> {
    kept.iter()
        .map(|&i| {
            if cols[i].fill {
                Constraint::Min(cols[i].width)
            } else {
                Constraint::Length(cols[i].width)
            }
        })
        .collect()
}

/// The style of a selected table row.
pub fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// A dim message centred in an area ("loading", "unreachable").
fn message(f: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// What the body shows when the current instance has nothing to show.
fn no_data(f: &mut Frame, area: Rect, app: &App) {
    let inst = app.current();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(" {} ", inst.state().label().to_uppercase()),
            state_style(inst.state()),
        ),
        Span::raw(format!(" {}", inst.url)),
    ])];
    if let Some(e) = &inst.error {
        lines.push(Line::from(format!("error: {e}")));
    } else {
        lines.push(Line::from("waiting for the first answer…".dim()));
    }
    message(f, area, lines);
}
