//! Fleet totals for the cluster view: sums of rates and counts, request-weighted averages, and
//! the worst state, over the instances that answer now.

use super::app::{Instance, InstanceState};

/// One instance's row, or the fleet's.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    /// The state (for the totals: the worst one, unreachable counting worst).
    pub state: InstanceState,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Requests in the window (the weight of the averages).
    pub requests: u64,
    /// Mean latency, ms.
    pub avg_ms: f64,
    /// 99th percentile latency, ms (for the totals: request-weighted mean of the instances').
    pub p99_ms: f64,
    /// Errors in the window.
    pub errors: u64,
    /// Errors over requests, percent.
    pub error_rate_percent: f64,
    /// Hits over cacheable lookups, percent.
    pub hit_ratio_percent: f64,
    /// Cacheable lookups in the window (the weight of the hit ratio).
    pub cacheable: u64,
    /// Upstreams in rotation.
    pub upstreams_up: usize,
    /// Upstreams configured.
    pub upstreams: usize,
    /// Instances answering (1 or 0 for an instance).
    pub reporting: usize,
}

/// An instance's row (`None` while it has never answered or does not answer now).
pub fn row(inst: &Instance) -> Option<ClusterRow> {
    let s = inst.live()?;
    let w = &s.window;
    Some(ClusterRow {
        state: inst.state(),
        requests_per_second: w.requests_per_second,
        requests: w.requests,
        avg_ms: w.avg_response_time_ms,
        p99_ms: w.p99_ms,
        errors: w.errors,
        error_rate_percent: w.error_rate_percent,
        hit_ratio_percent: w.cache_hit_ratio_percent,
        cacheable: w.cache.cacheable(),
        upstreams_up: s.healthy_upstreams,
        upstreams: s.total_upstreams,
        reporting: 1,
    })
}

fn weighted(pairs: impl Iterator<Item = (f64, u64)>) -> f64 {
    let (sum, n) = pairs.fold((0.0, 0u64), |(s, n), (v, w)| (s + v * w as f64, n + w));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The fleet's row over every instance.
pub fn totals(instances: &[Instance]) -> ClusterRow {
    let rows: Vec<ClusterRow> = instances.iter().filter_map(row).collect();
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    let errors: u64 = rows.iter().map(|r| r.errors).sum();
    ClusterRow {
        state: instances
            .iter()
            .map(Instance::state)
            .max()
            .unwrap_or(InstanceState::Connecting),
        requests_per_second: rows.iter().map(|r| r.requests_per_second).sum(),
        requests,
        avg_ms: weighted(rows.iter().map(|r| (r.avg_ms, r.requests))),
        p99_ms: weighted(rows.iter().map(|r| (r.p99_ms, r.requests))),
        errors,
        error_rate_percent: if requests == 0 {
            0.0
        } else {
            errors as f64 * 100.0 / requests as f64
        },
        hit_ratio_percent: weighted(rows.iter().map(|r| (r.hit_ratio_percent, r.cacheable))),
        cacheable: rows.iter().map(|r| r.cacheable).sum(),
        upstreams_up: rows.iter().map(|r| r.upstreams_up).sum(),
        upstreams: rows.iter().map(|r| r.upstreams).sum(),
        reporting: rows.len(),
    }
}
