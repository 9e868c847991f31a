//! The encoder against the old `SpanData` path ([`super::reference`]): the same spans, field for
//! field, and the same export request byte for byte, for misses, retries, errors, hits,
//! continued traces and awkward strings; plus the label and error-type helpers.

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use opentelemetry::{KeyValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span as ProtoSpan};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use prost::Message;

use super::*;
use crate::telemetry::otel::otlp::{EncodedSpans, Envelope};
use crate::telemetry::record::CacheOutcome;

#[derive(Debug)]
struct Discard;

impl SpanSink for Discard {
    fn accept(&self, _: EncodedSpans) {}
}

fn addrs() -> Vec<SocketAddr> {
    vec![
        "127.0.0.1:9001".parse().unwrap(),
        "[2001:db8::7]:9443".parse().unwrap(),
    ]
}

/// A request as the proxy would record it; each case changes what it tests.
struct Case {
    t0: Instant,
    wall: SystemTime,
    method: http::Method,
    path: String,
    host: Option<String>,
    client: Option<IpAddr>,
    user_agent: Option<String>,
    status: u16,
    cache: CacheOutcome,
    lookup: bool,
    attempts: Vec<UpstreamAttempt>,
    error: Option<&'static str>,
    state: TraceState,
}

impl Case {
    fn new() -> Case {
        let mut state = TraceState::default();
        state.trace_id = [0x4b; 16];
        state.span_id = [0x51; 8];
        state.sampled = true;
        Case {
            t0: Instant::now(),
            wall: SystemTime::now(),
            method: http::Method::GET,
            path: "/api/items/7".into(),
            host: Some("proxy.test:8080".into()),
            client: Some(IpAddr::from([192, 0, 2, 7])),
            user_agent: Some("test/1.0".into()),
            status: 200,
            cache: CacheOutcome::Miss,
            lookup: true,
            attempts: vec![],
            error: None,
            state,
        }
    }

    /// Adds an upstream attempt; `id` zero: one the record lacks.
    fn attempt(mut self, upstream: usize, status: Option<u16>, id: u8) -> Case {
        let i = self.attempts.len() as u32;
        self.attempts.push(UpstreamAttempt {
            upstream,
            addr: addrs()[upstream],
            start: self.t0 + Duration::from_micros(300 + 1000 * u64::from(i)),
            end: Some(self.t0 + Duration::from_micros(900 + 1000 * u64::from(i))),
            status,
            failed: status.is_none(),
            span_id: [id; 8],
        });
        self
    }

    fn record(&self) -> RequestRecord<'_> {
        RequestRecord {
            start: self.t0,
            start_time: self.wall,
            duration: Duration::from_micros(1234 + 1000 * self.attempts.len() as u64),
            method: &self.method,
            path: &self.path,
            host: self.host.as_deref(),
            client: self.client,
            user_agent: self.user_agent.as_deref(),
            protocol_version: "1.1",
            status: self.status,
            cache: self.cache,
            cache_lookup: self.lookup.then(|| {
                (
                    self.t0 + Duration::from_micros(10),
                    self.t0 + Duration::from_micros(20),
                )
            }),
            attempts: &self.attempts,
            error: self.error,
            bytes_sent: 42,
            bytes_received: 0,
            trace_id: self.state.trace_id,
            span_id: self.state.span_id,
            sampled: true,
            scheme: "http",
        }
    }

    /// Encodes the case and checks it against the old path; returns the decoded spans.
    fn check(&self) -> Vec<ProtoSpan> {
        let recorder = SpanRecorder::new(Arc::new(Discard), &addrs());
        let rec = self.record();
        let mine = recorder.encode(&self.state, &rec);
        let spans = ScopeSpans::decode(mine.as_bytes())
            .expect("the encoding decodes")
            .spans;
        // The ids the encoder drew, for the reference to use.
        let mut random = Vec::new();
        let lookup = usize::from(self.lookup);
        if self.lookup {
            random.push(spans[0].span_id.clone().try_into().unwrap());
        }
        for (i, a) in self.attempts.iter().enumerate() {
            if a.span_id == [0; 8] {
                let id: [u8; 8] = spans[lookup + i].span_id.clone().try_into().unwrap();
                assert_ne!(id, [0; 8]);
                random.push(id);
            }
        }
        let old = reference::spans(
            &UpstreamLabels::new(&addrs()),
            &self.state,
            &rec,
            &mut random.into_iter(),
        );
        let want: Vec<ProtoSpan> = old.iter().cloned().map(ProtoSpan::from).collect();
        assert_eq!(spans, want);
        assert_eq!(mine.span_count(), want.len());
        assert_eq!(mine.trace_id(), self.state.trace_id);
        assert!(
            mine.as_bytes().len() <= capacity_hint(&rec, "") + want.len() * 64,
            "the buffer had to grow: {} bytes",
            mine.as_bytes().len()
        );

        // Inside the envelope: what the old exporter sent for these spans, byte for byte.
        let resource = Resource::builder_empty()
            .with_service_name("sightline")
            .with_attribute(KeyValue::new("host.name", "h"))
            .build();
        let envelope = Envelope::new(&resource, &crate::telemetry::otel::scope());
        let sent = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                old,
                &ResourceAttributesWithSchema::from(&resource),
            ),
        }
        .encode_to_vec();
        assert_eq!(envelope.request(std::iter::once(&mine)), sent);
        spans
    }
}

fn attr<'a>(span: &'a ProtoSpan, key: &str) -> Option<&'a str> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

#[test]
fn a_miss_encodes_as_the_sdk_path_did() {
    let spans = Case::new().attempt(0, Some(200), 0xc1).check();
    assert_eq!(spans.len(), 3);
    assert_eq!(attr(&spans[2], "client.address"), Some("192.0.2.7"));
}

#[test]
fn a_retry_on_a_second_upstream_has_two_client_spans() {
    let spans = Case::new()
        .attempt(0, None, 0xc1)
        .attempt(1, Some(200), 0xc2)
        .check();
    assert_eq!(spans.len(), 4);
    assert_eq!(attr(&spans[1], "error.type"), Some("connect_error"));
    assert_eq!(attr(&spans[2], "server.address"), Some("2001:db8::7"));
}

#[test]
fn errors_and_their_statuses() {
    // Upstream 502: both spans are errors, with the code as error.type.
    let mut c = Case::new().attempt(0, Some(502), 0xc1);
    c.status = 502;
    let spans = c.check();
    assert_eq!(attr(&spans[1], "error.type"), Some("502"));
    // A 404 marks the CLIENT span only.
    let mut c = Case::new().attempt(0, Some(404), 0xc1);
    c.status = 404;
    c.check();
    // A timeout: the proxy's error type on both, and the SERVER status message.
    let mut c = Case::new().attempt(0, None, 0xc1);
    c.status = 504;
    c.error = Some("timeout");
    let spans = c.check();
    assert_eq!(spans[2].status.as_ref().unwrap().message, "timeout");
    // The client went away before any response; an attempt still unanswered.
    let mut c = Case::new().attempt(0, None, 0xc1);
    c.attempts[0].end = None;
    c.attempts[0].failed = false;
    c.status = 0;
    c.check();
    // A status outside 4xx/5xx tables still spells its code.
    let mut c = Case::new().attempt(0, Some(600), 0xc1);
    c.status = 600;
    c.check();
}

#[test]
fn a_hit_has_no_client_span() {
    let mut c = Case::new();
    c.cache = CacheOutcome::Hit;
    assert_eq!(c.check().len(), 2);
    // A local answer without a lookup: the SERVER span alone.
    let mut c = Case::new();
    c.lookup = false;
    c.cache = CacheOutcome::Bypass;
    c.status = 421;
    assert_eq!(c.check().len(), 1);
}

#[test]
fn a_continued_trace_keeps_its_remote_parent_and_tracestate() {
    let mut c = Case::new().attempt(0, Some(201), 0xc1);
    c.method = http::Method::POST;
    c.state.parent_span_id = Some([0xb7; 8]);
    c.state.tracestate = Some(HeaderValue::from_static("k=v,vendor=a-b"));
    let spans = c.check();
    assert!(spans.iter().all(|s| s.trace_state == "k=v,vendor=a-b"));
    assert_eq!(spans[2].flags, 0x301, "sampled, parent known remote");
    // An invalid tracestate is dropped, as the SDK's parser did.
    c.state.tracestate = Some(HeaderValue::from_static("not a list"));
    assert!(c.check().iter().all(|s| s.trace_state.is_empty()));
}

#[test]
fn long_and_non_ascii_strings_and_other_addresses() {
    let mut c = Case::new().attempt(1, Some(200), 0);
    c.path = format!("/ünïcødé/{}", "p".repeat(20_000));
    c.host = Some("[::1]:8443".into());
    c.client = Some(IpAddr::from(Ipv6Addr::LOCALHOST));
    c.user_agent = Some("agent ✓".repeat(40));
    let spans = c.check();
    assert_eq!(attr(&spans[2], "url.path"), Some(c.path.as_str()));
    // No host, no client address, no user agent, an unknown method and an upstream the
    // table does not know.
    let mut c = Case::new().attempt(0, Some(200), 0xc1);
    c.attempts[0].addr = "10.1.2.3:80".parse().unwrap();
    c.method = http::Method::from_bytes(b"PURGE").unwrap();
    c.host = None;
    c.client = None;
    c.user_agent = None;
    let spans = c.check();
    assert_eq!(spans[2].name, "HTTP");
    assert_eq!(attr(&spans[1], "server.address"), Some("10.1.2.3"));
    // Every IPv4 digit count.
    for ip in [[0, 0, 0, 0], [9, 10, 99, 100], [255, 255, 255, 255]] {
        let mut c = Case::new();
        c.client = Some(IpAddr::from(ip));
        c.check();
    }
}

#[test]
fn every_pre_encoded_value_matches_the_field_by_field_encoding() {
    let methods = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PURGE",
    ];
    for m in methods {
        let mut c = Case::new().attempt(0, Some(200), 0xc1);
        c.method = http::Method::from_bytes(m.as_bytes()).unwrap();
        c.check();
    }
    for cache in [
        CacheOutcome::Hit,
        CacheOutcome::Miss,
        CacheOutcome::Stale,
        CacheOutcome::Bypass,
    ] {
        let mut c = Case::new();
        c.cache = cache;
        c.check();
    }
    for (scheme, version) in [("https", "2"), ("http", "1.0"), ("h3", "3")] {
        let recorder = SpanRecorder::new(Arc::new(Discard), &addrs());
        let c = Case::new();
        let mut rec = c.record();
        rec.scheme = scheme;
        rec.protocol_version = version;
        let spans = ScopeSpans::decode(recorder.encode(&c.state, &rec).as_bytes())
            .unwrap()
            .spans;
        let server = spans.last().unwrap();
        assert_eq!(attr(server, "url.scheme"), Some(scheme));
        assert_eq!(attr(server, "network.protocol.version"), Some(version));
    }
}

#[test]
fn record_hands_the_encoding_to_the_sink() {
    #[derive(Debug, Default)]
    struct Keep(std::sync::Mutex<Vec<EncodedSpans>>);
    impl SpanSink for Keep {
        fn accept(&self, s: EncodedSpans) {
            self.0.lock().unwrap().push(s);
        }
    }
    let keep = Arc::new(Keep::default());
    let recorder = SpanRecorder::new(keep.clone(), &addrs());
    let c = Case::new().attempt(0, Some(200), 0xc1);
    recorder.record(&c.state, &c.record());
    let got = keep.0.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].trace_id(), got[0].span_count()),
        (c.state.trace_id, 3)
    );
    let names: Vec<String> = ScopeSpans::decode(got[0].as_bytes())
        .unwrap()
        .spans
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["cache lookup", "GET", "GET"]);
}

#[test]
fn host_and_port_split() {
    assert_eq!(split_host_port("example.com"), ("example.com", None));
    assert_eq!(
        split_host_port("example.com:8080"),
        ("example.com", Some(8080))
    );
    assert_eq!(split_host_port("[::1]:8080"), ("::1", Some(8080)));
    assert_eq!(split_host_port("[::1]"), ("::1", None));
    assert_eq!(split_host_port("::1"), ("::1", None));
    assert_eq!(
        split_host_port("example.com:http"),
        ("example.com:http", None)
    );
}

#[test]
fn error_types_of_statuses_are_their_codes() {
    for code in [400u16, 404, 499, 500, 503, 599, 600, 302] {
        assert_eq!(status_error_type(code), Value::from(code.to_string()));
    }
}

#[test]
fn unknown_methods_are_other() {
    assert_eq!(method_str(&http::Method::GET), "GET");
    assert_eq!(
        method_str(&http::Method::from_bytes(b"PURGE").unwrap()),
        "_OTHER"
    );
}

#[test]
fn labels_fall_back_for_unknown_upstreams() {
    let a: SocketAddr = "127.0.0.1:9001".parse().unwrap();
    let labels = UpstreamLabels::new(&[a]);
    let attempt = |upstream, addr| UpstreamAttempt {
        upstream,
        addr,
        start: Instant::now(),
        end: None,
        status: None,
        failed: false,
        span_id: [0; 8],
    };
    assert!(matches!(labels.get(&attempt(0, a)), Cow::Borrowed(_)));
    let other: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let l = labels.get(&attempt(0, other));
    assert_eq!(
        (l.ip.as_str(), l.port, l.full.as_str()),
        ("10.0.0.1", 80, "10.0.0.1:80")
    );
}
