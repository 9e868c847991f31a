//! Live request figures: lock-free counters the request path bumps once per request.
//!
//! [`LiveStats::request_started`] and [`LiveStats::record`] are the only calls on the request
//! path; everything else (reading, the recent-requests list) is for the sampler and admin API.
//! Per request: about twenty relaxed atomic adds, one uncontended per-slot lock to copy the
//! request into the recent ring, and one atomic load for the slowest-requests tracker.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::UNIX_EPOCH;

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
            let unix_nanos = end
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64);
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
mod tests {
    use std::time::Duration;

    use super::test_support::{feed, feed_traced};
    use super::*;
    use crate::telemetry::latency::semconv_index;

    #[test]
    fn counts_every_facet_of_a_request() {
        let s = LiveStats::new(2);
        let ms = Duration::from_millis;
        feed(&s, 200, CacheOutcome::Hit, ms(1), None);
        feed(&s, 200, CacheOutcome::Miss, ms(10), Some(0));
        feed(&s, 503, CacheOutcome::Bypass, ms(30), Some(1));
        feed(&s, 0, CacheOutcome::Bypass, ms(5), Some(7)); // unknown upstream: ignored there
        let r = s.read();
        assert_eq!(r.requests, 4);
        assert_eq!(r.status, [0, 2, 0, 0, 1]);
        assert_eq!(r.errors, 2);
        assert_eq!(r.cache, [1, 1, 0, 2]);
        assert_eq!(r.bytes_sent, 400);
        assert_eq!(r.bytes_received, 160);
        assert_eq!(r.latency.count, 4);
        assert_eq!(r.latency.sum_us, 46_000);
        assert_eq!(r.upstreams[0].requests, 1);
        assert_eq!(r.upstreams[0].latency_sum_us, 10_000);
        assert_eq!((r.upstreams[1].requests, r.upstreams[1].errors), (1, 1));
        assert_eq!(r.in_flight, 0);
        assert_eq!(s.recent().len(), 4);
        assert_eq!(s.drain_slowest()[0].latency_ms, 30.0);
    }

    #[test]
    fn exemplars_keep_the_newest_sampled_request_per_bucket() {
        let s = LiveStats::new(0);
        let ms = Duration::from_millis;
        let fast = ms(3);
        let slow = ms(40);
        let beyond = Duration::from_secs(20);
        feed_traced(&s, fast, [1; 16], [1; 8], true);
        feed_traced(&s, fast, [2; 16], [2; 8], false);
        feed_traced(&s, slow, [3; 16], [3; 8], true);
        feed_traced(&s, slow - ms(5), [4; 16], [4; 8], true);
        feed_traced(&s, beyond, [5; 16], [5; 8], true);
        let r = s.read().latency;
        let at = |d: Duration| r.exemplars[semconv_index(d.as_micros() as u64)];

        let kept = at(fast).expect("the sampled fast request");
        assert_eq!(
            (kept.trace_id, kept.span_id),
            ([1; 16], [1; 8]),
            "unsampled: not kept"
        );
        assert_eq!(kept.value_s, fast.as_secs_f64());
        let newest = at(slow).expect("a slow request");
        assert_eq!(
            newest.trace_id, [4; 16],
            "the newer request in the bucket wins"
        );
        assert_eq!(newest.value_s, (slow - ms(5)).as_secs_f64());
        assert_eq!(
            r.exemplars.last().unwrap().unwrap().trace_id,
            [5; 16],
            "+Inf"
        );
        assert_eq!(
            r.exemplars.iter().flatten().count(),
            3,
            "only buckets that were hit"
        );

        let now = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap();
        let off = (now.as_nanos() as u64).abs_diff(newest.unix_nanos);
        assert!(
            off < Duration::from_secs(60).as_nanos() as u64,
            "wall clock: {off} ns off"
        );
    }

    #[test]
    fn unsampled_requests_leave_no_exemplar() {
        let s = LiveStats::new(0);
        feed_traced(&s, Duration::from_millis(3), [9; 16], [9; 8], false);
        let r = s.read().latency;
        assert_eq!(r.count, 1);
        assert!(r.exemplars.iter().all(Option::is_none));
    }

    #[test]
    fn in_flight_follows_start_and_finish() {
        let s = LiveStats::new(0);
        s.request_started();
        s.request_started();
        assert_eq!(s.in_flight(), 2);
        feed(&s, 200, CacheOutcome::Hit, Duration::from_millis(1), None);
        assert_eq!(s.in_flight(), 2, "feed starts and finishes its own request");
    }

    #[test]
    fn concurrent_recording_loses_nothing() {
        let s = std::sync::Arc::new(LiveStats::new(1));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000u64 {
                        let cache = if i % 4 == 0 {
                            CacheOutcome::Miss
                        } else {
                            CacheOutcome::Hit
                        };
                        feed(
                            &s,
                            200,
                            cache,
                            Duration::from_micros(t * 1000 + i % 97),
                            Some(0),
                        );
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let r = s.read();
        assert_eq!(r.requests, 20_000);
        assert_eq!(r.latency.count, 20_000);
        assert_eq!(r.latency.fine.iter().sum::<u64>(), 20_000);
        assert_eq!(r.latency.semconv.iter().sum::<u64>(), 20_000);
        assert_eq!(r.cache, [15_000, 5_000, 0, 0]);
        assert_eq!(r.upstreams[0].requests, 20_000);
        assert_eq!(s.recent().len(), 200);
    }

    /// Prints the cost of one `record` call; run with
    /// `cargo test --lib record_cost -- --ignored --nocapture` (meaningful only in release).
    #[test]
    #[ignore]
    fn record_cost() {
        use std::time::{Instant, SystemTime};
        let s = LiveStats::new(3);
        let start = Instant::now();
        let rec = RequestRecord {
            start,
            start_time: SystemTime::now(),
            duration: Duration::from_micros(1234),
            method: &http::Method::GET,
            path: "/api/items/42",
            host: None,
            client: None,
            user_agent: None,
            protocol_version: "1.1",
            scheme: "http",
            status: 200,
            cache: CacheOutcome::Miss,
            cache_lookup: None,
            attempts: &[],
            error: None,
            bytes_sent: 512,
            bytes_received: 0,
            trace_id: [1; 16],
            span_id: [2; 8],
            sampled: true,
        };
        let n = 1_000_000;
        let t = Instant::now();
        for _ in 0..n {
            s.request_started();
            s.record(&rec);
        }
        println!(
            "request_started + record: {:?} per request",
            t.elapsed() / n
        );
    }
}
