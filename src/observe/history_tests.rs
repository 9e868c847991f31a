//! Tests of the history rings: the one-second ring, window sums, the minute roll-up.

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

/// A second-long sample ending at `unix_ms` with `requests` requests of `latency_ms` each.
fn second_at(unix_ms: u64, requests: u64, latency_ms: u64) -> Sample {
    Sample {
        unix_ms,
        elapsed_ms: 1000,
        requests,
        status: [0, requests, 0, 0, 0],
        latency_sum_us: requests * latency_ms * 1000,
        latency_count: requests,
        cpu_us: 100_000,
        bytes_received: requests * 50,
        ..Default::default()
    }
}

#[test]
fn seconds_roll_up_into_wall_clock_minutes() {
    let mut h = History::new(300);
    let t0 = 1_700_000_040_000u64; // a whole minute
                                   // 150 seconds: minutes [t0, t0+60s) and [t0+60s, t0+120s) close; the third stays open.
    for i in 1..=150u64 {
        h.push(second_at(t0 + i * 1000, i, 10));
    }
    let minutes: Vec<&Sample> = h.minutes(Duration::from_secs(3600)).collect();
    assert_eq!(minutes.len(), 2, "only closed minutes are listed");
    assert_eq!(minutes[0].requests, (1..=60).sum::<u64>());
    assert_eq!(minutes[1].requests, (61..=120).sum::<u64>());
    assert_eq!(minutes[0].elapsed_ms, 60_000);
    assert_eq!(minutes[0].unix_ms, t0 + 60_000);
    let p = minutes[1].point(60);
    assert_eq!(p.resolution_seconds, 60);
    assert_eq!(p.seconds, 60.0);
    assert_eq!(p.requests_per_second, (61..=120).sum::<u64>() as f64 / 60.0);
    assert_eq!(p.avg_response_time_ms, 10.0);
    assert_eq!(p.cpu_percent, 10.0, "100 ms of CPU per second");
    assert_eq!(p.bytes_received_per_second, p.requests_per_second * 50.0);
    assert_eq!(p.status.s2xx, (61..=120).sum::<u64>());
    assert_eq!(h.last_minute().unwrap().requests, minutes[1].requests);
    assert_eq!(h.minutes(Duration::from_secs(61)).count(), 2);
    assert_eq!(h.minutes(Duration::from_secs(60)).count(), 1);
}

#[test]
fn minute_keeps_gauges_from_its_end_and_its_slowest_requests() {
    let slow = |ms: f64| RequestInfo {
        unix_ms: 0,
        method: "GET".into(),
        path: format!("/{ms}"),
        status: 200,
        latency_ms: ms,
        cache: "miss".into(),
        upstream: None,
        trace_id: None,
    };
    let mut h = History::new(300);
    let t0 = 1_700_000_040_000u64;
    for i in 1..=61u64 {
        let mut s = second_at(t0 + i * 1000, 1, 1);
        s.in_flight = i;
        s.connections = 100 + i;
        s.memory_bytes = 1000 * i;
        s.latency = vec![(i as u16 % 7, 1)];
        s.slowest = vec![slow(i as f64), slow(0.5)];
        h.push(s);
    }
    let m = h.last_minute().unwrap();
    assert_eq!(
        (m.in_flight, m.connections, m.memory_bytes),
        (60, 160, 60_000)
    );
    let kept: Vec<f64> = m.slowest.iter().map(|r| r.latency_ms).collect();
    assert_eq!(kept, vec![60.0, 59.0, 58.0]);
    assert_eq!(m.latency.iter().map(|&(_, c)| c as u64).sum::<u64>(), 60);
    assert_eq!(m.point(60).slowest.unwrap().latency_ms, 60.0);
}

#[test]
fn a_day_of_minutes_is_kept() {
    let mut h = History::new(300);
    let t0 = 1_700_000_040_000u64;
    for i in 1..=(MINUTES_KEPT as u64 + 10) * 60 + 1 {
        h.push(second_at(t0 + i * 1000, 1, 1));
    }
    let all: Vec<&Sample> = h.minutes(Duration::from_secs(10 * 86_400)).collect();
    assert_eq!(all.len(), MINUTES_KEPT);
    assert_eq!(
        all[0].unix_ms,
        t0 + 11 * 60_000,
        "the oldest ten minutes left"
    );
    assert_eq!(h.last(Duration::from_secs(100_000)).count(), 300);
}
