//! History answers as `top` reads them: `/api/metrics/history` and one upstream's history.

use serde::Deserialize;
use serde_json::Value;

use super::{StatusMix, UpstreamView};

/// `GET /api/metrics/history`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HistoryView {
    /// The span asked for, seconds.
    pub duration_seconds: u64,
    /// Samples, oldest first.
    pub samples: Vec<PointView>,
}

/// One history sample.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PointView {
    /// End of the sample, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Sample length, seconds.
    pub seconds: f64,
    /// Requests.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_second: f64,
    /// By status class.
    pub status: StatusMix,
    /// Errors over requests, percent.
    pub error_rate_percent: f64,
    /// Hits over lookups, percent.
    pub cache_hit_ratio_percent: f64,
    /// Mean latency, ms.
    pub avg_response_time_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// In flight at the end.
    pub in_flight: u64,
    /// Upstreams in rotation at the end.
    pub healthy_upstreams: usize,
    /// Resident memory, bytes (newer instances).
    pub memory_usage_bytes: Option<u64>,
    /// Process CPU, % (newer instances).
    pub cpu_percent: Option<f64>,
    /// Open connections (newer instances).
    pub connections: Option<u64>,
    /// Bytes received per second (newer instances).
    pub bytes_received_per_second: Option<f64>,
    /// Bytes sent per second (newer instances).
    pub bytes_sent_per_second: Option<f64>,
    /// The sample's resolution (newer instances: seconds, or text such as `"1m"`).
    #[serde(alias = "resolution_seconds")]
    pub resolution: Option<Value>,
}

/// A resolution as sent (seconds, or text such as `"1m"`), else `default`.
fn resolution(v: &Option<Value>, default: f64) -> f64 {
    match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(default),
        Some(Value::String(s)) => humantime::parse_duration(s)
            .map(|d| d.as_secs_f64())
            .unwrap_or(default),
        _ => default,
    }
}

impl PointView {
    /// The sample's resolution in seconds: what it says, else its length (1 s when absent).
    pub fn resolution_seconds(&self) -> f64 {
        let length = if self.seconds > 0.0 {
            self.seconds
        } else {
            1.0
        };
        resolution(&self.resolution, length)
    }
}

/// Seconds a history covers.
pub fn covered(points: &[PointView]) -> f64 {
    points.iter().map(PointView::resolution_seconds).sum()
}

/// `GET /api/upstreams/{addr}?duration=N`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UpstreamDetailView {
    /// The upstream now.
    pub upstream: UpstreamView,
    /// Its samples, oldest first.
    pub history: Vec<UpstreamPointView>,
}

/// One upstream sample.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UpstreamPointView {
    /// End of the sample, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Attempts.
    pub requests: u64,
    /// Failed or 5xx attempts.
    pub errors: u64,
    /// Mean latency, ms.
    pub avg_response_time_ms: f64,
    /// In rotation at the end.
    pub healthy: bool,
    /// The sample's resolution (newer instances: seconds, or text such as `"1m"`).
    #[serde(alias = "resolution_seconds")]
    pub resolution: Option<Value>,
}

impl UpstreamPointView {
    /// The sample's resolution in seconds (1 s when absent).
    pub fn resolution_seconds(&self) -> f64 {
        resolution(&self.resolution, 1.0)
    }
}
