//! Tests of the observatory, and the fixture other modules' tests build on.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::telemetry::clock::ManualClock;
use crate::telemetry::record::CacheOutcome;
use crate::telemetry::stats::test_support::feed;
use crate::telemetry::CacheUsage;

/// An observatory over `n` upstreams (127.0.0.1:9001…) driven by a manual clock.
pub(crate) struct Fixture {
    pub(crate) obs: Arc<Observatory>,
    pub(crate) clock: Arc<ManualClock>,
}

impl Fixture {
    pub(crate) fn new(n: usize, window: Duration) -> Fixture {
        let addrs: Vec<std::net::SocketAddr> = (0..n)
            .map(|i| format!("127.0.0.1:{}", 9001 + i).parse().unwrap())
            .collect();
        let clock = Arc::new(ManualClock::new());
        let obs = Observatory::new(
            Arc::new(LiveStats::new(n)),
            Arc::new(UpstreamBoard::new(&addrs)),
            Arc::new(|| CacheUsage {
                bytes: 3 << 20,
                entries: 42,
            }),
            ObservatorySettings {
                window,
                cache_enabled: true,
            },
            clock.clone(),
        );
        Fixture { obs, clock }
    }

    /// Feeds `count` requests with these facts.
    pub(crate) fn feed(&self, count: usize, status: u16, cache: CacheOutcome, latency_ms: u64) {
        for _ in 0..count {
            feed(
                self.obs.stats(),
                status,
                cache,
                Duration::from_millis(latency_ms),
                Some(0),
            );
        }
    }

    /// Advances the clock one second and samples.
    pub(crate) fn second(&self) {
        self.clock.advance(Duration::from_secs(1));
        self.obs.tick();
    }
}

#[test]
fn cache_counts_are_exact() {
    let f = Fixture::new(1, Duration::from_secs(10));
    f.feed(10, 200, CacheOutcome::Miss, 5);
    f.feed(30, 200, CacheOutcome::Hit, 1);
    f.second();
    let s = f.obs.snapshot();
    assert_eq!((s.totals.cache.hit, s.totals.cache.miss), (30, 10));
    assert_eq!(s.totals.cache_hit_ratio_percent, 75.0);
    assert_eq!(s.window.cache_hit_ratio_percent, 75.0);
    assert_eq!(s.totals.requests, 40);
    assert_eq!(s.upstreams[0].requests, 40);
    assert_eq!((s.cache.size_bytes, s.cache.entries), (3 << 20, 42));
}

#[test]
fn rate_is_over_the_window_only() {
    let f = Fixture::new(1, Duration::from_secs(10));
    for _ in 0..12 {
        f.feed(20, 200, CacheOutcome::Bypass, 10);
        f.second();
    }
    assert_eq!(f.obs.snapshot().window.requests_per_second, 20.0);
    for _ in 0..5 {
        f.feed(40, 200, CacheOutcome::Bypass, 10);
        f.second();
    }
    let s = f.obs.snapshot();
    assert_eq!(s.window.requests, 5 * 20 + 5 * 40);
    assert_eq!(s.window.requests_per_second, 30.0);
    assert_eq!(s.window.covered_seconds, 10.0);
    assert_eq!(s.totals.requests, 12 * 20 + 5 * 40);
}

#[test]
fn rate_just_after_start_uses_the_time_covered() {
    let f = Fixture::new(1, Duration::from_secs(10));
    f.feed(30, 200, CacheOutcome::Bypass, 10);
    f.second();
    f.second();
    f.second();
    let s = f.obs.snapshot();
    assert_eq!(s.window.covered_seconds, 3.0);
    assert_eq!(s.window.requests_per_second, 10.0);
}

#[test]
fn averages_and_percentiles_follow_the_window() {
    let f = Fixture::new(1, Duration::from_secs(5));
    f.feed(50, 200, CacheOutcome::Bypass, 10);
    f.feed(50, 200, CacheOutcome::Bypass, 30);
    f.second();
    let s = f.obs.snapshot();
    assert_eq!(s.window.avg_response_time_ms, 20.0);
    assert!((s.window.p50_ms - 10.0).abs() < 0.2, "{}", s.window.p50_ms);
    assert!((s.window.p99_ms - 30.0).abs() < 0.6, "{}", s.window.p99_ms);
    assert_eq!(s.upstreams[0].window_avg_response_time_ms, 20.0);
    for _ in 0..5 {
        f.feed(10, 503, CacheOutcome::Bypass, 100);
        f.second();
    }
    let s = f.obs.snapshot();
    assert_eq!(
        s.window.avg_response_time_ms, 100.0,
        "the first second left the window"
    );
    assert_eq!(s.window.error_rate_percent, 100.0);
    assert_eq!(s.window.slowest[0].latency_ms, 100.0);
    assert_eq!(s.totals.status.s5xx, 50);
    assert_eq!(s.upstreams[0].window_errors, 50);
}

#[test]
fn uptimes_follow_the_clock() {
    let f = Fixture::new(1, Duration::from_secs(10));
    f.clock.advance(Duration::from_secs(100));
    f.obs.mark_started(Component::LoadBalancer);
    f.clock.advance(Duration::from_secs(20));
    f.obs.tick();
    let s = f.obs.snapshot();
    assert_eq!(s.uptime_seconds, 120.0);
    assert_eq!(s.components.http_server.uptime_seconds, 120.0);
    assert_eq!(s.components.load_balancer.uptime_seconds, 20.0);
}

#[test]
fn upstream_state_comes_from_the_board() {
    let f = Fixture::new(3, Duration::from_secs(10));
    f.obs.board().set_healthy(1, false);
    f.second();
    let s = f.obs.snapshot();
    assert_eq!((s.healthy_upstreams, s.total_upstreams), (2, 3));
    assert!(!s.upstreams[1].healthy);
    assert_eq!(s.upstreams[1].address, "127.0.0.1:9002");
    let h = f.obs.upstream_history(1, Duration::from_secs(60));
    assert_eq!(h.len(), 1);
    assert!(!h[0].healthy);
}

#[test]
fn history_returns_the_requested_seconds() {
    let f = Fixture::new(1, Duration::from_secs(10));
    for i in 0..70 {
        f.feed(i, 200, CacheOutcome::Hit, 1);
        f.second();
    }
    let h = f.obs.history(Duration::from_secs(60));
    assert_eq!(h.len(), 60);
    assert_eq!(h[59].requests, 69, "newest last");
    assert_eq!(h[59].requests_per_second, 69.0);
}

#[tokio::test(start_paused = true)]
async fn sampler_task_publishes_and_stops() {
    let f = Fixture::new(1, Duration::from_secs(10));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let mut rx = f.obs.subscribe();
    let task = f.obs.start(shutdown);
    f.feed(5, 200, CacheOutcome::Hit, 1);
    rx.changed().await.unwrap();
    assert_eq!(rx.borrow().totals.requests, 5);
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[test]
fn process_and_traffic_figures_are_sampled() {
    let f = Fixture::new(1, Duration::from_secs(10));
    f.obs.stats().connection_opened();
    f.obs.stats().connection_opened();
    f.obs.stats().connection_opened();
    f.obs.stats().connection_closed();
    f.feed(10, 200, CacheOutcome::Hit, 1);
    // Burn 200 ms of CPU time while the manual clock says one second passes.
    let until = crate::telemetry::process::cpu_time_us() + 200_000;
    while crate::telemetry::process::cpu_time_us() < until {
        std::hint::black_box(0u64);
    }
    f.second();
    let s = f.obs.snapshot();
    assert_eq!(s.connections, 2);
    assert!(s.cpu_percent >= 20.0, "cpu {}", s.cpu_percent);
    assert_eq!(
        s.bytes_sent_per_second, 1000.0,
        "10 × 100 bytes in one second"
    );
    assert_eq!(
        s.bytes_received_per_second, 400.0,
        "10 × 40 bytes in one second"
    );
    assert_eq!(s.totals.bytes_received, 400);
    let p = &f.obs.history(Duration::from_secs(1))[0];
    assert_eq!((p.connections, p.resolution_seconds), (2, 1));
    assert_eq!(p.cpu_percent, s.cpu_percent);
    assert_eq!(p.memory_usage_bytes, s.memory_usage_bytes);
}

#[test]
fn long_spans_answer_minutes() {
    let f = Fixture::new(1, Duration::from_secs(10));
    for _ in 0..200 {
        f.feed(6, 200, CacheOutcome::Hit, 1);
        f.second();
    }
    let minutes = f.obs.history(Duration::from_secs(3600));
    // 200 s from wherever the wall clock stands close two to four wall-clock minutes.
    assert!((2..=4).contains(&minutes.len()), "{}", minutes.len());
    assert!(minutes.iter().all(|m| m.resolution_seconds == 60));
    let full = &minutes[minutes.len() - 1];
    assert_eq!(full.seconds, 60.0);
    assert_eq!(full.requests_per_second, 6.0);
    assert_eq!(f.obs.last_minute().unwrap(), *full);
    assert_eq!(f.obs.history(Duration::from_secs(300)).len(), 200);
    assert!(f
        .obs
        .history(Duration::from_secs(300))
        .iter()
        .all(|p| p.resolution_seconds == 1));
}

#[test]
fn exemplars_reach_the_snapshot_buckets() {
    use crate::telemetry::stats::test_support::feed_traced;
    let f = Fixture::new(1, Duration::from_secs(10));
    let latency = Duration::from_millis(30);
    feed_traced(f.obs.stats(), latency, [3; 16], [4; 8], true);
    f.second();
    let s = f.obs.snapshot();
    let buckets = &s.totals.latency.buckets;
    let holder = buckets
        .iter()
        .position(|b| b.exemplar.is_some())
        .expect("an exemplar");
    let e = buckets[holder].exemplar.unwrap();
    assert_eq!((e.trace_id, e.span_id), ([3; 16], [4; 8]));
    assert_eq!(e.value_s, latency.as_secs_f64());
    assert!(buckets[holder].le.is_none_or(|le| e.value_s <= le));
    let below = holder.checked_sub(1).and_then(|i| buckets[i].le);
    assert!(
        below.is_none_or(|le| e.value_s > le),
        "in the lowest bucket that holds it"
    );
    assert_eq!(buckets.iter().filter(|b| b.exemplar.is_some()).count(), 1);
}
