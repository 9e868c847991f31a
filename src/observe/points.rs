//! The JSON views of history samples: what `/api/metrics/history`, `/api/upstreams/{addr}` and
//! the stream serve, one point per sample, each saying its resolution.

use serde::{Deserialize, Serialize};

use super::sample::Sample;
use super::snapshot::{percent, CacheCounts, StatusCounts};
use crate::telemetry::latency::{add_sparse, quantile_ms, FINE_BUCKETS};
use crate::telemetry::process::cpu_percent;
use crate::telemetry::recent::RequestInfo;

/// `n` per second over `ms` milliseconds (0 over no time).
pub fn per_second(n: u64, ms: u64) -> f64 {
    if ms == 0 {
        0.0
    } else {
        n as f64 * 1000.0 / ms as f64
    }
}

/// Mean in ms of a µs sum over `count` samples (0 without samples).
pub fn avg_ms(sum_us: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        sum_us as f64 / count as f64 / 1000.0
    }
}

/// One sample of history as served: a second, or a minute (`resolution_seconds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// End of the sample, ms since the Unix epoch.
    pub unix_ms: u64,
    /// What one sample stands for: 1 (a second) or 60 (a minute).
    #[serde(default = "one")]
    pub resolution_seconds: u64,
    /// Time actually covered, seconds (about `resolution_seconds`; less for a first minute).
    pub seconds: f64,
    /// Requests finished.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_second: f64,
    /// By status class.
    pub status: StatusCounts,
    /// 5xx or no response.
    pub errors: u64,
    /// Errors over requests, percent.
    pub error_rate_percent: f64,
    /// By cache outcome.
    pub cache: CacheCounts,
    /// Hits over cacheable lookups, percent.
    pub cache_hit_ratio_percent: f64,
    /// Mean latency, ms.
    pub avg_response_time_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Body bytes sent per second.
    #[serde(default)]
    pub bytes_sent_per_second: f64,
    /// Request bytes received per second (head and body).
    #[serde(default)]
    pub bytes_received_per_second: f64,
    /// Process CPU, percent of one core.
    #[serde(default)]
    pub cpu_percent: f64,
    /// Resident memory at the end, bytes.
    #[serde(default)]
    pub memory_usage_bytes: u64,
    /// Open client connections at the end.
    #[serde(default)]
    pub connections: u64,
    /// Requests in flight at the end.
    pub in_flight: u64,
    /// Upstreams in rotation at the end.
    pub healthy_upstreams: usize,
    /// The slowest request of the sample (its trace id marks the latency chart).
    #[serde(default)]
    pub slowest: Option<RequestInfo>,
}

fn one() -> u64 {
    1
}

/// One sample of one upstream's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamPoint {
    /// End of the sample, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Attempts.
    pub requests: u64,
    /// Failed or 5xx attempts.
    pub errors: u64,
    /// Mean attempt latency, ms.
    pub avg_response_time_ms: f64,
    /// In rotation at the end.
    pub healthy: bool,
    /// Requests waiting on it at the end.
    pub in_flight: u64,
}

impl Sample {
    /// The JSON view of this sample, which stands for `resolution_seconds`.
    pub fn point(&self, resolution_seconds: u64) -> HistoryPoint {
        let mut dense = vec![0; FINE_BUCKETS];
        add_sparse(&mut dense, &self.latency);
        let cache = CacheCounts::from(self.cache);
        HistoryPoint {
            unix_ms: self.unix_ms,
            resolution_seconds,
            seconds: self.elapsed_ms as f64 / 1000.0,
            requests: self.requests,
            requests_per_second: per_second(self.requests, self.elapsed_ms),
            status: self.status.into(),
            errors: self.errors,
            error_rate_percent: percent(self.errors, self.requests),
            cache,
            cache_hit_ratio_percent: cache.hit_ratio_percent(),
            avg_response_time_ms: avg_ms(self.latency_sum_us, self.latency_count),
            p50_ms: quantile_ms(&dense, 0.50),
            p99_ms: quantile_ms(&dense, 0.99),
            bytes_sent: self.bytes_sent,
            bytes_sent_per_second: per_second(self.bytes_sent, self.elapsed_ms),
            bytes_received_per_second: per_second(self.bytes_received, self.elapsed_ms),
            cpu_percent: cpu_percent(self.cpu_us, self.elapsed_ms),
            memory_usage_bytes: self.memory_bytes,
            connections: self.connections,
            in_flight: self.in_flight,
            healthy_upstreams: self.healthy_upstreams,
            slowest: self.slowest.first().cloned(),
        }
    }

    /// The JSON view of one upstream during this sample.
    pub fn upstream_point(&self, id: usize) -> Option<UpstreamPoint> {
        let u = self.upstreams.get(id)?;
        Some(UpstreamPoint {
            unix_ms: self.unix_ms,
            requests: u.traffic.requests,
            errors: u.traffic.errors,
            avg_response_time_ms: avg_ms(u.traffic.latency_sum_us, u.traffic.requests),
            healthy: u.healthy,
            in_flight: u.in_flight,
        })
    }
}
