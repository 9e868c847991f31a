//! Builds a sampled request's span tree from its [`RequestRecord`], after the fact, with explicit
//! ids and timestamps, following the HTTP semantic conventions (spec §5):
//!
//! ```text
//! SERVER "{method}"            the whole request
//! ├── INTERNAL "cache lookup"  when a lookup happened
//! └── CLIENT "{method}"        one per upstream attempt; its id is the one sent upstream
//! ```
//!
//! The finished [`SpanData`] goes straight to a span processor (the export queue): no SDK span
//! objects, no sampler call, no `tracing` machinery — the measured cheapest way (see
//! `benches/otel_spans.rs`).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::{Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState as OtelTraceState,
};
use opentelemetry::{InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks, SpanProcessor};

use crate::telemetry::record::{RequestRecord, UpstreamAttempt};
use crate::telemetry::trace::{random_id, TraceState};

/// Strings for one upstream, made once so spans and metrics share them instead of formatting
/// the address per request.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamLabel {
    pub addr: SocketAddr,
    /// `server.address`: the IP.
    pub ip: StringValue,
    /// `server.port`.
    pub port: i64,
    /// `sightline.upstream`: `ip:port`.
    pub full: StringValue,
}

impl UpstreamLabel {
    /// Formats the strings of `addr` once.
    pub fn new(addr: SocketAddr) -> Self {
        UpstreamLabel {
            addr,
            ip: StringValue::from(Arc::<str>::from(addr.ip().to_string())),
            port: i64::from(addr.port()),
            full: StringValue::from(Arc::<str>::from(addr.to_string())),
        }
    }
}

/// Upstream labels by [`crate::telemetry::UpstreamId`].
#[derive(Debug, Clone, Default)]
pub(crate) struct UpstreamLabels(Arc<[UpstreamLabel]>);

impl UpstreamLabels {
    /// Labels for the configured upstreams, in `upstreams.servers` order.
    pub fn new(addrs: &[SocketAddr]) -> Self {
        UpstreamLabels(addrs.iter().map(|&a| UpstreamLabel::new(a)).collect())
    }

    /// The cached label, or a fresh one for an address the table does not know.
    pub fn get(&self, attempt: &UpstreamAttempt) -> Cow<'_, UpstreamLabel> {
        match self.0.get(attempt.upstream) {
            Some(l) if l.addr == attempt.addr => Cow::Borrowed(l),
            _ => Cow::Owned(UpstreamLabel::new(attempt.addr)),
        }
    }
}

/// The semconv method value: known methods as static strings, anything else `_OTHER`.
pub(crate) fn method_str(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::TRACE => "TRACE",
        http::Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// Splits a `Host` value into host and port (`[::1]:8080`, `example.com:80`, `example.com`).
pub(crate) fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((h, after)) = rest.split_once(']') {
            return (h, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
        return (host, None);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (host, None),
        },
        _ => (host, None),
    }
}

const fn k(name: &'static str) -> Key {
    Key::from_static_str(name)
}

fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
    KeyValue::new(k(key), value)
}

/// `error.type` for an error status: the code as text (semconv). 4xx and 5xx are made once
/// and shared, so an error response costs a reference count, not an allocation.
pub(crate) fn status_error_type(status: u16) -> Value {
    static CODES: LazyLock<Vec<StringValue>> = LazyLock::new(|| {
        (400u16..600)
            .map(|c| StringValue::from(Arc::<str>::from(c.to_string())))
            .collect()
    });
    let shared = status
        .checked_sub(400)
        .and_then(|i| CODES.get(usize::from(i)));
    match shared {
        Some(s) => Value::String(s.clone()),
        None => Value::String(StringValue::from(status.to_string())),
    }
}

/// `error.type` of one upstream attempt, or None when it succeeded (semconv: a CLIENT request
/// is an error on 4xx and 5xx as well as on a failure without a response).
pub(crate) fn attempt_error_type(
    rec: &RequestRecord<'_>,
    a: &UpstreamAttempt,
    is_last: bool,
) -> Option<Value> {
    match (a.failed, a.status) {
        // Earlier attempts are only retried after a connect failure (spec §3).
        (true, _) if !is_last => Some(Value::from("connect_error")),
        (true, _) => Some(Value::from(rec.error.unwrap_or("_OTHER"))),
        (false, Some(s)) if s >= 400 => Some(status_error_type(s)),
        _ => None,
    }
}

/// `error.type` of the request as a whole, or None when it succeeded: the proxy's own error
/// type, else the status code of a 5xx, else `_OTHER` when no response was sent at all.
pub(crate) fn request_error_type(rec: &RequestRecord<'_>) -> Option<Value> {
    match (rec.error, rec.status) {
        (Some(e), _) => Some(Value::from(e)),
        (None, s) if s >= 500 => Some(status_error_type(s)),
        (None, 0) => Some(Value::from("_OTHER")),
        _ => None,
    }
}

/// Turns records into spans and hands them to the export queue.
#[derive(Debug)]
pub(crate) struct SpanRecorder {
    sink: Arc<dyn SpanProcessor>,
    scope: InstrumentationScope,
    upstreams: UpstreamLabels,
}

impl SpanRecorder {
    /// A recorder handing spans to `sink`, labelling attempts with `upstreams`' strings.
    pub fn new(sink: Arc<dyn SpanProcessor>, upstreams: &[SocketAddr]) -> Self {
        SpanRecorder {
            sink,
            scope: super::scope(),
            upstreams: UpstreamLabels::new(upstreams),
        }
    }

    fn emit(&self, ctx: &Ctx<'_>, s: Spec) {
        self.sink.on_end(SpanData {
            span_context: SpanContext::new(
                ctx.trace_id,
                SpanId::from_bytes(s.id),
                TraceFlags::SAMPLED,
                false,
                ctx.tracestate.clone(),
            ),
            parent_span_id: SpanId::from_bytes(s.parent),
            parent_span_is_remote: s.parent_remote,
            span_kind: s.kind,
            name: Cow::Borrowed(s.name),
            start_time: s.start,
            end_time: s.end,
            attributes: s.attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: s.status,
            instrumentation_scope: self.scope.clone(),
        });
    }

    /// Emits the span tree of one sampled request.
    pub fn record(&self, state: &TraceState, rec: &RequestRecord<'_>) {
        let tracestate = state
            .tracestate
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|s| OtelTraceState::from_str(s).ok())
            .unwrap_or_default();
        let ctx = Ctx {
            rec,
            trace_id: TraceId::from_bytes(state.trace_id),
            tracestate,
        };
        let method = method_str(rec.method);
        let end = ctx.at(rec.start + rec.duration);
        let child = |id, kind, name, start, end, attributes, status| Spec {
            id,
            parent: state.span_id,
            parent_remote: false,
            kind,
            name,
            start,
            end,
            attributes,
            status,
        };

        if let Some((from, to)) = rec.cache_lookup {
            let attrs = vec![kv("sightline.cache.status", rec.cache.as_str())];
            let (kind, start, end) = (SpanKind::Internal, ctx.at(from), ctx.at(to));
            let spec = child(
                random_id(),
                kind,
                "cache lookup",
                start,
                end,
                attrs,
                Status::Unset,
            );
            self.emit(&ctx, spec);
        }

        let last = rec.attempts.len().saturating_sub(1);
        for (i, a) in rec.attempts.iter().enumerate() {
            let (attrs, status) = self.client_attributes(rec, a, i, i == last, method);
            // The id the upstream saw as its parent; a record without one still gets a span.
            let id = if a.span_id == [0; 8] {
                random_id()
            } else {
                a.span_id
            };
            let (start, stop) = (ctx.at(a.start), a.end.map_or(end, |e| ctx.at(e)));
            self.emit(
                &ctx,
                child(id, SpanKind::Client, method, start, stop, attrs, status),
            );
        }

        let status = if rec.status >= 500 || rec.status == 0 {
            Status::error(rec.error.unwrap_or(""))
        } else {
            Status::Unset
        };
        let spec = Spec {
            id: state.span_id,
            parent: state.parent_span_id.unwrap_or([0; 8]),
            parent_remote: state.parent_span_id.is_some(),
            kind: SpanKind::Server,
            // Semconv: an unknown method names the span "HTTP"; never the raw path.
            name: if method == "_OTHER" { "HTTP" } else { method },
            start: rec.start_time,
            end,
            attributes: self.server_attributes(rec, method),
            status,
        };
        self.emit(&ctx, spec);
    }

    fn client_attributes(
        &self,
        rec: &RequestRecord<'_>,
        a: &UpstreamAttempt,
        index: usize,
        is_last: bool,
        method: &'static str,
    ) -> (Vec<KeyValue>, Status) {
        let label = self.upstreams.get(a);
        let mut attrs = Vec::with_capacity(6);
        attrs.push(kv("http.request.method", method));
        attrs.push(kv("server.address", label.ip.clone()));
        attrs.push(kv("server.port", label.port));
        if let Some(s) = a.status {
            attrs.push(kv("http.response.status_code", i64::from(s)));
        }
        if index > 0 {
            attrs.push(kv("http.request.resend_count", index as i64));
        }
        match attempt_error_type(rec, a, is_last) {
            Some(e) => {
                attrs.push(KeyValue::new(k("error.type"), e));
                (attrs, Status::error(""))
            }
            None => (attrs, Status::Unset),
        }
    }

    fn server_attributes(&self, rec: &RequestRecord<'_>, method: &'static str) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(14);
        attrs.push(kv("http.request.method", method));
        if method == "_OTHER" {
            attrs.push(kv(
                "http.request.method_original",
                rec.method.as_str().to_owned(),
            ));
        }
        attrs.push(kv("url.path", rec.path.to_owned()));
        attrs.push(kv("url.scheme", rec.scheme));
        if let Some(host) = rec.host {
            let (name, port) = split_host_port(host);
            attrs.push(kv("server.address", name.to_owned()));
            if let Some(p) = port {
                attrs.push(kv("server.port", i64::from(p)));
            }
        }
        if let Some(ip) = rec.client {
            attrs.push(kv("client.address", ip.to_string()));
        }
        if let Some(ua) = rec.user_agent {
            attrs.push(kv("user_agent.original", ua.to_owned()));
        }
        if rec.status != 0 {
            attrs.push(kv("http.response.status_code", i64::from(rec.status)));
        }
        attrs.push(kv("network.protocol.version", rec.protocol_version));
        if let Some(e) = request_error_type(rec) {
            attrs.push(KeyValue::new(k("error.type"), e));
        }
        attrs.push(kv("sightline.cache.status", rec.cache.as_str()));
        if let Some(a) = rec.upstream() {
            attrs.push(kv("sightline.upstream", self.upstreams.get(a).full.clone()));
        }
        attrs
    }
}

/// What every span of one request shares.
struct Ctx<'a> {
    rec: &'a RequestRecord<'a>,
    trace_id: TraceId,
    tracestate: OtelTraceState,
}

/// One span to emit.
struct Spec {
    id: [u8; 8],
    parent: [u8; 8],
    parent_remote: bool,
    kind: SpanKind,
    name: &'static str,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<KeyValue>,
    status: Status,
}

impl Ctx<'_> {
    /// Wall-clock time of a monotonic instant of this request.
    fn at(&self, i: Instant) -> SystemTime {
        self.rec.start_time + i.saturating_duration_since(self.rec.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
