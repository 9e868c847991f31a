//! The built-in trace view (`telemetry.embedded_ui`): an in-memory store of the last traces,
//! fed in process from the span export pipeline, and the real Jaeger UI over it (both from the
//! `otlp-embedded` crate), served by the admin listener under `/jaeger/`.
//!
//! # Shape
//! ```text
//! SpanQueue export task ─┬─► EmbeddedStore::ingest ─► otlp_embedded::State (bounded LRU)
//!                        └─► OTLP transport (collector), unchanged
//! admin /jaeger/... ─► EmbeddedStore::router ─► Jaeger UI assets + its query API over State
//! ```
//! Nothing here runs on the request path: spans reach the store from the export task, after
//! the request finished, as the export queue holds them: each request's spans already encoded
//! as OTLP protobuf. Wrapped in the pipeline's resource and scope, each is one encoded
//! `ExportTraceServiceRequest` for its trace, which the ledger keeps and which is re-read as
//! `otlp-embedded`'s own generated types (the same protobuf schema) and applied through its
//! `TraceService`, so no network hop is involved.
//!
//! # Bounds
//! The store keeps at most `embedded_ui_max_traces` traces and about `embedded_ui_max_bytes`
//! ([`admit`]'s estimate); either limit evicts the oldest traces first.

pub mod admit;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use otlp_embedded::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_embedded::{Config, State, StateRef, TraceService, TraceServiceImpl};
use prost::Message;

use super::otlp::{EncodedSpans, Envelope};
use admit::{Admit, Verdict};

/// Where the admin listener serves the view (with a trailing `/`, as the UI's `<base>` wants).
pub const BASE_PATH: &str = "/jaeger/";

/// The in-memory trace store behind the built-in Jaeger UI.
pub struct EmbeddedStore {
    state: StateRef,
    service: TraceServiceImpl,
    max_traces: u32,
    /// The byte ledger; also serialises ingestion, so a rebuild never interleaves with an apply.
    admit: tokio::sync::Mutex<Admit>,
    spans: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("spans", &self.spans.load(Ordering::Relaxed))
            .finish()
    }
}

/// What the store holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct StoreFigures {
    /// Traces held.
    pub traces: usize,
    /// Estimated bytes held (sightline's ledger, see [`admit`]).
    pub bytes: u64,
    /// Traces dropped for the count or byte bound since start.
    pub evicted: u64,
    /// Spans ingested since start.
    pub spans_ingested: u64,
    /// Spans that could not be converted (never expected; counted, not logged per span).
    pub spans_refused: u64,
}

/// A store bounded by count only: the crate's byte limiter is off (see [`admit`]).
fn fresh_state(max_traces: u32) -> StateRef {
    State::new(Config {
        max_length: max_traces,
        max_memory_usage: usize::MAX,
    })
}

impl EmbeddedStore {
    /// An empty store bounded by `max_traces` and `max_bytes`.
    pub fn new(max_traces: NonZeroU32, max_bytes: u64) -> Arc<Self> {
        let state = fresh_state(max_traces.get());
        Arc::new(EmbeddedStore {
            service: TraceServiceImpl::new(state.clone()),
            state,
            max_traces: max_traces.get(),
            admit: tokio::sync::Mutex::new(Admit::new(max_traces.get() as usize, max_bytes)),
            spans: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Adds finished spans as the export queue holds them, in arrival order (the ledger
    /// evicts the oldest first), sent with `envelope`'s resource and scope.
    pub async fn ingest(&self, batch: &[EncodedSpans], envelope: &Envelope) {
        let n: u64 = batch.iter().map(|s| s.span_count() as u64).sum();
        let mut admit = self.admit.lock().await;
        // What the store takes after this batch: the requests the ledger kept through a
        // rebuild, then the spans admitted since, as one request (one resource to decode).
        let mut kept = Vec::new();
        let mut fresh: Vec<&EncodedSpans> = Vec::with_capacity(batch.len());
        for spans in batch {
            let encoded = Bytes::from(envelope.request(std::iter::once(spans)));
            match admit.add(spans.trace_id(), encoded) {
                Verdict::Apply => fresh.push(spans),
                Verdict::Rebuild(rest) => {
                    // The UI holds the same `StateRef`: swap what it points at.
                    let empty = fresh_state(self.max_traces);
                    let empty = Arc::try_unwrap(empty).map(|l| l.into_inner());
                    if let Ok(empty) = empty {
                        *self.state.write().await = empty;
                    }
                    kept = rest;
                    fresh.clear();
                }
            }
        }
        drop(admit);
        let fresh = (!fresh.is_empty()).then(|| Bytes::from(envelope.request(fresh.into_iter())));
        let mut request = ExportTraceServiceRequest::default();
        for bytes in kept.iter().chain(fresh.iter()) {
            // Same schema, two generated copies: the bytes of one decode as the other.
            match ExportTraceServiceRequest::decode(&bytes[..]) {
                Ok(mut r) => {
                    jaeger_tags(&mut r);
                    request.resource_spans.extend(r.resource_spans);
                }
                Err(_) => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.spans.fetch_add(n, Ordering::Relaxed);
        // The crate's service never fails; it only takes the store's write lock.
        let _ = self.service.export(tonic::Request::new(request)).await;
    }

    /// The Jaeger UI and its query API, for nesting under [`BASE_PATH`].
    pub fn router(&self) -> axum::Router {
        otlp_embedded::ui_app(self.state.clone(), BASE_PATH)
    }

    /// Traces and bytes held now.
    pub async fn figures(&self) -> StoreFigures {
        let (bytes, evicted) = {
            let a = self.admit.lock().await;
            (a.charged(), a.evicted())
        };
        StoreFigures {
            traces: self.state.read().await.len(),
            bytes,
            evicted,
            spans_ingested: self.spans.load(Ordering::Relaxed),
            spans_refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Whether the store holds the trace with this hex id.
    pub async fn contains(&self, hex_id: &str) -> bool {
        let Some(id) = decode_hex(hex_id) else {
            return false;
        };
        self.state.write().await.get_by_id(&id).is_some()
    }
}

/// Adds what Jaeger shows from tags but the crate's conversion leaves out: `span.kind`, and
/// `error` / `otel.status_code` / `otel.status_description` for an error status (the usual
/// OTLP → Jaeger mapping), so the UI marks kinds and errors.
fn jaeger_tags(request: &mut ExportTraceServiceRequest) {
    use otlp_embedded::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
    let kv = |key: &str, value: Value| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    };
    let spans = request
        .resource_spans
        .iter_mut()
        .flat_map(|r| r.scope_spans.iter_mut())
        .flat_map(|s| s.spans.iter_mut());
    for span in spans {
        let kind = match span.kind {
            1 => "internal",
            2 => "server",
            3 => "client",
            4 => "producer",
            5 => "consumer",
            _ => "",
        };
        if !kind.is_empty() {
            span.attributes
                .push(kv("span.kind", Value::StringValue(kind.into())));
        }
        // Status code 2 is ERROR in the OTLP schema.
        if let Some(status) = span.status.as_ref().filter(|s| s.code == 2) {
            let message = status.message.clone();
            span.attributes.push(kv("error", Value::BoolValue(true)));
            span.attributes
                .push(kv("otel.status_code", Value::StringValue("ERROR".into())));
            if !message.is_empty() {
                span.attributes
                    .push(kv("otel.status_description", Value::StringValue(message)));
            }
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
