//! The per-second history: a ring of samples (deltas of the live counters) and the sums over a
//! sliding window that rates, averages and percentiles are computed from.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::snapshot::{percent, CacheCounts, StatusCounts};
use crate::telemetry::latency::{add_sparse, quantile_ms, sparse_delta, SparseHist, FINE_BUCKETS};
use crate::telemetry::recent::RequestInfo;
use crate::telemetry::stats::{StatsReading, UpstreamReading};

/// Samples kept at least (spec: 300 s of history).
pub const MIN_HISTORY: usize = 300;
/// Slowest requests kept per window.
pub const SLOWEST_KEPT: usize = 10;

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

/// What happened during one sampling period (normally one second).
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
    /// Latency sum, µs.
    pub latency_sum_us: u64,
    /// Latencies recorded.
    pub latency_count: u64,
    /// Latency distribution (fine buckets).
    pub latency: SparseHist,
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

impl Sample {
    /// The change between two readings of the live counters.
    pub fn between(
        before: &StatsReading,
        now: &StatsReading,
        unix_ms: u64,
        elapsed: Duration,
        upstream_states: &[UpstreamState],
        slowest: Vec<RequestInfo>,
    ) -> Sample {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Sample {
            unix_ms,
            elapsed_ms: elapsed.as_millis() as u64,
            requests: d(now.requests, before.requests),
            status: std::array::from_fn(|i| d(now.status[i], before.status[i])),
            errors: d(now.errors, before.errors),
            cache: std::array::from_fn(|i| d(now.cache[i], before.cache[i])),
            bytes_sent: d(now.bytes_sent, before.bytes_sent),
            latency_sum_us: d(now.latency.sum_us, before.latency.sum_us),
            latency_count: d(now.latency.count, before.latency.count),
            latency: sparse_delta(&now.latency.fine, &before.latency.fine),
            in_flight: now.in_flight,
            healthy_upstreams: upstream_states.iter().filter(|u| u.healthy).count(),
            upstreams: now
                .upstreams
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let b = before.upstreams.get(i).copied().unwrap_or_default();
                    let st = upstream_states.get(i);
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
            slowest,
        }
    }

    /// The JSON view of this sample.
    pub fn point(&self) -> HistoryPoint {
        let mut dense = vec![0; FINE_BUCKETS];
        add_sparse(&mut dense, &self.latency);
        let cache = CacheCounts::from(self.cache);
        HistoryPoint {
            unix_ms: self.unix_ms,
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
            in_flight: self.in_flight,
            healthy_upstreams: self.healthy_upstreams,
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

/// One second of history as served by `/api/metrics/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// End of the sample, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Sample length, seconds.
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
    /// Requests in flight at the end.
    pub in_flight: u64,
    /// Upstreams in rotation at the end.
    pub healthy_upstreams: usize,
}

/// One second of one upstream's history.
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

/// Sums over the samples of a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowSums {
    /// Time covered, ms.
    pub covered_ms: u64,
    /// Requests.
    pub requests: u64,
    /// By status class.
    pub status: [u64; 5],
    /// Errors.
    pub errors: u64,
    /// Hit, miss, stale, bypass.
    pub cache: [u64; 4],
    /// Body bytes.
    pub bytes_sent: u64,
    /// Latency sum, µs.
    pub latency_sum_us: u64,
    /// Latencies.
    pub latency_count: u64,
    /// Dense fine-bucket latency counts.
    pub latency: Vec<u64>,
    /// Per upstream.
    pub upstreams: Vec<UpstreamReading>,
    /// The slowest requests, slowest first (at most [`SLOWEST_KEPT`]).
    pub slowest: Vec<RequestInfo>,
}

/// The ring of samples, oldest first.
#[derive(Debug, Clone)]
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
}

impl History {
    /// A ring keeping `capacity` samples (at least [`MIN_HISTORY`]).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(MIN_HISTORY);
        History {
            capacity,
            samples: VecDeque::with_capacity(capacity),
        }
    }

    /// Samples kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends a sample, dropping the oldest when full.
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// The newest samples covering `span`, oldest first. A sample counts in when at least half
    /// of it lies inside the span, so sampler jitter neither drops nor adds a whole second.
    pub fn last(&self, span: Duration) -> impl Iterator<Item = &Sample> {
        let span_ms = span.as_millis() as u64;
        let mut acc = 0u64;
        let n = self
            .samples
            .iter()
            .rev()
            .take_while(|s| {
                let inside = acc + s.elapsed_ms / 2 < span_ms;
                acc += s.elapsed_ms;
                inside
            })
            .count();
        self.samples.iter().skip(self.samples.len() - n)
    }

    /// Sums over the newest samples covering `span`.
    pub fn sums(&self, span: Duration, n_upstreams: usize) -> WindowSums {
        let mut w = WindowSums {
            latency: vec![0; FINE_BUCKETS],
            upstreams: vec![UpstreamReading::default(); n_upstreams],
            ..Default::default()
        };
        let mut slowest = Vec::new();
        for s in self.last(span) {
            w.covered_ms += s.elapsed_ms;
            w.requests += s.requests;
            (0..5).for_each(|i| w.status[i] += s.status[i]);
            w.errors += s.errors;
            (0..4).for_each(|i| w.cache[i] += s.cache[i]);
            w.bytes_sent += s.bytes_sent;
            w.latency_sum_us += s.latency_sum_us;
            w.latency_count += s.latency_count;
            add_sparse(&mut w.latency, &s.latency);
            for (acc, u) in w.upstreams.iter_mut().zip(&s.upstreams) {
                acc.requests += u.traffic.requests;
                acc.errors += u.traffic.errors;
                acc.latency_sum_us += u.traffic.latency_sum_us;
            }
            slowest.extend(s.slowest.iter().cloned());
        }
        slowest.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
        slowest.truncate(SLOWEST_KEPT);
        w.slowest = slowest;
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(requests: u64, elapsed_ms: u64) -> Sample {
        Sample {
            requests,
            elapsed_ms,
            ..Default::default()
        }
    }

    #[test]
    fn ring_keeps_at_least_300() {
        let mut h = History::new(10);
        for i in 0..400 {
            h.push(sample(i, 1000));
        }
        assert_eq!(h.capacity(), MIN_HISTORY);
        let all: Vec<_> = h.last(Duration::from_secs(10_000)).collect();
        assert_eq!(all.len(), 300);
        assert_eq!(all[0].requests, 100);
        assert_eq!(all[299].requests, 399);
    }

    #[test]
    fn window_takes_whole_seconds_despite_jitter() {
        for elapsed in [990, 1000, 1010] {
            let mut h = History::new(300);
            (0..20).for_each(|i| h.push(sample(i, elapsed)));
            let w = h.sums(Duration::from_secs(10), 0);
            assert_eq!(w.requests, (10..20).sum::<u64>(), "elapsed {elapsed}");
            assert_eq!(w.covered_ms, 10 * elapsed);
        }
    }

    #[test]
    fn window_shorter_history_covers_what_exists() {
        let mut h = History::new(300);
        (0..3).for_each(|_| h.push(sample(5, 1000)));
        let w = h.sums(Duration::from_secs(10), 0);
        assert_eq!((w.requests, w.covered_ms), (15, 3000));
        assert_eq!(per_second(w.requests, w.covered_ms), 5.0);
    }
}
