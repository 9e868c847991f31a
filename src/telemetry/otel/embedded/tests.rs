//! The store fed with SDK spans, encoded as the export queue holds them: what goes in is what
//! the Jaeger API answers, within bounds.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;

use super::*;
use crate::telemetry::otel::otlp::encode_sdk_span;

fn span(trace: u128, id: u64, parent: u64, name: &'static str, pad: usize) -> SpanData {
    let ctx = SpanContext::new(
        TraceId::from(trace),
        SpanId::from(id),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let start = SystemTime::now();
    SpanData {
        span_context: ctx,
        parent_span_id: SpanId::from(parent),
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: name.into(),
        start_time: start,
        end_time: start + Duration::from_millis(3),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("pad", "x".repeat(pad)),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: crate::telemetry::otel::scope(),
    }
}

fn envelope() -> Envelope {
    let r = Resource::builder_empty()
        .with_service_name("sightline")
        .build();
    Envelope::new(&r, &crate::telemetry::otel::scope())
}

/// Hands `batch` to the store as the export task would, one queued item per span, in order.
async fn ingest(store: &EmbeddedStore, batch: Vec<SpanData>) {
    let items: Vec<EncodedSpans> = batch.into_iter().map(encode_sdk_span).collect();
    store.ingest(&items, &envelope()).await;
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn ingested_spans_are_found_by_trace_id() {
    let store = EmbeddedStore::new(NonZeroU32::new(10).unwrap(), 32 << 20);
    rt().block_on(async {
        let batch = vec![span(7, 1, 0, "GET", 0), span(7, 2, 1, "cache lookup", 0)];
        ingest(&store, batch).await;
        let hex = format!("{:032x}", 7u128);
        assert!(store.contains(&hex).await);
        assert!(!store.contains(&format!("{:032x}", 8u128)).await);
        let f = store.figures().await;
        assert_eq!((f.traces, f.spans_ingested), (1, 2));
        assert!(f.bytes > 0);
    });
}

#[test]
fn the_trace_count_bound_evicts_the_oldest() {
    let store = EmbeddedStore::new(NonZeroU32::new(5).unwrap(), 32 << 20);
    rt().block_on(async {
        for t in 1..=20u128 {
            ingest(&store, vec![span(t, 1, 0, "GET", 0)]).await;
        }
        assert_eq!(store.figures().await.traces, 5);
        assert!(store.contains(&format!("{:032x}", 20u128)).await);
        assert!(!store.contains(&format!("{:032x}", 1u128)).await);
    });
}

#[test]
fn the_byte_bound_holds_while_traces_keep_coming() {
    let max = 256 << 10;
    let store = EmbeddedStore::new(NonZeroU32::new(100_000).unwrap(), max);
    rt().block_on(async {
        for t in 1..=2_000u128 {
            ingest(&store, vec![span(t, 1, 0, "GET", 1_000)]).await;
            let f = store.figures().await;
            assert!(f.bytes <= max, "{f:?} after {t}");
            assert!(f.traces > 0, "{f:?} after {t}");
        }
        let f = store.figures().await;
        assert!(f.traces > 10 && f.traces < 2_000, "{f:?}");
        assert_eq!(f.evicted as usize + f.traces, 2_000, "{f:?}");
        assert!(store.contains(&format!("{:032x}", 2_000u128)).await);
        assert!(!store.contains(&format!("{:032x}", 1u128)).await);
    });
}

#[test]
fn spans_of_one_trace_arriving_apart_and_rebuilds_keep_every_recent_trace() {
    let store = EmbeddedStore::new(NonZeroU32::new(100_000).unwrap(), 256 << 10);
    rt().block_on(async {
        for t in 1..=1_000u128 {
            ingest(&store, vec![span(t, 2, 1, "cache lookup", 500)]).await;
            ingest(
                &store,
                vec![span(t, 3, 1, "GET", 500), span(t - 1, 1, 0, "GET", 500)],
            )
            .await;
            let newest = format!("{:032x}", t);
            assert!(
                store.contains(&newest).await,
                "trace {t}: {:?}",
                store.figures().await
            );
        }
    });
}

#[test]
fn one_large_batch_keeps_its_newest_traces_not_a_hash_order_sample() {
    // The export queue hands over thousands of spans at once; the bound must drop the batch's
    // oldest traces, whatever order a map would visit them in.
    let store = EmbeddedStore::new(NonZeroU32::new(100_000).unwrap(), 256 << 10);
    rt().block_on(async {
        let batch = (1..=2_000u128)
            .flat_map(|t| {
                [
                    span(t, 2, 1, "cache lookup", 500),
                    span(t, 1, 0, "GET", 500),
                ]
            })
            .collect();
        ingest(&store, batch).await;
        let f = store.figures().await;
        assert!(f.traces > 10 && f.traces < 2_000, "{f:?}");
        for t in (2_001 - f.traces as u128)..=2_000 {
            assert!(store.contains(&format!("{t:032x}")).await, "{t}: {f:?}");
        }
        assert!(!store.contains(&format!("{:032x}", 1u128)).await);
    });
}
