use std::time::Duration;

use super::test_support::{feed, feed_traced};
use super::*;
use crate::telemetry::latency::semconv_index;
use std::time::UNIX_EPOCH;

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
