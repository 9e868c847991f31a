//! A dead, slow or late collector never costs the request path, is reported once, and export
//! resumes; shutdown flushes what was handed over.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline::config::OtlpProtocol;
use sightline::telemetry::otel::ExportTuning;
use sightline::telemetry::upstreams::UpstreamBoard;
use sightline::telemetry::{CacheUsage, CacheUsageSource};
use tracing_subscriber::layer::SubscriberExt;

use super::{
    capture_warnings, config, miss, runtime, upstreams, wait_until, warnings_for, Fixture,
};
use crate::otlp_receiver::Receiver;

/// Finishes `n` sampled misses; returns the slowest single `finish()` and the median.
fn timed_finishes(fx: &Fixture, n: usize) -> (Duration, Duration) {
    let mut took: Vec<Duration> = (0..n)
        .map(|_| {
            let f = miss(&fx.tracer);
            let t = Instant::now();
            f.finish(&fx.tracer);
            t.elapsed()
        })
        .collect();
    took.sort();
    (took[n - 1], took[n / 2])
}

/// A port nothing listens on (bound, then released).
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn absent_collector_costs_nothing_warns_once_and_export_resumes() {
    capture_warnings();
    let addr = free_port();
    let endpoint = format!("http://{addr}");
    let mut cfg = config(&endpoint, OtlpProtocol::Grpc);
    cfg.metrics_interval = Duration::from_millis(200);
    let tuning = ExportTuning {
        scheduled_delay: Duration::from_millis(50),
        ..ExportTuning::default()
    };
    let mut fx = Fixture::start(runtime(), None, &cfg, &tuning);
    let board = Arc::new(UpstreamBoard::new(&upstreams()));
    let cache: CacheUsageSource = Arc::new(CacheUsage::default);
    let stats = Arc::new(sightline::telemetry::stats::LiveStats::new(
        board.capacity(),
    ));
    let metrics = fx.guard().metrics(stats, board, cache);
    metrics.record(&miss(&fx.tracer).record());

    let (slowest, median) = timed_finishes(&fx, 2000);
    // Blocking on the network would cost a connect attempt (~ms) or a timeout (s).
    assert!(
        median < Duration::from_micros(500),
        "median finish {median:?}"
    );
    assert!(
        slowest < Duration::from_millis(50),
        "slowest finish {slowest:?}"
    );

    let health = fx.guard().health();
    assert!(
        wait_until(Duration::from_secs(20), || health.figures().spans_dropped
            >= 6000
            && health.figures().metric_points_dropped > 0),
        "every span of the 2000 requests is counted as dropped: {:?}",
        health.figures()
    );
    let warnings = warnings_for(&endpoint);
    assert_eq!(
        warnings.len(),
        1,
        "one warning, not thousands: {warnings:?}"
    );
    assert!(
        warnings[0].contains("OpenTelemetry export is failing"),
        "{}",
        warnings[0]
    );

    // The collector comes up on the same port: new spans get through.
    let listener = fx
        .rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .expect("port still free");
    let receiver = {
        let _g = fx.rt.enter();
        Receiver::grpc_on(listener)
    };
    let ok = wait_until(Duration::from_secs(30), || {
        let f = miss(&fx.tracer);
        f.finish(&fx.tracer);
        let _ = fx.guard().force_flush();
        receiver
            .spans()
            .iter()
            .any(|s| s.span.trace_id == f.state.trace_id)
    });
    assert!(ok, "spans reach the collector once it listens");
    assert!(health.figures().spans_exported > 0);
    fx.shutdown();
    assert_eq!(
        warnings_for(&endpoint).len(),
        1,
        "recovery logs no further warning"
    );
}

#[test]
fn slow_collector_never_blocks_and_shutdown_is_bounded() {
    // Accepts TCP connections (the kernel does) but never answers a byte.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", blackhole.local_addr().unwrap());
    let cfg = config(&endpoint, OtlpProtocol::Grpc);
    let tuning = ExportTuning {
        max_queue_size: 1000,
        max_export_batch_size: 500,
        max_concurrent_exports: 2,
        export_timeout: Duration::from_millis(300),
        scheduled_delay: Duration::from_millis(50),
    };
    let mut fx = Fixture::start(runtime(), None, &cfg, &tuning);
    let (slowest, _) = timed_finishes(&fx, 2000);
    assert!(
        slowest < Duration::from_millis(50),
        "slowest finish {slowest:?}"
    );
    let health = fx.guard().health();
    // 6000 spans into a 1000-span queue with exports hanging: the excess is refused, counted.
    // Hanging exports hold at most 2 batches in flight + 1 pending + the queue (2500 spans).
    assert!(
        health.figures().spans_dropped >= 3500,
        "{:?}",
        health.figures()
    );

    let t = Instant::now();
    fx.shutdown();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        t.elapsed()
    );
    let f = health.figures();
    assert_eq!(f.spans_exported, 0);
    assert_eq!(
        f.spans_dropped, 6000,
        "every span is accounted for as dropped: {f:?}"
    );
    drop(blackhole);
}

#[test]
fn shutdown_flushes_every_span_handed_over() {
    let mut fx = Fixture::grpc(1.0);
    let traces: HashSet<[u8; 16]> = (0..500)
        .map(|_| {
            let f = miss(&fx.tracer);
            f.finish(&fx.tracer);
            f.state.trace_id
        })
        .collect();
    fx.shutdown();
    // Shutdown returned: everything must already be at the receiver, no waiting.
    let spans = fx.receiver().spans();
    assert_eq!(spans.len(), 1500);
    let got: HashSet<[u8; 16]> = spans
        .iter()
        .map(|s| s.span.trace_id.clone().try_into().unwrap())
        .collect();
    assert_eq!(got, traces);
    // After shutdown, spans are refused and counted, nothing panics.
    miss(&fx.tracer).finish(&fx.tracer);
}

#[test]
fn tracing_bridge_exports_our_info_spans_only() {
    let fx = Fixture::grpc(1.0);
    let subscriber = tracing_subscriber::registry().with(fx.guard().tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        let s = tracing::info_span!(target: "sightline::admin", "admin request", route = "/health");
        s.in_scope(|| tracing::info!(target: "sightline::admin", "served"));
        drop(s);
        drop(tracing::debug_span!(target: "sightline::admin", "too detailed"));
        drop(tracing::info_span!(target: "pingora_core", "not ours"));
    });
    fx.flush();
    let spans = fx
        .receiver()
        .wait_spans(Duration::from_secs(10), |s| !s.is_empty());
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    assert_eq!(names, ["admin request"]);
    assert_eq!(spans[0].attrs["route"], "/health");
    assert_eq!(spans[0].span.events.len(), 1);
    assert_eq!(spans[0].resource["service.name"], "sightline");
}
