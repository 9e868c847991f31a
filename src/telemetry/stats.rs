//! Live request figures: lock-free counters the request path bumps once per request.
//!
//! [`LiveStats::request_started`] and [`LiveStats::record`] are the only calls on the request
//! path; everything else (reading, the recent-requests list) is for the sampler and admin API.
//! Per request: about twenty relaxed atomic adds, one uncontended per-slot lock to copy the
//! request into the recent ring, and one atomic load for the slowest-requests tracker.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use super::latency::{LatencyHistogram, LatencyReading};
use super::recent::{Entry, RecentRing, RequestInfo, SlowTracker};
use super::record::{CacheOutcome, RequestRecord};

/// Per-upstream counters (one per attempt sent to that upstream).
#[derive(Debug, Default)]
struct UpstreamCounters {
    requests: AtomicU64,
    errors: AtomicU64,
    latency_sum_us: AtomicU64,
}

/// A plain copy of one upstream's cumulative counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamReading {
    /// Attempts sent.
    pub requests: u64,
    /// Attempts that failed or answered 5xx.
    pub errors: u64,
    /// Sum of attempt latencies, µs.
    pub latency_sum_us: u64,
}

/// A plain copy of every cumulative counter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsReading {
    /// Finished requests.
    pub requests: u64,
    /// Requests by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    pub status: [u64; 5],
    /// 5xx or no response.
    pub errors: u64,
    /// Cache outcomes: hit, miss, stale, bypass.
    pub cache: [u64; 4],
    /// Response body bytes sent.
    pub bytes_sent: u64,
    /// Request bytes received (head and body).
    pub bytes_received: u64,
    /// Request latencies.
    pub latency: LatencyReading,
    /// Per upstream, by [`super::UpstreamId`].
    pub upstreams: Vec<UpstreamReading>,
    /// Requests started and not yet finished.
    pub in_flight: u64,
}

/// Counters updated once per request without locks.
#[derive(Debug)]
pub struct LiveStats {
    requests: AtomicU64,
    in_flight: AtomicI64,
    status: [AtomicU64; 5],
    errors: AtomicU64,
    cache: [AtomicU64; 4],
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    latency: LatencyHistogram,
    upstreams: Box<[UpstreamCounters]>,
    recent: RecentRing,
    slow: SlowTracker,
    /// Client connections open now.
    open_connections: AtomicU64,
}

impl Default for LiveStats {
    /// Stats without per-upstream counters (attempts are then not counted per upstream).
    fn default() -> Self {
        LiveStats::new(0)
    }
}

fn cache_index(c: CacheOutcome) -> usize {
    match c {
        CacheOutcome::Hit => 0,
        CacheOutcome::Miss => 1,
        CacheOutcome::Stale => 2,
        CacheOutcome::Bypass => 3,
    }
}

impl LiveStats {
    /// Stats for `n_upstreams` upstreams (ids `0..n_upstreams`; others are ignored).
    pub fn new(n_upstreams: usize) -> Self {
        LiveStats {
            requests: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            status: Default::default(),
            errors: AtomicU64::new(0),
            cache: Default::default(),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            latency: LatencyHistogram::default(),
            upstreams: (0..n_upstreams).map(|_| Default::default()).collect(),
            recent: RecentRing::new(),
            slow: SlowTracker::new(),
            open_connections: AtomicU64::new(0),
        }
    }

    /// A request entered the proxy.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// A request finished (call exactly once per [`Self::request_started`]).
    pub fn record(&self, rec: &RequestRecord<'_>) {
        self.in_flight.fetch_sub(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        if (100..600).contains(&rec.status) {
            self.status[(rec.status / 100 - 1) as usize].fetch_add(1, Relaxed);
        }
        if rec.is_error() {
            self.errors.fetch_add(1, Relaxed);
        }
        self.cache[cache_index(rec.cache)].fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(rec.bytes_sent, Relaxed);
        self.bytes_received.fetch_add(rec.bytes_received, Relaxed);
        let latency_us = rec.duration.as_micros().min(u64::MAX as u128) as u64;
        if rec.sampled {
            let end = rec.start_time.checked_add(rec.duration);
            let unix_nanos = end.map_or(0, super::clock::unix_nanos);
            self.latency
                .record_sampled(latency_us, rec.trace_id, rec.span_id, unix_nanos);
        } else {
            self.latency.record(latency_us);
        }

        let end = rec.start + rec.duration;
        for a in rec.attempts {
            let Some(c) = self.upstreams.get(a.upstream) else {
                continue;
            };
            c.requests.fetch_add(1, Relaxed);
            if a.failed || a.status.is_some_and(|s| s >= 500) {
                c.errors.fetch_add(1, Relaxed);
            }
            let took = a.end.unwrap_or(end).saturating_duration_since(a.start);
            c.latency_sum_us
                .fetch_add(took.as_micros().min(u64::MAX as u128) as u64, Relaxed);
        }

        let entry = Entry::from_record(rec, latency_us);
        let seq = self.recent.push(entry);
        self.slow.offer(seq, &entry);
    }

    /// A client connection was accepted (call [`Self::connection_closed`] once when it ends).
    pub fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Relaxed);
    }

    /// A client connection ended.
    pub fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Relaxed);
    }

    /// Client connections open now.
    pub fn open_connections(&self) -> u64 {
        self.open_connections.load(Relaxed)
    }

    /// Requests finished since start.
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Requests started and not yet finished.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed).max(0) as u64
    }

    /// Number of upstreams counted.
    pub fn upstream_count(&self) -> usize {
        self.upstreams.len()
    }

    /// Copies every cumulative counter.
    pub fn read(&self) -> StatsReading {
        StatsReading {
            requests: self.requests.load(Relaxed),
            status: std::array::from_fn(|i| self.status[i].load(Relaxed)),
            errors: self.errors.load(Relaxed),
            cache: std::array::from_fn(|i| self.cache[i].load(Relaxed)),
            bytes_sent: self.bytes_sent.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            latency: self.latency.read(),
            upstreams: self
                .upstreams
                .iter()
                .map(|u| UpstreamReading {
                    requests: u.requests.load(Relaxed),
                    errors: u.errors.load(Relaxed),
                    latency_sum_us: u.latency_sum_us.load(Relaxed),
                })
                .collect(),
            in_flight: self.in_flight(),
        }
    }

    /// The last 200 requests, newest first.
    pub fn recent(&self) -> Vec<RequestInfo> {
        self.recent.list()
    }

    /// The kept requests numbered `from` or later, newest first, and the number to pass next
    /// time (the stream's "new since the last message").
    pub fn recent_since(&self, from: u64) -> (Vec<RequestInfo>, u64) {
        self.recent.since(from)
    }

    /// The kept requests numbered before `to`, newest first (what a stream cursor has covered).
    pub fn recent_before(&self, to: u64) -> Vec<RequestInfo> {
        self.recent.range(0, to)
    }

    /// The slowest requests since the previous call, slowest first (for the sampler).
    pub fn drain_slowest(&self) -> Vec<RequestInfo> {
        self.slow.drain()
    }
}

/// Builders of synthetic request records, shared by this crate's tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::time::{Duration, Instant, SystemTime};

    use crate::telemetry::record::{CacheOutcome, RequestRecord, UpstreamAttempt};

    /// Feeds one request with these facts into `stats` (one attempt on `upstream` if given).
    pub(crate) fn feed(
        stats: &super::LiveStats,
        status: u16,
        cache: CacheOutcome,
        latency: Duration,
        upstream: Option<usize>,
    ) {
        let start = Instant::now();
        let attempts: Vec<UpstreamAttempt> = upstream
            .map(|id| UpstreamAttempt {
                upstream: id,
                addr: format!("127.0.0.1:{}", 9001 + id).parse().unwrap(),
                start,
                end: Some(start + latency),
                status: Some(status),
                failed: false,
                span_id: [0; 8],
            })
            .into_iter()
            .collect();
        let rec = request(start, status, cache, latency, &attempts);
        stats.request_started();
        stats.record(&rec);
    }

    /// Feeds one cache hit of `latency` with this trace context into `stats`.
    pub(crate) fn feed_traced(
        stats: &super::LiveStats,
        latency: Duration,
        trace_id: [u8; 16],
        span_id: [u8; 8],
        sampled: bool,
    ) {
        let rec = RequestRecord {
            trace_id,
            span_id,
            sampled,
            ..request(Instant::now(), 200, CacheOutcome::Hit, latency, &[])
        };
        stats.request_started();
        stats.record(&rec);
    }

    /// A sampled request with these facts, started now.
    fn request(
        start: Instant,
        status: u16,
        cache: CacheOutcome,
        latency: Duration,
        attempts: &[UpstreamAttempt],
    ) -> RequestRecord<'_> {
        RequestRecord {
            start,
            start_time: SystemTime::now(),
            duration: latency,
            method: &http::Method::GET,
            path: "/test",
            host: None,
            client: None,
            user_agent: None,
            protocol_version: "1.1",
            scheme: "http",
            status,
            cache,
            cache_lookup: None,
            attempts,
            error: None,
            bytes_sent: 100,
            bytes_received: 40,
            trace_id: [7; 16],
            span_id: [8; 8],
            sampled: true,
        }
    }
}

#[cfg(test)]
mod tests;
