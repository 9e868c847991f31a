//! The header: one line per instance with its status badge, version, uptime, alert count,
//! window, refresh and the time of its last good sample; for an unreachable one, the error, how
//! long ago it was last seen and when it is retried.

use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::state_style;
use crate::dashboard::tui::app::{App, Instance, InstanceState};
use crate::dashboard::tui::fmt;
use crate::dashboard::tui::model::{figure, uptime_short};

/// Lines the header takes on a screen `total` lines high.
pub fn height(app: &App, total: u16) -> u16 {
    let cap = match total {
        0..=13 => 1,
        14..=23 => 2,
        _ => 4,
    };
    (app.instances.len() as u16).min(cap)
}

/// Which instances get a line: all when they fit, else the selected one first.
fn shown(app: &App, lines: usize) -> Vec<usize> {
    let n = app.instances.len();
    if n <= lines {
        return (0..n).collect();
    }
    let mut v = vec![app.selected];
    v.extend(
        (0..n)
            .filter(|&i| i != app.selected)
            .take(lines.saturating_sub(1)),
    );
    v
}

/// Draws the header.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let lines = usize::from(area.height);
    let picked = shown(app, lines);
    let hidden = app.instances.len() - picked.len();
    let mut out: Vec<Line> = picked
        .iter()
        .map(|&i| line(app, i, app.instances.len() > 1 && i == app.selected))
        .collect();
    if hidden > 0 {
        if let Some(last) = out.last_mut() {
            last.spans.insert(
                0,
                Span::styled(format!("+{hidden} more (5: cluster) "), Style::new().dim()),
            );
        }
    }
    f.render_widget(Paragraph::new(out), area);
}

fn line(app: &App, i: usize, marked: bool) -> Line<'static> {
    let inst = &app.instances[i];
    let state = inst.state();
    let mut spans = vec![
        Span::raw(if marked { "▸" } else { " " }),
        Span::styled(
            format!(" {} ", state.label().to_uppercase()),
            state_style(state),
        ),
        Span::raw(" "),
        Span::styled(short_url(&inst.url), Style::new().bold()),
    ];
    let dot = || Span::styled(" · ", Style::new().dark_gray());
    if state == InstanceState::Unreachable {
        spans.push(dot());
        spans.push(Span::raw(inst.error.clone().unwrap_or_default()).red());
        spans.push(dot());
        spans.push(Span::raw(last_seen(app, inst)));
        if let Some(at) = inst.retry_at {
            spans.push(dot());
            spans.push(Span::raw(format!(
                "retry in {}",
                fmt::age(at.saturating_duration_since(app.now))
            )));
        }
        return Line::from(spans);
    }
    let Some(s) = inst.live() else {
        spans.push(dot());
        spans.push(Span::raw("connecting…").dim());
        return Line::from(spans);
    };
    let alerts = s.alerts.len();
    spans.extend([
        Span::raw(format!(" v{}", s.version)),
        dot(),
        Span::raw(format!("up {}", uptime_short(s.uptime_seconds))),
        dot(),
        if alerts > 0 {
            Span::raw(format!("alerts {alerts}")).yellow().bold()
        } else {
            Span::raw("alerts 0")
        },
        dot(),
        Span::raw(format!("window {}s", figure(s.window.window_seconds))),
        dot(),
        Span::raw(format!("refresh {}s", figure(app.refresh.as_secs_f64()))),
        dot(),
        Span::raw(format!("sample {}", fmt::clock(s.generated_unix_ms))),
    ]);
    Line::from(spans)
}

/// `last seen 12s ago`, or `never seen`.
pub fn last_seen(app: &App, inst: &Instance) -> String {
    match inst.last_good {
        Some(t) => format!(
            "last seen {} ago",
            fmt::age(app.now.saturating_duration_since(t))
        ),
        None => "never seen".to_owned(),
    }
}

/// The URL without `http://`.
pub fn short_url(url: &str) -> String {
    url.strip_prefix("http://").unwrap_or(url).to_owned()
}
