//! One sample of history: what happened during one sampling period (a second, or a minute once
//! rolled up), as deltas of the live counters plus the gauges at its end.

use std::time::Duration;

use crate::telemetry::latency::{sparse_delta, SparseHist};
use crate::telemetry::recent::RequestInfo;
use crate::telemetry::stats::{StatsReading, UpstreamReading};

/// Slowest requests a minute sample keeps (enough to mark and link the chart's worst point).
pub const MINUTE_SLOWEST: usize = 3;

/// One upstream's traffic during one sample, plus its state at the sample's end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UpstreamDelta {
    /// Attempts, errors and latency sum during the sample.
    pub traffic: UpstreamReading,
    /// In rotation at the end of the sample.
    pub healthy: bool,
    /// Requests waiting on it at the end of the sample.
    pub in_flight: u64,
}

/// What happened during one sampling period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// End of the period, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Length of the period, ms.
    pub elapsed_ms: u64,
    /// Requests finished.
    pub requests: u64,
    /// By status class.
    pub status: [u64; 5],
    /// 5xx or no response.
    pub errors: u64,
    /// Hit, miss, stale, bypass.
    pub cache: [u64; 4],
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Request bytes received (head and body).
    pub bytes_received: u64,
    /// Latency sum, µs.
    pub latency_sum_us: u64,
    /// Latencies recorded.
    pub latency_count: u64,
    /// Latency distribution (fine buckets).
    pub latency: SparseHist,
    /// CPU time the process used during the period, µs.
    pub cpu_us: u64,
    /// Resident memory at the end, bytes.
    pub memory_bytes: u64,
    /// Open client connections at the end.
    pub connections: u64,
    /// Requests in flight at the end.
    pub in_flight: u64,
    /// Upstreams in rotation at the end.
    pub healthy_upstreams: usize,
    /// Per upstream.
    pub upstreams: Vec<UpstreamDelta>,
    /// The slowest requests of the period, slowest first.
    pub slowest: Vec<RequestInfo>,
}

/// Per-upstream state sampled with a reading.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamState {
    /// In rotation.
    pub healthy: bool,
    /// Requests waiting on it.
    pub in_flight: u64,
}

/// What the sampler reads beside the counters for one period.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    /// End of the period, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Length of the period.
    pub elapsed: Duration,
    /// Each upstream's state at the end.
    pub upstreams: Vec<UpstreamState>,
    /// The slowest requests of the period, slowest first.
    pub slowest: Vec<RequestInfo>,
    /// CPU time used during the period, µs.
    pub cpu_us: u64,
    /// Resident memory at the end, bytes.
    pub memory_bytes: u64,
    /// Open client connections at the end.
    pub connections: u64,
}

impl Sample {
    /// The change between two readings of the live counters, with the period's other readings.
    pub fn between(before: &StatsReading, now: &StatsReading, r: Readings) -> Sample {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Sample {
            unix_ms: r.unix_ms,
            elapsed_ms: r.elapsed.as_millis() as u64,
            requests: d(now.requests, before.requests),
            status: std::array::from_fn(|i| d(now.status[i], before.status[i])),
            errors: d(now.errors, before.errors),
            cache: std::array::from_fn(|i| d(now.cache[i], before.cache[i])),
            bytes_sent: d(now.bytes_sent, before.bytes_sent),
            bytes_received: d(now.bytes_received, before.bytes_received),
            latency_sum_us: d(now.latency.sum_us, before.latency.sum_us),
            latency_count: d(now.latency.count, before.latency.count),
            latency: sparse_delta(&now.latency.fine, &before.latency.fine),
            cpu_us: r.cpu_us,
            memory_bytes: r.memory_bytes,
            connections: r.connections,
            in_flight: now.in_flight,
            healthy_upstreams: r.upstreams.iter().filter(|u| u.healthy).count(),
            upstreams: now
                .upstreams
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let b = before.upstreams.get(i).copied().unwrap_or_default();
                    let st = r.upstreams.get(i);
                    UpstreamDelta {
                        traffic: UpstreamReading {
                            requests: d(n.requests, b.requests),
                            errors: d(n.errors, b.errors),
                            latency_sum_us: d(n.latency_sum_us, b.latency_sum_us),
                        },
                        healthy: st.is_some_and(|s| s.healthy),
                        in_flight: st.map_or(0, |s| s.in_flight),
                    }
                })
                .collect(),
            slowest: r.slowest,
        }
    }

    /// Adds a later sample into this one (the minute roll-up): counts and durations add up,
    /// gauges and the end time are the later sample's, the slowest few are kept.
    pub fn absorb(&mut self, later: &Sample) {
        self.unix_ms = later.unix_ms;
        self.elapsed_ms += later.elapsed_ms;
        self.requests += later.requests;
        (0..5).for_each(|i| self.status[i] += later.status[i]);
        self.errors += later.errors;
        (0..4).for_each(|i| self.cache[i] += later.cache[i]);
        self.bytes_sent += later.bytes_sent;
        self.bytes_received += later.bytes_received;
        self.latency_sum_us += later.latency_sum_us;
        self.latency_count += later.latency_count;
        self.latency = merge_sparse(&self.latency, &later.latency);
        self.cpu_us += later.cpu_us;
        self.memory_bytes = later.memory_bytes;
        self.connections = later.connections;
        self.in_flight = later.in_flight;
        self.healthy_upstreams = later.healthy_upstreams;
        if self.upstreams.len() < later.upstreams.len() {
            self.upstreams
                .resize(later.upstreams.len(), UpstreamDelta::default());
        }
        for (acc, u) in self.upstreams.iter_mut().zip(&later.upstreams) {
            acc.traffic.requests += u.traffic.requests;
            acc.traffic.errors += u.traffic.errors;
            acc.traffic.latency_sum_us += u.traffic.latency_sum_us;
            acc.healthy = u.healthy;
            acc.in_flight = u.in_flight;
        }
        self.slowest.extend(later.slowest.iter().cloned());
        self.slowest
            .sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
        self.slowest.truncate(MINUTE_SLOWEST);
    }

    /// The wall-clock minute this sample belongs to (a sample ending exactly on a minute
    /// belongs to the minute before).
    pub fn minute(&self) -> u64 {
        self.unix_ms.saturating_sub(1) / 60_000
    }
}

/// Two sparse histograms (ascending bucket index) added together.
fn merge_sparse(a: &SparseHist, b: &SparseHist) -> SparseHist {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(&(ia, ca)), Some(&(ib, cb))) if ia == ib => {
                out.push((ia, ca.saturating_add(cb)));
                i += 1;
                j += 1;
            }
            (Some(&x), Some(&(ib, _))) if x.0 < ib => {
                out.push(x);
                i += 1;
            }
            (Some(&x), None) => {
                out.push(x);
                i += 1;
            }
            (_, Some(&y)) => {
                out.push(y);
                j += 1;
            }
            (None, None) => unreachable!("the loop condition holds one side"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_histograms_merge_by_bucket() {
        let a: SparseHist = vec![(1, 2), (5, 1), (9, 4)];
        let b: SparseHist = vec![(0, 1), (5, 3), (10, 1)];
        assert_eq!(
            merge_sparse(&a, &b),
            vec![(0, 1), (1, 2), (5, 4), (9, 4), (10, 1)]
        );
        assert_eq!(merge_sparse(&a, &Vec::new()), a);
    }

    #[test]
    fn minutes_follow_the_wall_clock() {
        let at = |unix_ms| Sample {
            unix_ms,
            ..Default::default()
        };
        assert_eq!(
            at(60_000).minute(),
            0,
            "ending on the minute: the minute before"
        );
        assert_eq!(at(60_001).minute(), 1);
        assert_eq!(at(119_999).minute(), 1);
    }
}
