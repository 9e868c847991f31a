//! Encodes a sampled request's span tree from its [`RequestRecord`], after the fact, with
//! explicit ids and timestamps, following the HTTP semantic conventions (spec §5):
//!
//! ```text
//! SERVER "{method}"            the whole request
//! ├── INTERNAL "cache lookup"  when a lookup happened
//! └── CLIENT "{method}"        one per upstream attempt; its id is the one sent upstream
//! ```
//!
//! The spans are written straight to OTLP protobuf bytes ([`super::otlp`]) in one buffer per
//! request and handed to a [`SpanSink`] (the export queue): no SDK span objects, no `SpanData`,
//! no attribute strings — the measured cheapest way (see `benches/otel_spans.rs`).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::trace::TraceState as OtelTraceState;
use opentelemetry::StringValue;

use super::error_type::{attempt_error, request_error};
#[cfg(test)]
pub(crate) use super::error_type::{attempt_error_type, request_error_type, status_error_type};
use super::otlp::{attr_block, attr_key, Kind, SpanHead, SpanWriter, Status, TraceWriter};
use super::queue::SpanSink;
use crate::telemetry::clock::unix_nanos;
use crate::telemetry::record::{CacheOutcome, RequestRecord, UpstreamAttempt};
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

/// `http.request.method` as a whole encoded attribute (the value of [`method_str`]).
fn method_attr(m: &http::Method) -> &'static [u8] {
    match *m {
        http::Method::GET => attr_block!("http.request.method", "GET"),
        http::Method::HEAD => attr_block!("http.request.method", "HEAD"),
        http::Method::POST => attr_block!("http.request.method", "POST"),
        http::Method::PUT => attr_block!("http.request.method", "PUT"),
        http::Method::DELETE => attr_block!("http.request.method", "DELETE"),
        http::Method::PATCH => attr_block!("http.request.method", "PATCH"),
        http::Method::OPTIONS => attr_block!("http.request.method", "OPTIONS"),
        http::Method::TRACE => attr_block!("http.request.method", "TRACE"),
        http::Method::CONNECT => attr_block!("http.request.method", "CONNECT"),
        _ => attr_block!("http.request.method", "_OTHER"),
    }
}

/// `sightline.cache.status` as a whole encoded attribute.
fn cache_attr(c: CacheOutcome) -> &'static [u8] {
    match c {
        CacheOutcome::Hit => attr_block!("sightline.cache.status", "hit"),
        CacheOutcome::Miss => attr_block!("sightline.cache.status", "miss"),
        CacheOutcome::Stale => attr_block!("sightline.cache.status", "stale"),
        CacheOutcome::Bypass => attr_block!("sightline.cache.status", "bypass"),
    }
}

/// `url.scheme`: the two values the proxy records are encoded once.
fn write_scheme(span: &mut SpanWriter<'_>, scheme: &str) {
    match scheme {
        "http" => span.block(attr_block!("url.scheme", "http")),
        "https" => span.block(attr_block!("url.scheme", "https")),
        other => span.str(attr_key!("url.scheme"), other),
    }
}

/// `network.protocol.version`: the values the proxy records are encoded once.
fn write_protocol(span: &mut SpanWriter<'_>, version: &str) {
    match version {
        "1.1" => span.block(attr_block!("network.protocol.version", "1.1")),
        "2" => span.block(attr_block!("network.protocol.version", "2")),
        "1.0" => span.block(attr_block!("network.protocol.version", "1.0")),
        other => span.str(attr_key!("network.protocol.version"), other),
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

/// Bytes to reserve for a request's spans, so the buffer seldom grows while it is written and
/// seldom holds much unused while it waits for export: the fixed parts, keys and short values
/// (measured: 441 bytes for SERVER + `cache lookup`, about 210 per CLIENT span), plus the
/// variable strings. IPv6 clients and error attributes may still grow it once.
fn capacity_hint(rec: &RequestRecord<'_>, trace_state: &str) -> usize {
    let strings = rec.path.len()
        + rec.host.map_or(0, str::len)
        + rec.user_agent.map_or(0, str::len)
        + rec.method.as_str().len();
    let spans = 2 + rec.attempts.len();
    480 + 240 * rec.attempts.len() + strings + spans * trace_state.len()
}

/// Unix nanoseconds of the request's monotonic instants, anchored at its wall-clock start.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    start_nanos: u64,
}

impl Clock {
    fn new(rec: &RequestRecord<'_>) -> Self {
        Clock {
            start: rec.start,
            start_nanos: unix_nanos(rec.start_time),
        }
    }

    fn at(&self, i: Instant) -> u64 {
        self.start_nanos + i.saturating_duration_since(self.start).as_nanos() as u64
    }
}

/// Turns records into encoded spans and hands them to the export queue.
#[derive(Debug)]
pub(crate) struct SpanRecorder {
    sink: Arc<dyn SpanSink>,
    upstreams: UpstreamLabels,
}

impl SpanRecorder {
    /// A recorder handing spans to `sink`, labelling attempts with `upstreams`' strings.
    pub fn new(sink: Arc<dyn SpanSink>, upstreams: &[SocketAddr]) -> Self {
        SpanRecorder {
            sink,
            upstreams: UpstreamLabels::new(upstreams),
        }
    }

    /// Encodes the span tree of one sampled request and queues it.
    pub fn record(&self, state: &TraceState, rec: &RequestRecord<'_>) {
        self.sink.accept(self.encode(state, rec));
    }

    /// The span tree of one sampled request: `cache lookup`, the CLIENT spans, then the SERVER
    /// span, each with the trace's `tracestate`.
    pub fn encode(&self, state: &TraceState, rec: &RequestRecord<'_>) -> super::otlp::EncodedSpans {
        // Re-serialised through the SDK's parser: an invalid list is dropped, as before.
        let trace_state = state
            .tracestate
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|s| OtelTraceState::from_str(s).ok())
            .map(|t| t.header())
            .unwrap_or_default();
        let mut out = TraceWriter::new(
            state.trace_id,
            &trace_state,
            capacity_hint(rec, &trace_state),
        );
        let clock = Clock::new(rec);
        let method = method_str(rec.method);
        let end = clock.at(rec.start + rec.duration);
        let child = |span_id, kind, name, start, end| SpanHead {
            span_id,
            parent: Some(state.span_id),
            parent_remote: false,
            name,
            kind,
            start,
            end,
        };

        if let Some((from, to)) = rec.cache_lookup {
            let head = child(
                random_id(),
                Kind::Internal,
                "cache lookup",
                clock.at(from),
                clock.at(to),
            );
            let mut span = out.span(&head);
            span.block(cache_attr(rec.cache));
            span.end(Status::Unset);
        }

        let last = rec.attempts.len().saturating_sub(1);
        for (i, a) in rec.attempts.iter().enumerate() {
            // The id the upstream saw as its parent; a record without one still gets a span.
            let id = if a.span_id == [0; 8] {
                random_id()
            } else {
                a.span_id
            };
            let stop = a.end.map_or(end, |e| clock.at(e));
            let head = child(id, Kind::Client, method, clock.at(a.start), stop);
            let mut span = out.span(&head);
            let status = self.client_attributes(&mut span, rec, a, i, i == last);
            span.end(status);
        }

        let head = SpanHead {
            span_id: state.span_id,
            parent: state.parent_span_id,
            parent_remote: state.parent_span_id.is_some(),
            // Semconv: an unknown method names the span "HTTP"; never the raw path.
            name: if method == "_OTHER" { "HTTP" } else { method },
            kind: Kind::Server,
            start: clock.start_nanos,
            end,
        };
        let mut span = out.span(&head);
        self.server_attributes(&mut span, rec, method);
        span.end(if rec.is_error() {
            Status::Error(rec.error.unwrap_or(""))
        } else {
            Status::Unset
        });
        out.finish()
    }

    fn client_attributes(
        &self,
        span: &mut SpanWriter<'_>,
        rec: &RequestRecord<'_>,
        a: &UpstreamAttempt,
        index: usize,
        is_last: bool,
    ) -> Status<'static> {
        let label = self.upstreams.get(a);
        span.block(method_attr(rec.method));
        span.str(attr_key!("server.address"), label.ip.as_str());
        span.int(attr_key!("server.port"), label.port);
        if let Some(s) = a.status {
            span.int(attr_key!("http.response.status_code"), i64::from(s));
        }
        if index > 0 {
            span.int(attr_key!("http.request.resend_count"), index as i64);
        }
        match attempt_error(rec, a, is_last) {
            Some(e) => {
                e.write(span);
                Status::Error("")
            }
            None => Status::Unset,
        }
    }

    fn server_attributes(
        &self,
        span: &mut SpanWriter<'_>,
        rec: &RequestRecord<'_>,
        method: &'static str,
    ) {
        span.block(method_attr(rec.method));
        if method == "_OTHER" {
            span.str(
                attr_key!("http.request.method_original"),
                rec.method.as_str(),
            );
        }
        span.str(attr_key!("url.path"), rec.path);
        write_scheme(span, rec.scheme);
        if let Some(host) = rec.host {
            let (name, port) = split_host_port(host);
            span.str(attr_key!("server.address"), name);
            if let Some(p) = port {
                span.int(attr_key!("server.port"), i64::from(p));
            }
        }
        if let Some(ip) = rec.client {
            span.ip(attr_key!("client.address"), ip);
        }
        if let Some(ua) = rec.user_agent {
            span.str(attr_key!("user_agent.original"), ua);
        }
        if rec.status != 0 {
            span.int(
                attr_key!("http.response.status_code"),
                i64::from(rec.status),
            );
        }
        write_protocol(span, rec.protocol_version);
        if let Some(e) = request_error(rec) {
            e.write(span);
        }
        span.block(cache_attr(rec.cache));
        if let Some(a) = rec.upstream() {
            span.str(
                attr_key!("sightline.upstream"),
                self.upstreams.get(a).full.as_str(),
            );
        }
    }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
