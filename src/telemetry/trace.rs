//! Request tracing: W3C trace context in and out, and the span tree of each sampled request.
//!
//! PLACEHOLDER until the OpenTelemetry issue lands: ids are generated and propagated, nothing is
//! exported.

use http::HeaderValue;
use pingora_http::RequestHeader;

use super::record::RequestRecord;

/// Per-request trace state kept in the proxy context.
#[derive(Debug, Clone, Default)]
pub struct TraceState {
    /// Trace id (continued from the client's `traceparent` when it sent one).
    pub trace_id: [u8; 16],
    /// The SERVER span's id.
    pub span_id: [u8; 8],
    /// The client's span id, when the trace was continued.
    pub parent_span_id: Option<[u8; 8]>,
    /// Whether this request's spans are exported.
    pub sampled: bool,
    /// The client's `tracestate`, forwarded upstream unchanged.
    pub tracestate: Option<HeaderValue>,
}

/// Makes trace ids, decides sampling, and records finished requests as spans.
#[derive(Debug, Default)]
pub struct RequestTracer {}

impl RequestTracer {
    /// A tracer that exports nothing.
    pub fn disabled() -> Self {
        RequestTracer {}
    }

    /// Starts a request's trace, continuing the client's when it sent `traceparent`.
    pub fn start(&self, _req: &RequestHeader) -> TraceState {
        TraceState::default()
    }

    /// Starts an upstream attempt: returns the CLIENT span id and the `traceparent` to send.
    pub fn client_span(&self, _state: &TraceState) -> Option<([u8; 8], HeaderValue)> {
        None
    }

    /// The W3C `traceresponse` header for a sampled request.
    pub fn traceresponse(&self, _state: &TraceState) -> Option<HeaderValue> {
        None
    }

    /// Records a finished request's spans.
    pub fn finish(&self, _state: &TraceState, _rec: &RequestRecord<'_>) {}
}
