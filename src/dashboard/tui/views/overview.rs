//! The overview: each headline figure with its value, trend arrow and a sparkline over the
//! history window, coloured by the instance's alert thresholds; the status-code mix over time;
//! the firing alerts; the slowest recent requests with their trace ids.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::{level_style, no_data, section, severity_style, status_style};
use crate::dashboard::tui::app::{App, Instance};
use crate::dashboard::tui::fmt;
use crate::dashboard::tui::judge::{columns, fit, judge, trend, Level};
use crate::dashboard::tui::model::{covered, figure, label, PointView, SummaryView};

/// Width of the label column.
const LABEL_W: u16 = 11;
/// Width of the value column.
const VALUE_W: u16 = 11;

/// One headline figure.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Row label.
    pub label: &'static str,
    /// The current value, formatted.
    pub value: String,
    /// Its verdict.
    pub level: Level,
    /// Its history, oldest first.
    pub series: Vec<f64>,
    /// Seconds the history covers.
    pub covered: f64,
    /// A fixed top of the sparkline scale (percent figures); `None`: the series' maximum.
    pub max: Option<f64>,
}

/// The series of a figure and the seconds it covers: from the history when its samples carry
/// it, else what `top` collected itself from successive summaries (one point per refresh).
fn series(
    h: &[PointView],
    pick: impl Fn(&PointView) -> Option<f64>,
    local: &std::collections::VecDeque<f64>,
    refresh: f64,
) -> (Vec<f64>, f64) {
    let from_history: Vec<f64> = h.iter().filter_map(&pick).collect();
    if !h.is_empty() && from_history.len() == h.len() {
        (from_history, covered(h))
    } else {
        (
            local.iter().copied().collect(),
            local.len() as f64 * refresh,
        )
    }
}

/// Per second over a sample's length.
fn rate(n: u64, p: &PointView) -> f64 {
    if p.seconds > 0.0 {
        n as f64 / p.seconds
    } else {
        n as f64
    }
}

/// The headline figures of an instance, in display order.
pub fn metrics(inst: &Instance, s: &SummaryView, refresh: f64) -> Vec<Metric> {
    let h = &inst.history;
    let w = &s.window;
    let rules = &inst.rules;
    let span = covered(h);
    let m = |label, value: String, metric: &str, v: f64, series: Vec<f64>| Metric {
        label,
        value,
        level: judge(rules, metric, v, s),
        series,
        covered: span,
        max: None,
    };
    let ml =
        |label, value: String, metric: &str, v: f64, (series, covered): (Vec<f64>, f64)| Metric {
            covered,
            ..m(label, value, metric, v, series)
        };
    let mut out = vec![
        m(
            "req/s",
            figure(w.requests_per_second),
            "requests_per_second",
            w.requests_per_second,
            h.iter().map(|p| p.requests_per_second).collect(),
        ),
        m(
            "avg",
            fmt::ms(w.avg_response_time_ms),
            "avg_response_time_ms",
            w.avg_response_time_ms,
            h.iter().map(|p| p.avg_response_time_ms).collect(),
        ),
        m(
            "p99",
            fmt::ms(w.p99_ms),
            "p99_response_time_ms",
            w.p99_ms,
            h.iter().map(|p| p.p99_ms).collect(),
        ),
        m(
            "errors",
            fmt::pct(w.error_rate_percent),
            "error_rate_percent",
            w.error_rate_percent,
            h.iter().map(|p| p.error_rate_percent).collect(),
        ),
        Metric {
            max: Some(100.0),
            ..m(
                "hit ratio",
                fmt::pct(w.cache_hit_ratio_percent),
                "cache_hit_ratio_percent",
                w.cache_hit_ratio_percent,
                h.iter().map(|p| p.cache_hit_ratio_percent).collect(),
            )
        },
        m(
            "in flight",
            s.queue_size.to_string(),
            "",
            s.queue_size as f64,
            h.iter().map(|p| p.in_flight as f64).collect(),
        ),
        m(
            "upstreams",
            format!("{}/{}", s.healthy_upstreams, s.total_upstreams),
            "healthy_upstreams",
            s.healthy_upstreams as f64,
            h.iter().map(|p| p.healthy_upstreams as f64).collect(),
        ),
        ml(
            "memory",
            fmt::bytes(s.memory_usage_bytes as f64),
            "memory_usage_mb",
            s.memory_mb(),
            series(
                h,
                |p| p.memory_usage_bytes.map(|b| b as f64 / 1048576.0),
                &inst.local.memory_mb,
                refresh,
            ),
        ),
    ];
    if let Some(cpu) = s.cpu_percent {
        out.push(ml(
            "cpu",
            fmt::pct(cpu),
            "cpu_percent",
            cpu,
            series(h, |p| p.cpu_percent, &inst.local.cpu, refresh),
        ));
    }
    if let Some(c) = s.connections {
        out.push(ml(
            "connections",
            c.to_string(),
            "connections",
            c as f64,
            series(
                h,
                |p| p.connections.map(|c| c as f64),
                &inst.local.connections,
                refresh,
            ),
        ));
    }
    if let Some(rx) = s.bytes_received_per_second {
        out.push(ml(
            "recv/s",
            fmt::bytes(rx),
            "",
            rx,
            series(h, |p| p.bytes_received_per_second, &inst.local.rx, refresh),
        ));
    }
    let tx = s.bytes_sent_per_second.unwrap_or(w.bytes_per_second);
    let tx_series = if s.bytes_sent_per_second.is_some() {
        series(h, |p| p.bytes_sent_per_second, &inst.local.tx, refresh)
    } else {
        (h.iter().map(|p| rate(p.bytes_sent, p)).collect(), span)
    };
    out.push(ml("sent/s", fmt::bytes(tx), "", tx, tx_series));
    out
}

/// Draws the overview.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let inst = app.current();
    let Some(s) = inst.live() else {
        return no_data(f, area, app);
    };
    let ms = metrics(inst, s, app.refresh.as_secs_f64());
    let window = app.window.seconds() as f64;
    let h = area.height;
    let metrics_h = (ms.len() as u16 + 1).min(h);
    let rest = h - metrics_h;
    let mix_h = if rest >= 5 { 5 } else { 0 };
    let bottom_h = if rest - mix_h >= 3 { rest - mix_h } else { 0 };
    let [top, mix, bottom, _] = Layout::vertical([
        Constraint::Length(metrics_h),
        Constraint::Length(mix_h),
        Constraint::Length(bottom_h),
        Constraint::Fill(1),
    ])
    .areas(area);
    let mut title = format!("figures · last {}", app.window.label());
    // Say the sample resolution the instance answered with (minute samples beyond 5 min).
    if let Some(res) = inst.history.last().map(PointView::resolution_seconds) {
        title.push_str(&if res >= 60.0 {
            format!(" · {}-min samples", figure(res / 60.0))
        } else {
            format!(" · {}-s samples", figure(res))
        });
    }
    draw_metrics(f, top, &title, &ms, window);
    if mix_h > 0 {
        draw_mix(f, mix, inst, s, window);
    }
    if bottom_h > 0 {
        if bottom.width >= 110 {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                    .areas(bottom);
            draw_alerts(f, a, app, s);
            draw_slowest(f, b, s);
        } else {
            let half = bottom.height / 2;
            let [a, b] =
                Layout::vertical([Constraint::Length(half), Constraint::Fill(1)]).areas(bottom);
            draw_alerts(f, a, app, s);
            draw_slowest(f, b, s);
        }
    }
}

fn draw_metrics(f: &mut Frame, area: Rect, title: &str, ms: &[Metric], window: f64) {
    let block = section(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    for (i, m) in ms.iter().enumerate().take(usize::from(inner.height)) {
        let row = Rect {
            y: inner.y + i as u16,
            height: 1,
            ..inner
        };
        let style = level_style(m.level);
        let text = Line::from(vec![
            Span::raw(format!("{:<w$}", m.label, w = usize::from(LABEL_W))),
            Span::styled(format!("{:>w$}", m.value, w = usize::from(VALUE_W)), style),
            Span::raw(" "),
            Span::raw(trend(&m.series).arrow()),
            Span::raw(" "),
        ]);
        let text_w = LABEL_W + VALUE_W + 3;
        f.render_widget(Paragraph::new(text), row);
        if row.width > text_w + 1 {
            let spark = Rect {
                x: row.x + text_w,
                width: row.width - text_w,
                ..row
            };
            draw_spark(f, spark, (&m.series, m.covered, window), m.max, style);
        }
    }
}

/// A sparkline of a series covering `covered` of `window` seconds, newest at the right edge.
pub fn draw_spark(
    f: &mut Frame,
    area: Rect,
    (series, covered, window): (&[f64], f64, f64),
    max: Option<f64>,
    style: Style,
) {
    if series.is_empty() || area.width == 0 {
        return;
    }
    let cols = columns(usize::from(area.width), covered, window) as u16;
    let area = Rect {
        x: area.x + area.width - cols,
        width: cols,
        ..area
    };
    let data = fit(series, usize::from(cols));
    let style = if style == Style::new() {
        Style::new().fg(Color::Cyan)
    } else {
        style
    };
    let mut spark = Sparkline::default().data(&data).style(style);
    if let Some(m) = max {
        spark = spark.max((m * 1000.0) as u64);
    }
    f.render_widget(spark, area);
}

fn draw_mix(f: &mut Frame, area: Rect, inst: &Instance, s: &SummaryView, window: f64) {
    let block = section(format!(
        "status mix · window {}s",
        figure(s.window.window_seconds)
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let counts = s.window.status.classes();
    let total: u64 = counts.iter().sum();
    for (i, name) in ["2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
        if i as u16 >= inner.height {
            break;
        }
        let row = Rect {
            y: inner.y + i as u16,
            height: 1,
            ..inner
        };
        let style = status_style(200 + 100 * i as u16);
        let share = fmt::pct(if total == 0 {
            0.0
        } else {
            counts[i] as f64 * 100.0 / total as f64
        });
        let text_w = LABEL_W + VALUE_W + 3;
        let text = format!(
            "{name:<lw$}{:>vw$}   ",
            format!("{} {share}", counts[i]),
            lw = usize::from(LABEL_W),
            vw = usize::from(VALUE_W)
        );
        f.render_widget(Paragraph::new(Span::styled(text, style)), row);
        if row.width > text_w + 1 {
            let series: Vec<f64> = inst
                .history
                .iter()
                .map(|p| rate(p.status.classes()[i], p))
                .collect();
            let spark = Rect {
                x: row.x + text_w,
                width: row.width - text_w,
                ..row
            };
            let span = covered(&inst.history);
            draw_spark(f, spark, (&series, span, window), None, style);
        }
    }
}

fn draw_alerts(f: &mut Frame, area: Rect, app: &App, s: &SummaryView) {
    let block = section(format!("firing alerts ({})", s.alerts.len()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let lines: Vec<Line> = if s.alerts.is_empty() {
        vec![Line::from("none".green())]
    } else {
        s.alerts
            .iter()
            .map(|a| {
                Line::from(vec![
                    Span::styled(
                        format!("{:<9}", a.severity.as_str()),
                        severity_style(a.severity),
                    ),
                    Span::raw(label(&a.name, a.target.as_deref())),
                    Span::raw(format!(
                        " = {} · for {}{}",
                        figure(a.value),
                        fmt::age_ms(a.since_unix_ms, app.wall_ms),
                        if a.acknowledged { " · ack" } else { "" }
                    )),
                ])
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_slowest(f: &mut Frame, area: Rect, s: &SummaryView) {
    let block = section("slowest in the window");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let lines: Vec<Line> = if s.slowest.is_empty() {
        vec![Line::from("no requests".dim())]
    } else {
        s.slowest
            .iter()
            .map(|r| {
                let trace = r
                    .trace_url
                    .clone()
                    .or_else(|| r.trace_id.clone())
                    .unwrap_or_else(|| "-".to_owned());
                Line::from(vec![
                    Span::raw(format!("{:>9} ", fmt::ms(r.latency_ms))),
                    Span::styled(format!("{:>3} ", r.status), status_style(r.status)),
                    Span::raw(format!("{} {} ", r.method, r.path)),
                    Span::styled(trace, Style::new().dim()),
                ])
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines), inner);
}
