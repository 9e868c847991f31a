//! The span tree of fabricated requests, as the collector receives it.

use std::time::{Duration, UNIX_EPOCH};

use http::Method;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use sightline::telemetry::CacheOutcome;

use super::{miss, ms, Fake, Fixture};
use crate::otlp_receiver::RecvSpan;

const WAIT: Duration = Duration::from_secs(10);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn nanos(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// The spans of one trace, once `n` of them arrived.
fn trace(fx: &Fixture, trace_id: [u8; 16], n: usize) -> Vec<RecvSpan> {
    fx.flush();
    let of_trace = |s: &[RecvSpan]| -> Vec<RecvSpan> {
        s.iter()
            .filter(|s| s.span.trace_id == trace_id)
            .cloned()
            .collect()
    };
    let spans = fx.receiver().wait_spans(WAIT, |s| of_trace(s).len() >= n);
    let spans = of_trace(&spans);
    assert_eq!(spans.len(), n, "spans of the trace: {spans:#?}");
    spans
}

fn by_kind(spans: &[RecvSpan], kind: SpanKind) -> Vec<&RecvSpan> {
    spans
        .iter()
        .filter(|s| s.span.kind == kind as i32)
        .collect()
}

fn status(s: &RecvSpan) -> i32 {
    s.span.status.as_ref().map_or(0, |st| st.code)
}

#[test]
fn cache_miss_has_server_lookup_and_client_spans() {
    let fx = Fixture::grpc(1.0);
    let mut f = Fake::start(&fx.tracer, Method::GET, &[]);
    let client_id = f.attempt(&fx.tracer, 0, Some(200));
    f.finish(&fx.tracer);
    let spans = trace(&fx, f.state.trace_id, 3);

    let server = by_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.span.name, "GET");
    assert_eq!(server.span.span_id, f.state.span_id);
    assert!(
        server.span.parent_span_id.is_empty(),
        "a new trace has a root server span"
    );
    let a = &server.attrs;
    let expect = [
        ("http.request.method", "GET"),
        ("url.path", "/api/items/7"),
        ("url.scheme", "http"),
        ("server.address", "proxy.test"),
        ("server.port", "8080"),
        ("client.address", "192.0.2.7"),
        ("user_agent.original", "otel-test/1.0"),
        ("http.response.status_code", "200"),
        ("network.protocol.version", "1.1"),
        ("sightline.cache.status", "miss"),
        ("sightline.upstream", "127.0.0.1:9001"),
    ];
    for (k, v) in expect {
        assert_eq!(a.get(k).map(String::as_str), Some(v), "{k} in {a:?}");
    }
    assert!(!a.contains_key("error.type"));
    assert_eq!(status(server), StatusCode::Unset as i32);
    assert_eq!(server.span.start_time_unix_nano, nanos(f.wall));
    assert_eq!(server.span.end_time_unix_nano, nanos(f.wall + f.duration()));

    let lookup = by_kind(&spans, SpanKind::Internal)[0];
    assert_eq!(lookup.span.name, "cache lookup");
    assert_eq!(lookup.span.parent_span_id, f.state.span_id);
    assert_eq!(lookup.span.start_time_unix_nano, nanos(f.wall + ms(1)));
    assert_eq!(lookup.span.end_time_unix_nano, nanos(f.wall + ms(2)));

    let client = by_kind(&spans, SpanKind::Client)[0];
    assert_eq!(client.span.name, "GET");
    assert_eq!(
        client.span.span_id, client_id,
        "the CLIENT span is the context sent upstream"
    );
    assert_eq!(client.span.parent_span_id, f.state.span_id);
    assert_eq!(client.attrs["server.address"], "127.0.0.1");
    assert_eq!(client.attrs["server.port"], "9001");
    assert_eq!(client.attrs["http.response.status_code"], "200");
    assert!(!client.attrs.contains_key("http.request.resend_count"));
    assert_eq!(client.span.start_time_unix_nano, nanos(f.wall + ms(3)));
    assert_eq!(client.span.end_time_unix_nano, nanos(f.wall + ms(10)));

    for s in &spans {
        assert_eq!(s.scope, "sightline");
        assert_eq!(s.resource["service.name"], "sightline");
        assert_eq!(s.resource["service.version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(s.resource["service.instance.id"].len(), 36);
        assert!(!s.resource["host.name"].is_empty());
        assert_eq!(s.resource["deployment.environment.name"], "test");
    }
}

#[test]
fn retried_request_has_one_client_span_per_attempt() {
    let fx = Fixture::grpc(1.0);
    let mut f = Fake::start(&fx.tracer, Method::GET, &[]);
    let first = f.attempt(&fx.tracer, 0, None);
    let second = f.attempt(&fx.tracer, 1, Some(200));
    f.finish(&fx.tracer);
    let spans = trace(&fx, f.state.trace_id, 4);
    let clients = by_kind(&spans, SpanKind::Client);
    let get = |id: [u8; 8]| *clients.iter().find(|s| s.span.span_id == id).unwrap();

    let (a, b) = (get(first), get(second));
    assert_eq!(a.attrs["error.type"], "connect_error");
    assert_eq!(status(a), StatusCode::Error as i32);
    assert!(!a.attrs.contains_key("http.response.status_code"));
    assert!(!a.attrs.contains_key("http.request.resend_count"));
    assert_eq!(b.attrs["http.request.resend_count"], "1");
    assert_eq!(b.attrs["server.port"], "9002");
    assert_eq!(status(b), StatusCode::Unset as i32);
    let server = by_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.attrs["sightline.upstream"], "127.0.0.1:9002");
}

#[test]
fn cache_hit_has_no_client_span() {
    let fx = Fixture::grpc(1.0);
    let mut f = Fake::start(&fx.tracer, Method::GET, &[]);
    f.cache = CacheOutcome::Hit;
    f.finish(&fx.tracer);
    let spans = trace(&fx, f.state.trace_id, 2);
    assert!(by_kind(&spans, SpanKind::Client).is_empty());
    let server = by_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.attrs["sightline.cache.status"], "hit");
    assert!(!server.attrs.contains_key("sightline.upstream"));
    assert_eq!(by_kind(&spans, SpanKind::Internal).len(), 1);
}

#[test]
fn continues_the_trace_a_client_sent() {
    let fx = Fixture::grpc(0.0);
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut f = Fake::start(
        &fx.tracer,
        Method::POST,
        &[("traceparent", tp), ("tracestate", "k=v")],
    );
    f.lookup = false;
    f.cache = CacheOutcome::Bypass;
    let client_id = f.attempt(&fx.tracer, 0, Some(201));
    f.finish(&fx.tracer);
    assert!(
        f.state.sampled,
        "the caller sampled it, ratio 0 notwithstanding"
    );
    let spans = trace(&fx, f.state.trace_id, 2);
    assert_eq!(hex(&f.state.trace_id), "0af7651916cd43dd8448eb211c80319c");

    let server = by_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.span.name, "POST");
    assert_eq!(hex(&server.span.parent_span_id), "b7ad6b7169203331");
    assert_eq!(server.span.trace_state, "k=v");
    let client = by_kind(&spans, SpanKind::Client)[0];
    assert_eq!(client.span.span_id, client_id);
    assert!(
        by_kind(&spans, SpanKind::Internal).is_empty(),
        "no lookup, no lookup span"
    );

    let tr = fx.tracer.traceresponse(&f.state).unwrap();
    let want = format!(
        "00-{}-{}-01",
        hex(&f.state.trace_id),
        hex(&server.span.span_id)
    );
    assert_eq!(tr.to_str().unwrap(), want);
}

#[test]
fn error_statuses_follow_semantic_conventions() {
    let fx = Fixture::grpc(1.0);
    // Upstream 502 → both spans are errors.
    let mut bad = Fake::start(&fx.tracer, Method::GET, &[]);
    bad.attempt(&fx.tracer, 0, Some(502));
    bad.status = 502;
    bad.finish(&fx.tracer);
    // Upstream 404 → the CLIENT span is an error, the SERVER span is not.
    let mut missing = Fake::start(&fx.tracer, Method::GET, &[]);
    missing.attempt(&fx.tracer, 0, Some(404));
    missing.status = 404;
    missing.finish(&fx.tracer);
    // Upstream timeout → 504 with the proxy's error type.
    let mut slow = Fake::start(&fx.tracer, Method::GET, &[]);
    slow.attempt(&fx.tracer, 0, None);
    slow.status = 504;
    slow.error = Some("timeout");
    slow.finish(&fx.tracer);

    let spans = trace(&fx, bad.state.trace_id, 3);
    let (s, c) = (
        by_kind(&spans, SpanKind::Server)[0],
        by_kind(&spans, SpanKind::Client)[0],
    );
    assert_eq!(
        (status(s), status(c)),
        (StatusCode::Error as i32, StatusCode::Error as i32)
    );
    assert_eq!(
        (
            s.attrs["error.type"].as_str(),
            c.attrs["error.type"].as_str()
        ),
        ("502", "502")
    );

    let spans = trace(&fx, missing.state.trace_id, 3);
    let (s, c) = (
        by_kind(&spans, SpanKind::Server)[0],
        by_kind(&spans, SpanKind::Client)[0],
    );
    assert_eq!(
        (status(s), status(c)),
        (StatusCode::Unset as i32, StatusCode::Error as i32)
    );
    assert!(!s.attrs.contains_key("error.type"));
    assert_eq!(c.attrs["error.type"], "404");

    let spans = trace(&fx, slow.state.trace_id, 3);
    let (s, c) = (
        by_kind(&spans, SpanKind::Server)[0],
        by_kind(&spans, SpanKind::Client)[0],
    );
    assert_eq!(s.attrs["error.type"], "timeout");
    assert_eq!(c.attrs["error.type"], "timeout");
    assert_eq!(s.span.status.as_ref().unwrap().message, "timeout");
}

#[test]
fn unsampled_requests_build_nothing() {
    let fx = Fixture::grpc(0.0);
    let tp_unsampled = "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    for _ in 0..50 {
        miss(&fx.tracer).finish(&fx.tracer);
        let f = Fake::start(&fx.tracer, Method::GET, &[("traceparent", tp_unsampled)]);
        assert!(!f.state.sampled);
        f.finish(&fx.tracer);
    }
    // A sampled marker request: once it is in, everything before it would be too.
    let tp = "00-2af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let marker = Fake::start(&fx.tracer, Method::GET, &[("traceparent", tp)]);
    marker.finish(&fx.tracer);
    trace(&fx, marker.state.trace_id, 2);
    assert_eq!(
        fx.receiver().spans().len(),
        2,
        "only the marker's spans were exported"
    );
}

#[test]
fn unknown_methods_never_name_spans_after_the_path() {
    let fx = Fixture::grpc(1.0);
    let method = Method::from_bytes(b"PURGE").unwrap();
    let mut f = Fake::start(&fx.tracer, method, &[]);
    f.attempt(&fx.tracer, 0, Some(200));
    f.finish(&fx.tracer);
    let spans = trace(&fx, f.state.trace_id, 3);
    let server = by_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.span.name, "HTTP");
    assert_eq!(server.attrs["http.request.method"], "_OTHER");
    assert_eq!(server.attrs["http.request.method_original"], "PURGE");
    assert!(spans.iter().all(|s| !s.span.name.contains('/')));
}
