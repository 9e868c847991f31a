//! Cost of one sampled request's span tree (SERVER + `cache lookup` + CLIENT, same attributes)
//! made three ways, each ending as OTLP protobuf bytes (what export needs) in a sink that drops
//! them, plus the whole per-request tracing cost:
//!
//! - `direct`: what the proxy does — `RequestTracer::finish`, encoding the spans straight to
//!   OTLP bytes from the request record (the export task only concatenates them);
//! - `sdk_tracer`: the OpenTelemetry SDK tracer API (`SpanBuilder` with explicit times, then
//!   `end_with_timestamp`), parent contexts passed explicitly; each finished `SpanData`
//!   converted by opentelemetry-proto and encoded by prost, as an OTLP exporter does;
//! - `bridge`: `tracing` spans through `tracing-opentelemetry` (the trial's approach), the
//!   CLIENT span's context read back for the upstream `traceparent`; encoded the same way;
//! - `request_path_sampled` / `request_path_unsampled`: everything the proxy calls per request
//!   (`start`, `client_span`, `traceresponse`, `finish`).
//!
//! Run: `cargo bench --bench otel_spans` (release), or `--profile dev` on a shared machine.
//! Whole-proxy figures (instructions per request, export thread included) come from
//! `benches/instructions.sh`; see the README's "Telemetry".
//!
//! Figures — 2-core AMD EPYC VM shared with other builds, release profile, criterion medians
//! (each span tree: SERVER, `cache lookup`, one CLIENT):
//!
//! | variant                  | time / request |
//! |--------------------------|----------------|
//! | direct                   | 0.31 µs        |
//! | sdk_tracer               | 2.72 µs        |
//! | bridge                   | 8.41 µs        |
//! | request_path_sampled     | 0.44 µs        |
//! | request_path_unsampled   | 0.16 µs        |
//!
//! So the request path encodes OTLP bytes directly (9× cheaper than the SDK tracer plus the
//! exporter's conversion, 27× cheaper than the bridge); the bridge only carries the project's
//! own `tracing` spans.

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use pingora_http::RequestHeader;
use sightline::telemetry::otel::{EncodedSpans, SpanSink};
use sightline::telemetry::trace::{RequestTracer, TracerOptions};
use sightline::telemetry::{CacheOutcome, RequestRecord, UpstreamAttempt};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Counts and drops spans: every variant pays the same (nothing) for export.
#[derive(Debug, Default)]
struct Discard(AtomicU64);

impl SpanSink for Discard {
    fn accept(&self, spans: EncodedSpans) {
        self.0.fetch_add(spans.span_count() as u64, Relaxed);
        drop(black_box(spans));
    }
}

impl SpanProcessor for Discard {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.fetch_add(1, Relaxed);
        // What an OTLP exporter does with each span before sending it.
        let proto = opentelemetry_proto::tonic::trace::v1::Span::from(span);
        drop(black_box(prost::Message::encode_to_vec(&proto)));
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn upstream() -> SocketAddr {
    "127.0.0.1:9001".parse().unwrap()
}

fn request() -> RequestHeader {
    let mut r = RequestHeader::build("GET", b"/api/items/7", None).unwrap();
    r.append_header("host", "proxy.test:8080").unwrap();
    r.append_header("user-agent", "bench/1.0").unwrap();
    r
}

fn direct(c: &mut Criterion, name: &str, ratio: f64, whole_path: bool) {
    let sink = Arc::new(Discard::default());
    let opts = TracerOptions {
        sample_ratio: ratio,
        trace_response_header: true,
        upstreams: vec![upstream()],
    };
    let tracer = RequestTracer::new(sink.clone(), opts);
    let req = request();
    let method = http::Method::GET;
    let fixed = tracer.start(&req);
    let fixed_id = tracer.client_span(&fixed).unwrap().0;
    c.bench_function(name, |b| {
        b.iter(|| {
            let t0 = Instant::now();
            let (state, id) = if whole_path {
                let state = tracer.start(black_box(&req));
                let (id, traceparent) = tracer.client_span(&state).unwrap();
                black_box(traceparent);
                black_box(tracer.traceresponse(&state));
                (state, id)
            } else {
                (fixed.clone(), fixed_id)
            };
            let attempts = [UpstreamAttempt {
                upstream: 0,
                addr: upstream(),
                start: t0,
                end: Some(t0),
                status: Some(200),
                failed: false,
                span_id: id,
            }];
            let rec = RequestRecord {
                start: t0,
                start_time: SystemTime::now(),
                duration: Duration::from_micros(500),
                method: &method,
                path: "/api/items/7",
                host: Some("proxy.test:8080"),
                client: Some(IpAddr::from([127, 0, 0, 1])),
                user_agent: Some("bench/1.0"),
                protocol_version: "1.1",
                scheme: "http",
                status: 200,
                cache: CacheOutcome::Miss,
                cache_lookup: Some((t0, t0)),
                attempts: &attempts,
                error: None,
                bytes_sent: 100,
                bytes_received: 0,
                trace_id: state.trace_id,
                span_id: state.span_id,
                sampled: state.sampled,
            };
            tracer.finish(&state, &rec);
        })
    });
    eprintln!("{name}: {} spans made", sink.0.load(Relaxed));
}

fn server_attrs() -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.path", "/api/items/7".to_string()),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("server.address", "proxy.test".to_string()),
        KeyValue::new("server.port", 8080),
        KeyValue::new("client.address", "127.0.0.1".to_string()),
        KeyValue::new("user_agent.original", "bench/1.0".to_string()),
        KeyValue::new("network.protocol.version", "1.1"),
        KeyValue::new("sightline.cache.status", "miss"),
    ]
}

fn sdk_tracer(c: &mut Criterion) {
    let sink = Arc::new(Discard::default());
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SharedSink(sink.clone()))
        .build();
    let tracer = provider.tracer("bench");
    c.bench_function("sdk_tracer", |b| {
        b.iter(|| {
            let now = SystemTime::now();
            let mut server = tracer
                .span_builder("GET")
                .with_kind(SpanKind::Server)
                .with_start_time(now)
                .with_attributes(server_attrs())
                .start(&tracer);
            server.set_attribute(KeyValue::new("http.response.status_code", 200));
            server.set_attribute(KeyValue::new(
                "sightline.upstream",
                "127.0.0.1:9001".to_string(),
            ));
            let cx = Context::current().with_span(server);
            let mut lookup = tracer
                .span_builder("cache lookup")
                .with_kind(SpanKind::Internal)
                .with_start_time(now)
                .with_attributes(vec![KeyValue::new("sightline.cache.status", "miss")])
                .start_with_context(&tracer, &cx);
            lookup.end_with_timestamp(now);
            let mut client = tracer
                .span_builder("GET")
                .with_kind(SpanKind::Client)
                .with_start_time(now)
                .with_attributes(vec![
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("server.address", "127.0.0.1".to_string()),
                    KeyValue::new("server.port", 9001),
                    KeyValue::new("http.response.status_code", 200),
                ])
                .start_with_context(&tracer, &cx);
            black_box(client.span_context().span_id());
            client.set_status(Status::Unset);
            client.end_with_timestamp(now);
            cx.span().end_with_timestamp(now);
        })
    });
    eprintln!("sdk_tracer: {} spans made", sink.0.load(Relaxed));
}

fn bridge(c: &mut Criterion) {
    let sink = Arc::new(Discard::default());
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SharedSink(sink.clone()))
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let subscriber = tracing_subscriber::registry().with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    c.bench_function("bridge", |b| {
        b.iter(|| {
            let server = tracing::info_span!(
                "request",
                otel.name = "GET",
                otel.kind = "server",
                http.request.method = "GET",
                url.path = "/api/items/7",
                url.scheme = "http",
                server.address = "proxy.test",
                server.port = 8080,
                client.address = "127.0.0.1",
                user_agent.original = "bench/1.0",
                network.protocol.version = "1.1",
                sightline.cache.status = "miss",
                http.response.status_code = tracing::field::Empty,
                sightline.upstream = tracing::field::Empty,
            );
            let _in = server.enter();
            drop(tracing::info_span!(
                "cache lookup",
                sightline.cache.status = "miss"
            ));
            let client = tracing::info_span!(
                "GET",
                otel.kind = "client",
                http.request.method = "GET",
                server.address = "127.0.0.1",
                server.port = 9001,
                http.response.status_code = tracing::field::Empty,
            );
            // The proxy must read the CLIENT context to send it upstream.
            black_box(client.context().span().span_context().span_id());
            client.record("http.response.status_code", 200);
            drop(client);
            server.record("http.response.status_code", 200);
            server.record("sightline.upstream", "127.0.0.1:9001");
            drop(_in);
            drop(server);
        })
    });
    eprintln!("bridge: {} spans made", sink.0.load(Relaxed));
}

/// Lets the provider own a processor the bench still reads.
#[derive(Debug)]
struct SharedSink(Arc<Discard>);

impl SpanProcessor for SharedSink {
    fn on_start(&self, s: &mut Span, cx: &Context) {
        self.0.on_start(s, cx)
    }
    fn on_end(&self, span: SpanData) {
        self.0.on_end(span)
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn spans(c: &mut Criterion) {
    direct(c, "direct", 1.0, false);
    sdk_tracer(c);
    bridge(c);
    direct(c, "request_path_sampled", 1.0, true);
    direct(c, "request_path_unsampled", 0.0, true);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = spans
}
criterion_main!(benches);
