//! `MetricsSnapshot`: every figure admin, dashboards and alerts show, as plain data.
//!
//! Built once a second by the [`super::observatory::Observatory`]; everything downstream (the
//! `/health` body, `/metrics`, `/api/summary`, the text dashboard, `sightline top`, alert rules)
//! is a pure function of one snapshot, so they always agree.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::telemetry::otel::ExportFigures;

use crate::telemetry::exemplar::Exemplar;
use crate::telemetry::recent::RequestInfo;

/// One point in time's complete figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// sightline's version.
    pub version: String,
    /// When this snapshot was taken, ms since the Unix epoch.
    pub generated_unix_ms: u64,
    /// Seconds since the process started its telemetry.
    pub uptime_seconds: f64,
    /// Uptime of each component.
    pub components: Components,
    /// Counters since start.
    pub totals: Totals,
    /// Rates, averages and percentiles over the sliding window.
    pub window: WindowFigures,
    /// Resident set size, bytes.
    pub memory_usage_bytes: u64,
    /// Process CPU use over the last sample, percent of one core.
    #[serde(default)]
    pub cpu_percent: f64,
    /// Client connections open now.
    #[serde(default)]
    pub connections: u64,
    /// Request bytes received per second over the window (head and body).
    #[serde(default)]
    pub bytes_received_per_second: f64,
    /// Response body bytes sent per second over the window.
    #[serde(default)]
    pub bytes_sent_per_second: f64,
    /// The response cache.
    pub cache: CacheFigures,
    /// Requests in flight in the proxy.
    pub queue_size: u64,
    /// Per upstream, in config order.
    pub upstreams: Vec<UpstreamFigures>,
    /// Upstreams in rotation.
    pub healthy_upstreams: usize,
    /// Upstreams configured.
    pub total_upstreams: usize,
    /// Alerts firing now. The observatory leaves this empty; readers combine in the alert
    /// engine's published list ([`MetricsSnapshot::with_alerts`]).
    pub alerts: Vec<ActiveAlert>,
    /// OpenTelemetry export: spans exported and dropped, failed exports.
    #[serde(default)]
    pub telemetry: ExportFigures,
    /// Requests refused before reaching an origin, by reason (`cl_and_te`, …, `misdirected_host`).
    #[serde(default)]
    pub rejected: std::collections::BTreeMap<String, u64>,
}

/// Uptime of each component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Components {
    /// The client-facing HTTP server.
    pub http_server: ComponentUptime,
    /// The response cache.
    pub cache: ComponentUptime,
    /// The balancer and its health checks.
    pub load_balancer: ComponentUptime,
}

/// How long one component has been running.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentUptime {
    /// Seconds since the component started.
    pub uptime_seconds: f64,
}

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// 1xx.
    #[serde(rename = "1xx")]
    pub s1xx: u64,
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

impl From<[u64; 5]> for StatusCounts {
    fn from(a: [u64; 5]) -> Self {
        StatusCounts {
            s1xx: a[0],
            s2xx: a[1],
            s3xx: a[2],
            s4xx: a[3],
            s5xx: a[4],
        }
    }
}

/// Requests by cache outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCounts {
    /// Served from a fresh entry.
    pub hit: u64,
    /// Looked up and not found.
    pub miss: u64,
    /// Found stale, revalidated or refetched.
    pub stale: u64,
    /// Not cacheable.
    pub bypass: u64,
}

impl From<[u64; 4]> for CacheCounts {
    fn from(a: [u64; 4]) -> Self {
        CacheCounts {
            hit: a[0],
            miss: a[1],
            stale: a[2],
            bypass: a[3],
        }
    }
}

impl CacheCounts {
    /// Requests that went through a cache lookup (hit, miss or stale).
    pub fn cacheable(&self) -> u64 {
        self.hit + self.miss + self.stale
    }

    /// Lookups that needed the upstream (a stale entry costs an upstream trip like a miss).
    pub fn misses_incl_stale(&self) -> u64 {
        self.miss + self.stale
    }

    /// Hits over cacheable lookups, percent (0 without lookups).
    pub fn hit_ratio_percent(&self) -> f64 {
        percent(self.hit, self.cacheable())
    }
}

/// `part / whole` in percent, 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Finished requests.
    pub requests: u64,
    /// By status class.
    pub status: StatusCounts,
    /// 5xx or no response.
    pub errors: u64,
    /// By cache outcome.
    pub cache: CacheCounts,
    /// Hits over cacheable lookups since start, percent.
    pub cache_hit_ratio_percent: f64,
    /// Response body bytes sent.
    pub bytes_sent: u64,
    /// Request bytes received (head and body).
    #[serde(default)]
    pub bytes_received: u64,
    /// The request-duration histogram (semconv buckets).
    pub latency: LatencyTotals,
}

/// A cumulative latency histogram in Prometheus' shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyTotals {
    /// Sum of all durations, seconds.
    pub sum_seconds: f64,
    /// Number of durations.
    pub count: u64,
    /// Cumulative counts per upper bound; the last bound is `+Inf` (serialized as null).
    pub buckets: Vec<Bucket>,
}

/// One cumulative histogram bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Inclusive upper bound, seconds (`None`: `+Inf`).
    pub le: Option<f64>,
    /// Durations at or below `le`.
    pub count: u64,
    /// The newest sampled request in this bucket (above the previous bound). Only the
    /// OpenMetrics `/metrics` shows it, so the JSON figures stay as they were.
    #[serde(skip)]
    pub exemplar: Option<Exemplar>,
}

/// Figures over the sliding window (`dashboard.window`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    /// The configured window, seconds: every figure here is over it.
    pub window_seconds: f64,
    /// Seconds of history actually covered (less than the window just after start).
    pub covered_seconds: f64,
    /// Requests finished in the window.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Mean latency, ms (0 without requests).
    pub avg_response_time_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Errors (5xx or no response) in the window.
    pub errors: u64,
    /// Errors over requests, percent.
    pub error_rate_percent: f64,
    /// By status class.
    pub status: StatusCounts,
    /// By cache outcome.
    pub cache: CacheCounts,
    /// Hits over cacheable lookups, percent.
    pub cache_hit_ratio_percent: f64,
    /// Response body bytes sent per second.
    pub bytes_per_second: f64,
    /// The slowest requests in the window (at most 10), slowest first.
    pub slowest: Vec<RequestInfo>,
}

/// The response cache's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheFigures {
    /// Whether caching is on.
    pub enabled: bool,
    /// Bytes held.
    pub size_bytes: u64,
    /// Entries held.
    pub entries: u64,
}

/// One upstream's state and traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamFigures {
    /// Address.
    pub address: String,
    /// In rotation.
    pub healthy: bool,
    /// Requests currently waiting on it.
    pub in_flight: u64,
    /// Attempts sent since start.
    pub requests: u64,
    /// Attempts failed or answered 5xx since start.
    pub errors: u64,
    /// Mean attempt latency since start, ms.
    pub avg_response_time_ms: f64,
    /// Sum of attempt latencies since start, seconds.
    pub latency_sum_seconds: f64,
    /// Attempts in the window.
    pub window_requests: u64,
    /// Errors in the window.
    pub window_errors: u64,
    /// Mean attempt latency in the window, ms.
    pub window_avg_response_time_ms: f64,
    /// Last health check, ms since the Unix epoch (0: never).
    pub last_check_unix_ms: u64,
    /// Whether the last check passed.
    pub last_check_ok: bool,
    /// Duration of the last check, ms.
    pub last_check_duration_ms: f64,
    /// Failed checks in a row.
    pub consecutive_failures: u32,
    /// Last time it entered or left the rotation, ms since the Unix epoch (0: never).
    pub last_change_unix_ms: u64,
    /// Total time out of rotation, seconds.
    pub downtime_seconds: f64,
    /// Passively ejected (outlier detection) right now.
    #[serde(default)]
    pub ejected: bool,
    /// End of the current ejection, ms since the Unix epoch.
    #[serde(default)]
    pub ejected_until_unix_ms: Option<u64>,
    /// Why it is ejected.
    #[serde(default)]
    pub ejection_reason: Option<String>,
    /// Ejections since start.
    #[serde(default)]
    pub ejections: u64,
}

/// Alert severity as shown in snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Informational.
    #[default]
    Info,
    /// Degrades `/health`.
    Warning,
    /// Makes `/health` unhealthy.
    Critical,
}

impl AlertLevel {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "info",
            AlertLevel::Warning => "warning",
            AlertLevel::Critical => "critical",
        }
    }
}

impl From<crate::config::Severity> for AlertLevel {
    fn from(s: crate::config::Severity) -> Self {
        match s {
            crate::config::Severity::Info => AlertLevel::Info,
            crate::config::Severity::Warning => AlertLevel::Warning,
            crate::config::Severity::Critical => AlertLevel::Critical,
        }
    }
}

/// An alert firing now (published by the alert engine, shown everywhere).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    /// Alert instance id (for `POST /api/alerts/{id}/ack`).
    pub id: u64,
    /// Rule name.
    pub name: String,
    /// What the rule is about when it has several instances (an upstream address).
    pub target: Option<String>,
    /// Severity.
    pub severity: AlertLevel,
    /// The watched figure when it fired.
    pub value: f64,
    /// When it fired, ms since the Unix epoch.
    pub since_unix_ms: u64,
    /// Someone acknowledged it.
    pub acknowledged: bool,
}

impl ActiveAlert {
    /// `name`, or `name(target)` for per-target rules.
    pub fn label(&self) -> String {
        alert_label(&self.name, self.target.as_deref())
    }
}

/// `name`, or `name(target)` for per-target rules (as printed in alert lines and dashboards).
pub fn alert_label(name: &str, target: Option<&str>) -> String {
    match target {
        Some(t) => format!("{name}({t})"),
        None => name.to_owned(),
    }
}

impl MetricsSnapshot {
    /// `snap` with `alerts` as the alerts firing now: how readers combine the observatory's
    /// figures with the alert engine's list. Shares `snap` when nothing changes.
    pub fn with_alerts(snap: Arc<MetricsSnapshot>, alerts: &[ActiveAlert]) -> Arc<MetricsSnapshot> {
        if snap.alerts == alerts {
            return snap;
        }
        let mut combined = MetricsSnapshot::clone(&snap);
        combined.alerts = alerts.to_vec();
        Arc::new(combined)
    }

    /// The highest severity firing, if any.
    pub fn worst_alert(&self) -> Option<AlertLevel> {
        self.alerts.iter().map(|a| a.severity).max()
    }

    /// Process RSS in MiB.
    pub fn memory_usage_mb(&self) -> f64 {
        self.memory_usage_bytes as f64 / (1024.0 * 1024.0)
    }
}
