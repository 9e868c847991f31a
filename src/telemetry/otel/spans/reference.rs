//! The span tree as sightline built it before the direct encoder: SDK `SpanData` with OTel
//! attribute values, which opentelemetry-proto turned into OTLP messages. Kept as the oracle the
//! encoder's output is compared with (`tests.rs`); ids the encoder drew at random are passed in.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::{Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState as OtelTraceState,
};
use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::{attempt_error_type, method_str, request_error_type, split_host_port, UpstreamLabels};
use crate::telemetry::record::{RequestRecord, UpstreamAttempt};
use crate::telemetry::trace::TraceState;

fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
    KeyValue::new(Key::from_static_str(key), value)
}

/// The old recorder's spans for one request, in the order it emitted them. `random` supplies
/// the ids it would have drawn (the lookup span's, and a CLIENT span's the record lacks).
pub(super) fn spans(
    upstreams: &UpstreamLabels,
    state: &TraceState,
    rec: &RequestRecord<'_>,
    random: &mut dyn Iterator<Item = [u8; 8]>,
) -> Vec<SpanData> {
    let tracestate = state
        .tracestate
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|s| OtelTraceState::from_str(s).ok())
        .unwrap_or_default();
    let at = |i: Instant| -> SystemTime { rec.start_time + i.saturating_duration_since(rec.start) };
    let span = |id: [u8; 8],
                parent: [u8; 8],
                parent_remote: bool,
                kind: SpanKind,
                name: &'static str,
                (start, end): (SystemTime, SystemTime),
                attributes: Vec<KeyValue>,
                status: Status| SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(state.trace_id),
            SpanId::from_bytes(id),
            TraceFlags::SAMPLED,
            false,
            tracestate.clone(),
        ),
        parent_span_id: SpanId::from_bytes(parent),
        parent_span_is_remote: parent_remote,
        span_kind: kind,
        name: Cow::Borrowed(name),
        start_time: start,
        end_time: end,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: crate::telemetry::otel::scope(),
    };
    let method = method_str(rec.method);
    let end = at(rec.start + rec.duration);
    let mut out = Vec::new();

    if let Some((from, to)) = rec.cache_lookup {
        let attrs = vec![kv("sightline.cache.status", rec.cache.as_str())];
        out.push(span(
            random.next().expect("a lookup id"),
            state.span_id,
            false,
            SpanKind::Internal,
            "cache lookup",
            (at(from), at(to)),
            attrs,
            Status::Unset,
        ));
    }

    let last = rec.attempts.len().saturating_sub(1);
    for (i, a) in rec.attempts.iter().enumerate() {
        let (attrs, status) = client_attributes(upstreams, rec, a, i, i == last, method);
        let id = if a.span_id == [0; 8] {
            random.next().expect("a client id")
        } else {
            a.span_id
        };
        let times = (at(a.start), a.end.map_or(end, at));
        out.push(span(
            id,
            state.span_id,
            false,
            SpanKind::Client,
            method,
            times,
            attrs,
            status,
        ));
    }

    let status = if rec.status >= 500 || rec.status == 0 {
        Status::error(rec.error.unwrap_or(""))
    } else {
        Status::Unset
    };
    out.push(span(
        state.span_id,
        state.parent_span_id.unwrap_or([0; 8]),
        state.parent_span_id.is_some(),
        SpanKind::Server,
        if method == "_OTHER" { "HTTP" } else { method },
        (rec.start_time, end),
        server_attributes(upstreams, rec, method),
        status,
    ));
    out
}

fn client_attributes(
    upstreams: &UpstreamLabels,
    rec: &RequestRecord<'_>,
    a: &UpstreamAttempt,
    index: usize,
    is_last: bool,
    method: &'static str,
) -> (Vec<KeyValue>, Status) {
    let label = upstreams.get(a);
    let mut attrs = vec![
        kv("http.request.method", method),
        kv("server.address", label.ip.clone()),
        kv("server.port", label.port),
    ];
    if let Some(s) = a.status {
        attrs.push(kv("http.response.status_code", i64::from(s)));
    }
    if index > 0 {
        attrs.push(kv("http.request.resend_count", index as i64));
    }
    match attempt_error_type(rec, a, is_last) {
        Some(e) => {
            attrs.push(KeyValue::new(Key::from_static_str("error.type"), e));
            (attrs, Status::error(""))
        }
        None => (attrs, Status::Unset),
    }
}

fn server_attributes(
    upstreams: &UpstreamLabels,
    rec: &RequestRecord<'_>,
    method: &'static str,
) -> Vec<KeyValue> {
    let mut attrs = vec![kv("http.request.method", method)];
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
        attrs.push(KeyValue::new(Key::from_static_str("error.type"), e));
    }
    attrs.push(kv("sightline.cache.status", rec.cache.as_str()));
    if let Some(a) = rec.upstream() {
        attrs.push(kv("sightline.upstream", upstreams.get(a).full.clone()));
    }
    attrs
}
