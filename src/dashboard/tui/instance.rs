//! One watched instance: what was last fetched from it, whether it answers, and the figures
//! `top` collects itself; plus the [`Round`] a fetch brings back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::model::{
    AlertsView, HealthStatus, HistoryView, PointView, RequestView, RuleView, SummaryView,
    UpstreamDetailView,
};

/// Points kept of figures the history does not carry (collected once per refresh).
const LOCAL_POINTS: usize = 300;
/// "Slow only" when the instance has no latency rule, ms.
const DEFAULT_SLOW_MS: f64 = 200.0;

/// What one fetch round brought back from one instance.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// `/api/summary`, or why it failed (then the instance counts as unreachable).
    pub summary: Option<Result<SummaryView, String>>,
    /// `/api/metrics/history` for the current window.
    pub history: Option<HistoryView>,
    /// `/api/requests/recent` (only while the requests view shows this instance).
    pub recent: Option<Vec<RequestView>>,
    /// `/api/alerts` (only while the alerts view shows this instance).
    pub alerts: Option<AlertsView>,
    /// `/api/alerts/rules` (now and then).
    pub rules: Option<Vec<RuleView>>,
    /// `/api/upstreams/{addr}` for the open detail pane.
    pub detail: Option<(String, UpstreamDetailView)>,
    /// When the fetcher tries again after a failure.
    pub retry_in: Option<Duration>,
}

/// Figures a history sample may lack, collected from successive summaries.
#[derive(Debug, Clone, Default)]
pub struct LocalSeries {
    /// Resident memory, MiB.
    pub memory_mb: VecDeque<f64>,
    /// CPU, %.
    pub cpu: VecDeque<f64>,
    /// Open connections.
    pub connections: VecDeque<f64>,
    /// Bytes received per second.
    pub rx: VecDeque<f64>,
    /// Bytes sent per second.
    pub tx: VecDeque<f64>,
}

fn push(q: &mut VecDeque<f64>, v: Option<f64>) {
    if let Some(v) = v {
        if q.len() == LOCAL_POINTS {
            q.pop_front();
        }
        q.push_back(v);
    }
}

impl LocalSeries {
    /// Adds one summary's figures.
    pub fn record(&mut self, s: &SummaryView) {
        push(&mut self.memory_mb, Some(s.memory_mb()));
        push(&mut self.cpu, s.cpu_percent);
        push(&mut self.connections, s.connections.map(|c| c as f64));
        push(&mut self.rx, s.bytes_received_per_second);
        push(&mut self.tx, s.bytes_sent_per_second);
    }
}

/// One admin API being watched.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Its base URL.
    pub url: String,
    /// The last summary that arrived.
    pub summary: Option<SummaryView>,
    /// When it arrived.
    pub last_good: Option<Instant>,
    /// Why the last round failed (`None`: it did not).
    pub error: Option<String>,
    /// When the fetcher tries again (while failing).
    pub retry_at: Option<Instant>,
    /// History for the current window, oldest first.
    pub history: Vec<PointView>,
    /// Figures the history lacks, collected here.
    pub local: LocalSeries,
    /// The request tail, newest first.
    pub recent: Vec<RequestView>,
    /// Alerts with their history.
    pub alerts: Option<AlertsView>,
    /// Its alert rules (thresholds for colours).
    pub rules: Vec<RuleView>,
    /// The open upstream detail.
    pub detail: Option<(String, UpstreamDetailView)>,
}

impl Instance {
    /// A fresh instance nothing was fetched from yet.
    pub fn new(url: &str) -> Self {
        Instance {
            url: url.trim_end_matches('/').to_owned(),
            summary: None,
            last_good: None,
            error: None,
            retry_at: None,
            history: Vec::new(),
            local: LocalSeries::default(),
            recent: Vec::new(),
            alerts: None,
            rules: Vec::new(),
            detail: None,
        }
    }

    /// The summary, only while the instance answers.
    pub fn live(&self) -> Option<&SummaryView> {
        self.summary.as_ref().filter(|_| self.error.is_none())
    }

    /// Its state as the header and the cluster view show it.
    pub fn state(&self) -> InstanceState {
        match (&self.error, self.live()) {
            (Some(_), _) => InstanceState::Unreachable,
            (None, Some(s)) => match s.status {
                Some(HealthStatus::Healthy) => InstanceState::Healthy,
                Some(HealthStatus::Unhealthy) => InstanceState::Unhealthy,
                Some(_) => InstanceState::Degraded,
                None => InstanceState::Unknown,
            },
            (None, None) => InstanceState::Connecting,
        }
    }

    /// The latency above which a request counts as slow: the lowest latency rule threshold.
    pub fn slow_ms(&self) -> f64 {
        self.rules
            .iter()
            .filter(|r| r.metric == "avg_response_time_ms" || r.metric == "p99_response_time_ms")
            .map(|r| r.threshold)
            .reduce(f64::min)
            .unwrap_or(DEFAULT_SLOW_MS)
    }
}

/// An instance's state, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InstanceState {
    /// Everything in order.
    Healthy,
    /// Not heard from yet.
    Connecting,
    /// Answered without a status.
    Unknown,
    /// Serving with something wrong.
    Degraded,
    /// Not able to serve.
    Unhealthy,
    /// Its admin API does not answer.
    Unreachable,
}

impl InstanceState {
    /// As the badge reads.
    pub fn label(self) -> &'static str {
        match self {
            InstanceState::Healthy => "healthy",
            InstanceState::Connecting => "connecting",
            InstanceState::Unknown => "unknown",
            InstanceState::Degraded => "degraded",
            InstanceState::Unhealthy => "unhealthy",
            InstanceState::Unreachable => "unreachable",
        }
    }
}
