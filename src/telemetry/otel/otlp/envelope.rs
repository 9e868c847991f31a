//! The parts of an export request around the spans: the resource and scope every span shares
//! ([`Envelope`]), and the few SDK spans (sightline's own) converted to the same form.

use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope as ProtoScope;
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::Message;

use super::super::wire::{len_field_len, put_bytes, put_len_prefix};
use super::{field, EncodedSpans};

/// An SDK span (sightline's own `tracing` spans, through the bridge) in the same form as
/// request spans: opentelemetry-proto's conversion and prost, fine for the few there are.
/// Its instrumentation scope is not kept: the pipeline's only tracer has the [`Envelope`]'s.
pub(crate) fn encode_sdk_span(span: SpanData) -> EncodedSpans {
    let trace_id = span.span_context.trace_id().to_bytes();
    let span = ProtoSpan::from(span);
    let len = span.encoded_len();
    let mut bytes = Vec::with_capacity(len_field_len(field::SPANS, len));
    put_len_prefix(&mut bytes, field::SPANS, len);
    span.encode(&mut bytes)
        .expect("a Vec sized for the message has room");
    EncodedSpans {
        trace_id,
        spans: 1,
        bytes,
    }
}

/// What every exported span shares: the resource and the instrumentation scope, encoded once.
/// Wraps queued [`EncodedSpans`] into an `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// `ResourceSpans.resource` body.
    resource: Vec<u8>,
    resource_schema_url: String,
    /// `ScopeSpans.scope` body.
    scope: Vec<u8>,
    scope_schema_url: String,
}

impl Envelope {
    /// The envelope of spans from `scope` on `resource`.
    pub fn new(resource: &Resource, scope: &InstrumentationScope) -> Self {
        let attrs = ResourceAttributesWithSchema::from(resource);
        let resource = ProtoResource {
            attributes: attrs.attributes.0,
            dropped_attributes_count: 0,
            entity_refs: vec![],
        };
        Envelope {
            resource: resource.encode_to_vec(),
            resource_schema_url: attrs.schema_url.unwrap_or_default(),
            scope: ProtoScope::from((scope, None)).encode_to_vec(),
            scope_schema_url: scope.schema_url().unwrap_or_default().to_owned(),
        }
    }

    /// An encoded `ExportTraceServiceRequest` carrying `spans`, in order.
    pub fn request<'s>(&self, spans: impl Iterator<Item = &'s EncodedSpans> + Clone) -> Vec<u8> {
        let spans_len: usize = spans.clone().map(|s| s.bytes.len()).sum();
        let mut scope_spans = len_field_len(field::SCOPE, self.scope.len()) + spans_len;
        if !self.scope_schema_url.is_empty() {
            scope_spans += len_field_len(field::SCOPE_SCHEMA_URL, self.scope_schema_url.len());
        }
        let mut resource_spans = len_field_len(field::RESOURCE, self.resource.len())
            + len_field_len(field::SCOPE_SPANS, scope_spans);
        if !self.resource_schema_url.is_empty() {
            resource_spans +=
                len_field_len(field::RESOURCE_SCHEMA_URL, self.resource_schema_url.len());
        }
        let total = len_field_len(field::RESOURCE_SPANS, resource_spans);
        let mut out = Vec::with_capacity(total);
        put_len_prefix(&mut out, field::RESOURCE_SPANS, resource_spans);
        put_bytes(&mut out, field::RESOURCE, &self.resource);
        put_len_prefix(&mut out, field::SCOPE_SPANS, scope_spans);
        put_bytes(&mut out, field::SCOPE, &self.scope);
        for s in spans {
            out.extend_from_slice(&s.bytes);
        }
        if !self.scope_schema_url.is_empty() {
            put_bytes(
                &mut out,
                field::SCOPE_SCHEMA_URL,
                self.scope_schema_url.as_bytes(),
            );
        }
        if !self.resource_schema_url.is_empty() {
            put_bytes(
                &mut out,
                field::RESOURCE_SCHEMA_URL,
                self.resource_schema_url.as_bytes(),
            );
        }
        debug_assert_eq!(out.len(), total);
        out
    }
}
