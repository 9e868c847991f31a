//! The hand-written encoding against prost's for the same messages: bridged SDK spans, the
//! envelope around several requests' spans, and attribute values of every kind written.

use std::time::{Duration, SystemTime};

use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::Message;

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status as SdkStatus, TraceFlags, TraceId,
    TraceState,
};
use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span as ProtoSpan};
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

use super::*;
use crate::telemetry::otel::scope;

/// A span as the `tracing` bridge makes them: events, a link, attributes of several types.
fn sdk_span(trace: u128, id: u64) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
    let mut events = SpanEvents::default();
    events.events.push(Event::new(
        "served",
        start + Duration::from_micros(5),
        vec![KeyValue::new("bytes", 42)],
        0,
    ));
    let mut links = SpanLinks::default();
    links.links.push(Link::with_context(SpanContext::new(
        TraceId::from(9u128),
        SpanId::from(9u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    )));
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(trace),
            SpanId::from(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("k", "v")]).unwrap(),
        ),
        parent_span_id: SpanId::from(id + 1),
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: "admin request".into(),
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes: vec![
            KeyValue::new("route", "/health"),
            KeyValue::new("n", -7),
            KeyValue::new("ok", true),
            KeyValue::new("ratio", 0.5),
        ],
        dropped_attributes_count: 1,
        events,
        links,
        status: SdkStatus::error("broken"),
        instrumentation_scope: scope(),
    }
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("sightline")
        .with_attribute(KeyValue::new("deployment.environment.name", "test"))
        .with_schema_url(
            [KeyValue::new("host.name", "h")],
            "https://opentelemetry.io/schemas/1.26.0",
        )
        .build()
}

#[test]
fn a_bridged_span_is_prost_s_encoding_of_the_sdk_conversion() {
    let span = sdk_span(7, 1);
    let enc = encode_sdk_span(span.clone());
    assert_eq!(enc.trace_id(), TraceId::from(7u128).to_bytes());
    assert_eq!(enc.span_count(), 1);
    let decoded = ScopeSpans::decode(enc.as_bytes()).unwrap().spans;
    assert_eq!(decoded, vec![ProtoSpan::from(span)]);
}

#[test]
fn the_envelope_is_what_the_sdk_exporter_sent_for_the_same_spans() {
    let spans: Vec<SpanData> = (1..=5).map(|i| sdk_span(i, i as u64 * 10)).collect();
    let resource = resource();
    let envelope = Envelope::new(&resource, &scope());
    let encoded: Vec<EncodedSpans> = spans.iter().cloned().map(encode_sdk_span).collect();
    let old = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, &(&resource).into()),
    }
    .encode_to_vec();
    assert_eq!(envelope.request(encoded.iter()), old);
    // Nothing queued: a valid, empty request.
    let empty = ExportTraceServiceRequest::decode(&envelope.request(std::iter::empty())[..]);
    assert!(empty.unwrap().resource_spans[0].scope_spans[0]
        .spans
        .is_empty());
}

#[test]
fn written_attributes_are_prost_s_key_values() {
    let head = SpanHead {
        span_id: [1; 8],
        parent: None,
        parent_remote: false,
        name: "x",
        kind: Kind::Internal,
        start: 0,
        end: u64::MAX,
    };
    let mut w = TraceWriter::new([2; 16], "", 0);
    let mut s = w.span(&head);
    s.str(attr_key!("empty"), "");
    s.str(attr_key!("long"), &"é".repeat(100));
    s.int(attr_key!("zero"), 0);
    s.int(attr_key!("negative"), -1);
    s.int(attr_key!("big"), i64::MAX);
    s.decimal(attr_key!("code"), 404);
    s.decimal(attr_key!("zero code"), 0);
    s.ip(attr_key!("v4"), "10.0.0.255".parse().unwrap());
    s.ip(attr_key!("v6"), "2001:db8::ff00:42:8329".parse().unwrap());
    s.display(attr_key!("display"), format_args!("{}-{}", 1, "a"));
    s.display(attr_key!("long display"), "d".repeat(100));
    s.end(Status::Error(""));
    let spans = ScopeSpans::decode(w.finish().as_bytes()).unwrap().spans;
    let string = |k: &str, v: &str| ProtoKeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        key_strindex: 0,
    };
    let int = |k: &str, v: i64| ProtoKeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        key_strindex: 0,
    };
    let want = vec![
        string("empty", ""),
        string("long", &"é".repeat(100)),
        int("zero", 0),
        int("negative", -1),
        int("big", i64::MAX),
        string("code", "404"),
        string("zero code", "0"),
        string("v4", "10.0.0.255"),
        string("v6", "2001:db8::ff00:42:8329"),
        string("display", "1-a"),
        string("long display", &"d".repeat(100)),
    ];
    assert_eq!(spans[0].attributes, want);
    assert_eq!(spans[0].status.as_ref().unwrap().code, 2);
    assert_eq!(spans[0].end_time_unix_nano, u64::MAX);
    assert!(spans[0].parent_span_id.is_empty());
    assert_eq!(spans[0].flags, 0x101);
}
