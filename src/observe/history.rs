//! The history: a ring of one-second samples (deltas of the live counters), their roll-up
//! into one-minute samples (24 h kept), and the sums over a sliding window that rates,
//! averages and percentiles are computed from.

use std::collections::VecDeque;
use std::time::Duration;

pub use super::points::{avg_ms, per_second, HistoryPoint, UpstreamPoint};
pub use super::sample::{Readings, Sample, UpstreamDelta, UpstreamState, MINUTE_SLOWEST};
use crate::telemetry::latency::{add_sparse, FINE_BUCKETS};
use crate::telemetry::recent::RequestInfo;
use crate::telemetry::stats::UpstreamReading;

/// One-second samples kept at least (spec: 300 s of history).
pub const MIN_HISTORY: usize = 300;
/// One-minute samples kept (spec: 24 h).
pub const MINUTES_KEPT: usize = 1_440;
/// The resolution history answers for a span, seconds: one-second samples up to
/// [`MIN_HISTORY`] seconds, one-minute samples beyond.
pub fn resolution_for(span: Duration) -> u64 {
    if span.as_secs() > MIN_HISTORY as u64 {
        60
    } else {
        1
    }
}

/// Slowest requests kept per window.
pub const SLOWEST_KEPT: usize = 10;

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
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Request bytes received.
    pub bytes_received: u64,
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

/// The rings of samples, oldest first: per second, and per wall-clock minute.
#[derive(Debug, Clone)]
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
    minutes: VecDeque<Sample>,
    /// The minute being rolled up from the seconds pushed so far.
    open_minute: Option<Sample>,
}

impl History {
    /// Rings keeping `capacity` one-second samples (at least [`MIN_HISTORY`]) and
    /// [`MINUTES_KEPT`] one-minute samples.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(MIN_HISTORY);
        History {
            capacity,
            samples: VecDeque::with_capacity(capacity),
            minutes: VecDeque::with_capacity(MINUTES_KEPT),
            open_minute: None,
        }
    }

    /// One-second samples kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends a sample, dropping the oldest when full, and rolls it into its minute: the first
    /// sample of a new wall-clock minute closes the previous one.
    pub fn push(&mut self, s: Sample) {
        match &mut self.open_minute {
            Some(m) if m.minute() == s.minute() => m.absorb(&s),
            open => {
                let mut fresh = s.clone();
                fresh.slowest.truncate(MINUTE_SLOWEST);
                if let Some(done) = open.replace(fresh) {
                    if self.minutes.len() == MINUTES_KEPT {
                        self.minutes.pop_front();
                    }
                    self.minutes.push_back(done);
                }
            }
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// The newest closed minutes covering `span` (whole minutes, rounded up), oldest first.
    pub fn minutes(&self, span: Duration) -> impl Iterator<Item = &Sample> {
        let n = (span.as_secs().div_ceil(60) as usize).min(self.minutes.len());
        self.minutes.iter().skip(self.minutes.len() - n)
    }

    /// The newest closed minute, if any.
    pub fn last_minute(&self) -> Option<&Sample> {
        self.minutes.back()
    }

    /// The newest one-second sample, if any.
    pub fn newest(&self) -> Option<&Sample> {
        self.samples.back()
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
            w.bytes_received += s.bytes_received;
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
#[path = "history_tests.rs"]
mod tests;
