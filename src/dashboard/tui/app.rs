//! The state of `sightline top`: the instances and what was last fetched from each, the view,
//! selections, filters, pause, the history window. Plain data; the fetcher feeds it
//! [`Round`]s, keys change it, views draw it.

use std::time::{Duration, Instant};

pub use super::filter::RequestFilter;
pub use super::instance::{Instance, InstanceState, LocalSeries, Round};
use super::model::{AlertRecordView, RequestView, UpstreamView};

/// The five views (keys 1–5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Figures with sparklines, status mix, alerts, slowest requests.
    #[default]
    Overview,
    /// The upstream table and its detail pane.
    Upstreams,
    /// The live request tail.
    Requests,
    /// Firing and past alerts.
    Alerts,
    /// One row per instance plus totals.
    Cluster,
}

impl View {
    /// In key order.
    pub const ALL: [View; 5] = [
        View::Overview,
        View::Upstreams,
        View::Requests,
        View::Alerts,
        View::Cluster,
    ];

    /// Position (0-based; the key is one more).
    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Upstreams => "Upstreams",
            View::Requests => "Requests",
            View::Alerts => "Alerts",
            View::Cluster => "Cluster",
        }
    }

    /// The next view, wrapping.
    pub fn next(self) -> View {
        View::ALL[(self.index() + 1) % 5]
    }

    /// The previous view, wrapping.
    pub fn prev(self) -> View {
        View::ALL[(self.index() + 4) % 5]
    }
}

/// How much history the sparklines show (`+`/`-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryWindow {
    /// The last 5 minutes (per-second samples).
    #[default]
    FiveMinutes,
    /// The last hour.
    Hour,
    /// The last 24 hours.
    Day,
}

impl HistoryWindow {
    /// Seconds asked for.
    pub fn seconds(self) -> u64 {
        match self {
            HistoryWindow::FiveMinutes => 300,
            HistoryWindow::Hour => 3600,
            HistoryWindow::Day => 86_400,
        }
    }

    /// As shown.
    pub fn label(self) -> &'static str {
        match self {
            HistoryWindow::FiveMinutes => "5 min",
            HistoryWindow::Hour => "1 h",
            HistoryWindow::Day => "24 h",
        }
    }

    /// One step longer (stays at 24 h).
    pub fn longer(self) -> Self {
        match self {
            HistoryWindow::FiveMinutes => HistoryWindow::Hour,
            _ => HistoryWindow::Day,
        }
    }

    /// One step shorter (stays at 5 min).
    pub fn shorter(self) -> Self {
        match self {
            HistoryWindow::Day => HistoryWindow::Hour,
            _ => HistoryWindow::FiveMinutes,
        }
    }
}

/// What the fetchers should get, from the UI (changes trigger a fetch).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wants {
    /// History span, seconds.
    pub history_seconds: u64,
    /// The instance the per-view extras are for.
    pub selected: usize,
    /// The view shown.
    pub view: View,
    /// The upstream whose detail is open.
    pub detail: Option<String>,
    /// The tail is frozen: no need to fetch it.
    pub paused: bool,
    /// Bumped by `r`: fetch now, even during a backoff.
    pub refresh_seq: u64,
}

/// Everything `top` shows.
#[derive(Debug, Clone)]
pub struct App {
    /// The watched instances, in `--admin` order.
    pub instances: Vec<Instance>,
    /// The instance every view but the cluster shows.
    pub selected: usize,
    /// The view shown.
    pub view: View,
    /// Selected row per view.
    pub rows: [usize; 5],
    /// Filter line per view (`/`).
    pub filters: [String; 5],
    /// The filter being typed, when the prompt is open.
    pub editing: Option<String>,
    /// The request tail is frozen (`p`).
    pub paused: bool,
    /// The detail pane (upstreams) or popup (requests, alerts) is open.
    pub detail: bool,
    /// The help popup is open.
    pub help: bool,
    /// History span of the sparklines.
    pub window: HistoryWindow,
    /// The refresh period.
    pub refresh: Duration,
    /// Bumped by `r`.
    pub refresh_seq: u64,
    /// The last message (an ack's result).
    pub note: Option<String>,
    /// Set by `q` / Ctrl-C.
    pub quit: bool,
    /// The time views compute ages against.
    pub now: Instant,
    /// The wall clock views compute ages against, ms since the Unix epoch.
    pub wall_ms: u64,
}

impl App {
    /// An app over these admin URLs.
    pub fn new(urls: &[String], refresh: Duration) -> Self {
        App {
            instances: urls.iter().map(|u| Instance::new(u)).collect(),
            selected: 0,
            view: View::Overview,
            rows: [0; 5],
            filters: Default::default(),
            editing: None,
            paused: false,
            detail: false,
            help: false,
            window: HistoryWindow::FiveMinutes,
            refresh,
            refresh_seq: 0,
            note: None,
            quit: false,
            now: Instant::now(),
            wall_ms: super::fmt::wall_ms(),
        }
    }

    /// Sets the clocks the views read.
    pub fn tick(&mut self, now: Instant, wall_ms: u64) {
        self.now = now;
        self.wall_ms = wall_ms;
    }

    /// The instance the views show.
    pub fn current(&self) -> &Instance {
        &self.instances[self.selected.min(self.instances.len() - 1)]
    }

    /// Folds one fetch round into an instance.
    pub fn apply(&mut self, i: usize, round: Round) {
        let now = self.now;
        let Some(inst) = self.instances.get_mut(i) else {
            return;
        };
        match round.summary {
            Some(Ok(s)) => {
                inst.local.record(&s);
                inst.summary = Some(s);
                inst.last_good = Some(now);
                inst.error = None;
                inst.retry_at = None;
            }
            Some(Err(e)) => {
                inst.error = Some(e);
                inst.retry_at = round.retry_in.map(|d| now + d);
                return;
            }
            None => {}
        }
        if let Some(h) = round.history {
            inst.history = h.samples;
        }
        if let Some(r) = round.recent {
            if !self.paused {
                inst.recent = r;
            }
        }
        if let Some(a) = round.alerts {
            inst.alerts = Some(a);
        }
        if let Some(r) = round.rules {
            inst.rules = r;
        }
        if let Some(d) = round.detail {
            inst.detail = Some(d);
        }
    }

    /// What the fetchers should get now.
    pub fn wants(&self) -> Wants {
        Wants {
            history_seconds: self.window.seconds(),
            selected: self.selected,
            view: self.view,
            detail: (self.view == View::Upstreams && self.detail)
                .then(|| {
                    self.upstream_rows()
                        .get(self.row())
                        .map(|u| u.address.clone())
                })
                .flatten(),
            paused: self.paused,
            refresh_seq: self.refresh_seq,
        }
    }

    /// The selected row of the current view, clamped to its rows.
    pub fn row(&self) -> usize {
        self.rows[self.view.index()].min(self.row_count().saturating_sub(1))
    }

    /// Rows in the current view.
    pub fn row_count(&self) -> usize {
        match self.view {
            View::Overview => 0,
            View::Upstreams => self.upstream_rows().len(),
            View::Requests => self.request_rows().len(),
            View::Alerts => self.alert_rows().len(),
            View::Cluster => self.instances.len(),
        }
    }

    /// The current view's filter line.
    pub fn filter(&self) -> &str {
        &self.filters[self.view.index()]
    }

    /// Upstreams of the current instance passing the upstreams filter.
    pub fn upstream_rows(&self) -> Vec<&UpstreamView> {
        let f = &self.filters[View::Upstreams.index()];
        self.current()
            .live()
            .iter()
            .flat_map(|s| &s.upstreams)
            .filter(|u| u.address.contains(f.trim()))
            .collect()
    }

    /// Recent requests of the current instance passing the requests filter, newest first.
    pub fn request_rows(&self) -> Vec<&RequestView> {
        let inst = self.current();
        let f = RequestFilter::parse(&self.filters[View::Requests.index()]);
        let slow = inst.slow_ms();
        inst.recent.iter().filter(|r| f.accepts(r, slow)).collect()
    }

    /// Alerts of the current instance: firing first (newest first), then resolved ones. Until
    /// `/api/alerts` has answered, the summary's firing alerts.
    pub fn alert_rows(&self) -> Vec<AlertRecordView> {
        let inst = self.current();
        let f = self.filters[View::Alerts.index()].trim().to_owned();
        let all: Vec<AlertRecordView> = match (&inst.alerts, &inst.summary) {
            (Some(a), _) => {
                let mut firing: Vec<_> = a.active.clone();
                firing.sort_by_key(|a| std::cmp::Reverse(a.id));
                let past = a.history.iter().filter(|h| !h.firing()).cloned();
                firing.into_iter().chain(past).collect()
            }
            (None, Some(s)) => s
                .alerts
                .iter()
                .map(|a| AlertRecordView {
                    id: a.id,
                    name: a.name.clone(),
                    target: a.target.clone(),
                    severity: a.severity,
                    state: "firing".into(),
                    value: a.value,
                    peak: a.value,
                    started_unix_ms: a.since_unix_ms,
                    acknowledged: a.acknowledged,
                    ..Default::default()
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        all.into_iter()
            .filter(|a| {
                super::model::label(&a.name, a.target.as_deref()).contains(&f)
                    || a.severity.as_str() == f
                    || a.state == f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::tui::model::SummaryView;

    #[test]
    fn failed_round_keeps_the_last_summary() {
        let mut app = App::new(&["http://a".into()], Duration::from_secs(1));
        let s = SummaryView {
            version: "9".into(),
            ..Default::default()
        };
        app.apply(
            0,
            Round {
                summary: Some(Ok(s)),
                ..Default::default()
            },
        );
        assert_eq!(app.current().state(), InstanceState::Unknown);
        app.apply(
            0,
            Round {
                summary: Some(Err("refused".into())),
                retry_in: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        );
        let inst = app.current();
        assert_eq!(inst.state(), InstanceState::Unreachable);
        assert!(inst.live().is_none());
        assert_eq!(inst.summary.as_ref().unwrap().version, "9");
        assert!(inst.retry_at.is_some());
    }
}
