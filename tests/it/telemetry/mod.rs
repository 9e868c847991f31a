//! OpenTelemetry end to end through the real `sightline` binary: an in-process OTLP receiver
//! (the same one `tests/otel.rs` uses) or a real collector (rotel) receives what the proxy
//! exports while real origins answer (spec §5).
//!
//! Spans are checked per trace, found through the `traceresponse` header each sampled response
//! carries; metrics through the receiver's latest (cumulative) export, with
//! `telemetry.metrics_interval = "1s"` so they arrive quickly.

#[path = "../../otlp_receiver/mod.rs"]
pub mod otlp_receiver;

mod collector;
mod load;
mod metrics;
mod resilience;
mod spans;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

pub use otlp_receiver::{Receiver, RecvMetric, RecvSpan};

use crate::util::{poll_for, try_fetch, ConfigBuilder, Fetched};

/// How long a test waits for telemetry to arrive: the span queue exports every second and
/// metrics every second here, so this is generous for a loaded CI machine.
pub const ARRIVAL: Duration = Duration::from_secs(20);

/// `cfg` with traces exported to `endpoint` (OTLP/gRPC).
pub fn traced(cfg: ConfigBuilder, endpoint: &str) -> ConfigBuilder {
    cfg.set("telemetry.traces", true)
        .set("telemetry.otlp_endpoint", endpoint)
}

/// `cfg` with metrics exported to `endpoint` every second.
pub fn metered(cfg: ConfigBuilder, endpoint: &str) -> ConfigBuilder {
    cfg.set("telemetry.metrics", true)
        .set("telemetry.metrics_interval", "1s")
        .set("telemetry.otlp_endpoint", endpoint)
}

/// Lowercase hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A W3C `traceparent` / `traceresponse` value taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub parent_id: String,
    /// 2 hex digits.
    pub flags: String,
}

/// Parses `00-{trace}-{parent}-{flags}`; panics on anything else.
pub fn parse_context(v: &str) -> Context {
    let parts: Vec<&str> = v.split('-').collect();
    assert!(
        parts.len() == 4
            && parts[0] == "00"
            && parts[1].len() == 32
            && parts[2].len() == 16
            && parts[3].len() == 2,
        "not a version-00 trace context: {v:?}"
    );
    Context {
        trace_id: parts[1].to_owned(),
        parent_id: parts[2].to_owned(),
        flags: parts[3].to_owned(),
    }
}

/// The response's `traceresponse`, parsed; panics with the response when it is missing.
pub fn trace_response(r: &Fetched) -> Context {
    let v = r
        .header("traceresponse")
        .unwrap_or_else(|| panic!("no traceresponse on a sampled response: {r:?}"));
    parse_context(v)
}

/// The span's kind.
pub fn kind(s: &RecvSpan) -> SpanKind {
    SpanKind::try_from(s.span.kind).unwrap_or(SpanKind::Unspecified)
}

/// The spans of one trace (hex id).
pub fn in_trace<'a>(spans: &'a [RecvSpan], trace_id: &str) -> Vec<&'a RecvSpan> {
    spans
        .iter()
        .filter(|s| hex(&s.span.trace_id) == trace_id)
        .collect()
}

/// The spans of `kind` in `spans`.
pub fn of_kind<'a>(spans: &[&'a RecvSpan], k: SpanKind) -> Vec<&'a RecvSpan> {
    spans.iter().copied().filter(|s| kind(s) == k).collect()
}

/// Polls every 20 ms until `cond` holds on the spans received (or `limit` passes); returns
/// the spans either way, so the caller's assertion shows what did arrive.
pub async fn wait_spans(
    receiver: &Receiver,
    limit: Duration,
    cond: impl Fn(&[RecvSpan]) -> bool,
) -> Vec<RecvSpan> {
    poll_for(limit, || {
        let ready = cond(&receiver.spans());
        async move { ready.then_some(()) }
    })
    .await;
    receiver.spans()
}

/// Polls until `cond` holds on the latest metrics (or `limit` passes); returns them either way.
pub async fn wait_metrics(
    receiver: &Receiver,
    limit: Duration,
    cond: impl Fn(&HashMap<String, RecvMetric>) -> bool,
) -> HashMap<String, RecvMetric> {
    poll_for(limit, || {
        let ready = cond(&receiver.latest_metrics());
        async move { ready.then_some(()) }
    })
    .await;
    receiver.latest_metrics()
}

/// Sum of the data points (histogram counts, sum or gauge values) of `name` in `metrics`.
/// Spans the proxy counted as dropped (`sightline.telemetry.dropped{signal="traces"}`).
pub fn dropped_spans(metrics: &HashMap<String, RecvMetric>) -> f64 {
    metrics.get("sightline.telemetry.dropped").map_or(0.0, |d| {
        d.points()
            .iter()
            .filter(|(a, _)| a.get("signal").map(String::as_str) == Some("traces"))
            .map(|(_, v)| v)
            .sum()
    })
}

pub fn total(metrics: &HashMap<String, RecvMetric>, name: &str) -> f64 {
    metrics
        .get(name)
        .map_or(0.0, |m| m.points().iter().map(|(_, v)| v).sum())
}

/// What one request of a burst got: status and, when present, its `traceresponse` trace id.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// HTTP status, or 0 when the request failed at the transport level.
    pub status: u16,
    /// Trace id from `traceresponse`.
    pub trace_id: Option<String>,
}

/// Sends `total` GETs over `concurrency` keep-alive connections (one client each), the i-th
/// to `url(i)`; returns every outcome in request order.
pub async fn burst(
    total: usize,
    concurrency: usize,
    url: impl Fn(usize) -> String + Send + Sync + 'static,
) -> Vec<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(url);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, url) = (next.clone(), url.clone());
            tokio::spawn(async move {
                let http = crate::util::client();
                let mut got = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return got;
                    }
                    let outcome = match try_fetch(http.get(url(i))).await {
                        Ok(r) => Outcome {
                            status: r.status,
                            trace_id: r.header("traceresponse").map(|v| parse_context(v).trace_id),
                        },
                        Err(_) => Outcome {
                            status: 0,
                            trace_id: None,
                        },
                    };
                    got.push((i, outcome));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await.expect("a burst worker does not panic"));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, o)| o).collect()
}

/// Resident memory of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line in /proc/PID/status")
}
