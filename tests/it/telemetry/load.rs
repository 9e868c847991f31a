//! The closing figure of the OpenTelemetry work: spans received / requests sent at
//! `sample_ratio = 1.0` under sustained load through the real binary, and the throughput with
//! tracing off for comparison.
//!
//! Ignored by default (10 s of load per run, twice, on a shared machine); run it with
//! `cargo test --test it telemetry::load -- --ignored --nocapture` (`LOAD_SECS` changes the
//! duration). It prints the figures and fails if a span went missing without being counted.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::{dropped_spans, hex, kind, metered, total, traced, Receiver};
use crate::util::{client, try_fetch, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse};

/// Concurrent keep-alive clients.
const CLIENTS: usize = 8;

/// Fills the cache with one request, then runs `CLIENTS` keep-alive clients against `url` for
/// `secs` (all cache hits); returns (ok responses, trace ids seen in `traceresponse`, non-200 or
/// failed requests), the warm-up excluded.
async fn load(url: String, secs: Duration) -> (u64, HashSet<String>, u64) {
    let warm = try_fetch(client().get(&url))
        .await
        .expect("warm-up request");
    assert_eq!(warm.status, 200, "{warm:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, errors, url) = (stop.clone(), errors.clone(), url.clone());
            tokio::spawn(async move {
                let http = client();
                let (mut ok, mut traces) = (0u64, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match try_fetch(http.get(&url)).await {
                        Ok(r) if r.status == 200 => {
                            ok += 1;
                            if let Some(v) = r.header("traceresponse") {
                                traces.push(super::parse_context(v).trace_id);
                            }
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                (ok, traces)
            })
        })
        .collect();
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut traces) = (0, HashSet::new());
    for w in workers {
        let (n, t) = w.await.expect("a load worker does not panic");
        ok += n;
        traces.extend(t);
    }
    (ok, traces, errors.load(Ordering::Relaxed))
}

fn load_secs() -> Duration {
    let secs = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: 2 × 10 s of load; run with --ignored --nocapture"]
async fn spans_received_per_request_under_ten_seconds_of_load() {
    let secs = load_secs();
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("cached body").header("cache-control", "max-age=600")
    })
    .await;
    let cfg = || ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");

    // Tracing off: the throughput baseline.
    let mut proxy = ProxyProcess::start(cfg()).await;
    let t = Instant::now();
    let (base_ok, _, base_err) = load(proxy.url("/static/load"), secs).await;
    let base_rate = base_ok as f64 / t.elapsed().as_secs_f64();
    assert_eq!(
        proxy.terminate().await.code(),
        Some(0),
        "{}",
        proxy.output()
    );

    // Tracing and metrics on, every request sampled.
    let receiver = Receiver::grpc().await;
    let cfg = metered(traced(cfg(), &receiver.endpoint()), &receiver.endpoint())
        .set("telemetry.sample_ratio", 1.0);
    let mut proxy = ProxyProcess::start(cfg).await;
    let t = Instant::now();
    let (ok, traces, err) = load(proxy.url("/static/load"), secs).await;
    // Every load request is a hit (SERVER + cache lookup); the warm-up miss adds a CLIENT.
    let expected_spans = 2 * ok + 3;
    let rate = ok as f64 / t.elapsed().as_secs_f64();
    // Delivered while running: wait until the count stops moving (queue drained).
    let mut live = receiver.spans().len();
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = receiver.spans().len();
        if now == live {
            break;
        }
        live = now;
    }
    let live_servers = load_servers(&receiver, &traces);
    assert_eq!(
        proxy.terminate().await.code(),
        Some(0),
        "{}",
        proxy.output()
    );
    let spans = receiver.spans();
    let servers = load_servers(&receiver, &traces);
    let server_traces: HashSet<String> = spans
        .iter()
        .filter(|s| kind(s) == SpanKind::Server)
        .map(|s| hex(&s.span.trace_id))
        .collect();
    let m = receiver.latest_metrics();
    let dropped = dropped_spans(&m);
    let counted = total(&m, "http.server.request.duration");

    eprintln!(
        "load {secs:?}, {CLIENTS} keep-alive clients, one cacheable path, debug build:\n  \
         tracing off: {base_ok} requests ({base_rate:.0} req/s), {base_err} errors\n  \
         tracing on (ratio 1.0): {ok} requests ({rate:.0} req/s), {err} errors; \
         throughput {:+.1} %\n  \
         SERVER spans received / requests: {live_servers}/{ok} = {:.4} before shutdown, \
         {servers}/{ok} = {:.4} after the SIGTERM flush\n  \
         spans received {} (expected {expected_spans}: 2 per hit, 3 for the warm-up miss), \
         dropped and counted {dropped}; requests in http.server.request.duration {counted}",
        100.0 * (rate / base_rate - 1.0),
        live_servers as f64 / ok as f64,
        servers as f64 / ok as f64,
        spans.len(),
    );
    assert_eq!((base_err, err), (0, 0), "requests failed under load");
    assert_eq!(
        traces.len() as u64,
        ok,
        "every response had its own traceresponse"
    );
    assert_eq!(
        counted,
        (ok + 1) as f64,
        "every request (and the warm-up) in http.server.request.duration"
    );
    let lost = traces.difference(&server_traces).count() as f64;
    assert!(
        lost <= dropped,
        "{lost} SERVER spans missing but only {dropped} spans counted as dropped"
    );
    assert_eq!(
        spans.len() as f64 + dropped,
        expected_spans as f64,
        "every span either arrived or was counted as dropped"
    );
}

/// SERVER spans received for the load's requests (the warm-up's excluded).
fn load_servers(receiver: &Receiver, traces: &HashSet<String>) -> usize {
    receiver
        .spans()
        .iter()
        .filter(|s| kind(s) == SpanKind::Server && traces.contains(&hex(&s.span.trace_id)))
        .count()
}
