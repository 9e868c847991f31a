//! What `sightline top` reads from an admin API: lenient views of its JSON answers.
//!
//! `top` talks to proxies that may run another sightline version than its own, so it does not
//! parse their answers with the server's own (strict) types: every field here defaults when
//! absent, and the figures later versions add (CPU, connections, bytes per second, upstream
//! ejection, history resolution) are `Option`s shown only when an instance sends them.
//!
//! This is also the one place the TUI imports the crate's read-model types and formatting.

mod alerts;
mod history;

use serde::Deserialize;

pub use alerts::{AlertRecordView, AlertsView, RuleView, RulesView};
pub use history::{covered, HistoryView, PointView, UpstreamDetailView, UpstreamPointView};

pub use crate::dashboard::text::render as render_text;
pub use crate::observe::format::{figure, uptime_short};
pub use crate::observe::summary::{HealthStatus, Summary};
pub use crate::observe::snapshot::AlertLevel;

/// `GET /api/summary`, as far as `top` reads it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SummaryView {
    /// `/health`'s overall status.
    pub status: Option<HealthStatus>,
    /// sightline's version.
    pub version: String,
    /// When the snapshot was taken, ms since the Unix epoch.
    pub generated_unix_ms: u64,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// Figures over the sliding window.
    pub window: WindowView,
    /// Resident memory, bytes.
    pub memory_usage_bytes: u64,
    /// Requests in flight.
    pub queue_size: u64,
    /// Per upstream.
    pub upstreams: Vec<UpstreamView>,
    /// Upstreams in rotation.
    pub healthy_upstreams: usize,
    /// Upstreams configured.
    pub total_upstreams: usize,
    /// Alerts firing.
    pub alerts: Vec<ActiveAlertView>,
    /// The slowest requests in the window, slowest first.
    pub slowest: Vec<RequestView>,
    /// The trace UI base, when configured.
    pub jaeger_ui_url: Option<String>,
    /// Process CPU, % of one core (newer instances).
    pub cpu_percent: Option<f64>,
    /// Open client connections (newer instances).
    pub connections: Option<u64>,
    /// Bytes received per second (newer instances).
    pub bytes_received_per_second: Option<f64>,
    /// Bytes sent per second (newer instances).
    pub bytes_sent_per_second: Option<f64>,
}

impl SummaryView {
    /// Resident memory in MiB (the unit alert rules use).
    pub fn memory_mb(&self) -> f64 {
        self.memory_usage_bytes as f64 / (1024.0 * 1024.0)
    }
}

/// Figures over the sliding window.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WindowView {
    /// The configured window, seconds.
    pub window_seconds: f64,
    /// Seconds actually covered.
    pub covered_seconds: f64,
    /// Requests finished.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Mean latency, ms.
    pub avg_response_time_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Errors.
    pub errors: u64,
    /// Errors over requests, percent.
    pub error_rate_percent: f64,
    /// By status class.
    pub status: StatusMix,
    /// By cache outcome.
    pub cache: CacheMix,
    /// Hits over cacheable lookups, percent.
    pub cache_hit_ratio_percent: f64,
    /// Body bytes sent per second.
    pub bytes_per_second: f64,
}

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct StatusMix {
    /// 2xx.
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    /// 3xx.
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    /// 4xx.
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    /// 5xx.
    #[serde(rename = "5xx")]
    pub s5xx: u64,
}

impl StatusMix {
    /// The counts in class order 2xx, 3xx, 4xx, 5xx.
    pub fn classes(&self) -> [u64; 4] {
        [self.s2xx, self.s3xx, self.s4xx, self.s5xx]
    }
}

/// Requests by cache outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CacheMix {
    /// Fresh hits.
    pub hit: u64,
    /// Misses.
    pub miss: u64,
    /// Stale entries refetched.
    pub stale: u64,
    /// Not cacheable.
    pub bypass: u64,
}

impl CacheMix {
    /// Lookups (hit, miss or stale).
    pub fn cacheable(&self) -> u64 {
        self.hit + self.miss + self.stale
    }
}

/// One upstream's state and traffic (`/api/summary` and `/api/upstreams/{addr}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UpstreamView {
    /// Address.
    pub address: String,
    /// In rotation.
    pub healthy: bool,
    /// Requests waiting on it.
    pub in_flight: u64,
    /// Attempts since start.
    pub requests: u64,
    /// Failed or 5xx attempts since start.
    pub errors: u64,
    /// Mean latency since start, ms.
    pub avg_response_time_ms: f64,
    /// Attempts in the window.
    pub window_requests: u64,
    /// Errors in the window.
    pub window_errors: u64,
    /// Mean latency in the window, ms.
    pub window_avg_response_time_ms: f64,
    /// 99th percentile in the window, ms (when an instance reports it).
    pub window_p99_ms: Option<f64>,
    /// Last health check, ms since the Unix epoch (0: never).
    pub last_check_unix_ms: u64,
    /// Whether it passed.
    pub last_check_ok: bool,
    /// How long it took, ms.
    pub last_check_duration_ms: f64,
    /// Failed checks in a row.
    pub consecutive_failures: u32,
    /// Last entered or left the rotation, ms since the Unix epoch.
    pub last_change_unix_ms: u64,
    /// Time out of rotation, seconds.
    pub downtime_seconds: f64,
    /// Passively ejected now (instances with outlier detection).
    pub ejected: Option<bool>,
    /// Until when.
    pub ejected_until_unix_ms: Option<u64>,
    /// Why.
    pub ejection_reason: Option<String>,
    /// Ejections since start.
    pub ejections: Option<u64>,
}

/// An alert firing now, as the summary carries it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ActiveAlertView {
    /// Instance id.
    pub id: u64,
    /// Rule name.
    pub name: String,
    /// Target (an upstream address) for per-target rules.
    pub target: Option<String>,
    /// Severity.
    pub severity: AlertLevel,
    /// The figure when it fired.
    pub value: f64,
    /// When it fired, ms since the Unix epoch.
    pub since_unix_ms: u64,
    /// Acknowledged.
    pub acknowledged: bool,
}

/// `name` or `name(target)`.
pub fn label(name: &str, target: Option<&str>) -> String {
    crate::observe::snapshot::alert_label(name, target)
}

/// One request (recent tail, slowest list).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RequestView {
    /// Start, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Status (0: none).
    pub status: u16,
    /// Latency, ms.
    pub latency_ms: f64,
    /// hit, miss, stale or bypass.
    pub cache: String,
    /// The upstream that answered.
    pub upstream: Option<String>,
    /// Trace id when sampled.
    pub trace_id: Option<String>,
    /// Link to the trace UI.
    pub trace_url: Option<String>,
}

/// `GET /api/requests/recent`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecentView {
    /// Newest first.
    pub requests: Vec<RequestView>,
}
