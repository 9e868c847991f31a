use super::*;
use std::time::{Duration, Instant, SystemTime};

fn rec<'a>(
    method: &'a http::Method,
    status: u16,
    error: Option<&'static str>,
    attempts: &'a [UpstreamAttempt],
    ms: u64,
) -> RequestRecord<'a> {
    RequestRecord {
        start: Instant::now(),
        start_time: SystemTime::now(),
        duration: Duration::from_millis(ms),
        method,
        path: "/x",
        host: None,
        client: None,
        user_agent: None,
        protocol_version: "1.1",
        status,
        cache: CacheOutcome::Miss,
        cache_lookup: None,
        attempts,
        error,
        bytes_sent: 0,
        bytes_received: 0,
        trace_id: [1; 16],
        span_id: [3; 8],
        sampled: false,
        scheme: "http",
    }
}

fn attempt(upstream: usize, status: Option<u16>, failed: bool) -> UpstreamAttempt {
    let start = Instant::now();
    UpstreamAttempt {
        upstream,
        addr: "127.0.0.1:9001".parse().unwrap(),
        start,
        end: Some(start + Duration::from_millis(2)),
        status,
        failed,
        span_id: [2; 8],
    }
}

#[test]
fn keys_round_trip_every_attribute() {
    let d = Durations::default();
    let ext = http::Method::from_bytes(b"M-SEARCH").unwrap();
    let retried = [attempt(3, None, true), attempt(200, Some(503), false)];
    d.record(&rec(&http::Method::GET, 200, None, &[], 3));
    d.record(&rec(&http::Method::GET, 200, None, &[], 30));
    d.record(&rec(&ext, 503, None, &retried, 7));
    d.record(&rec(&http::Method::POST, 0, Some("client_closed"), &[], 1));
    d.record(&rec(&http::Method::PUT, 504, Some("timeout"), &[], 1));
    d.record(&rec(&http::Method::PUT, 0, None, &[], 1));
    let server = d.server();
    let find = |method, status, error| {
        server
            .iter()
            .find(|(k, _)| {
                k.is_some_and(|k| k.method == method && k.status == status && k.error == error)
            })
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{method} {status:?} {error:?} in {server:?}"))
    };
    let ok = find("GET", Some(200), None);
    assert_eq!(ok.count, 2);
    assert_eq!(ok.buckets.iter().sum::<u64>(), 2);
    assert_eq!(ok.buckets[0], 1, "3 ms is in the first (5 ms) bucket");
    assert!((ok.sum_s - 0.033).abs() < 1e-9);
    find("_OTHER", Some(503), Some(ErrorType::Status(503)));
    find("POST", None, Some(ErrorType::Named("client_closed")));
    find("PUT", Some(504), Some(ErrorType::Named("timeout")));
    find("PUT", None, Some(ErrorType::Named("_OTHER")));
    let client = d.client();
    let first = client
        .iter()
        .find(|(k, _)| k.is_some_and(|k| k.upstream == 3))
        .unwrap();
    let k = first.0.unwrap();
    assert_eq!(
        (k.method, k.status, k.error),
        ("_OTHER", None, Some(ErrorType::Named("connect_error")))
    );
    let second = client
        .iter()
        .find(|(k, _)| k.is_some_and(|k| k.upstream == 200))
        .unwrap();
    assert_eq!(second.0.unwrap().error, Some(ErrorType::Status(503)));
}

#[test]
fn sets_beyond_the_table_share_the_overflow_cell() {
    let d = Durations::default();
    let mut n = 0;
    for status in 100..1000u16 {
        for m in [http::Method::GET, http::Method::HEAD] {
            d.record(&rec(&m, status, None, &[], 1));
            n += 1;
        }
    }
    let server = d.server();
    let counted: u64 = server.iter().map(|(_, r)| r.count).sum();
    assert_eq!(counted, n);
    let overflow = server.iter().find(|(k, _)| k.is_none()).unwrap();
    assert!(overflow.1.count > 0);
    assert!(server.len() <= CELLS + 1);
}

#[test]
fn sampled_requests_leave_exemplars_in_their_bucket() {
    let d = Durations::default();
    let mut r = rec(&http::Method::GET, 200, None, &[], 40);
    d.record(&r);
    r.sampled = true;
    r.trace_id = [9; 16];
    d.record(&r);
    let server = d.server();
    let ex = &server[0].1.exemplars;
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].trace_id, [9; 16]);
    assert!((ex[0].value_s - 0.040).abs() < 1e-9);
}

#[test]
fn concurrent_recording_loses_nothing() {
    let d = std::sync::Arc::new(Durations::default());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || {
                for i in 0..2_000u64 {
                    let status = 200 + ((t * 7 + i) % 50) as u16;
                    d.record(&rec(&http::Method::GET, status, None, &[], i % 20));
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let total: u64 = d.server().iter().map(|(_, r)| r.count).sum();
    assert_eq!(total, 8_000);
}
