//! [`TeeExporter`]: hands each exported batch to the built-in view's store, then to the
//! configured OTLP exporter, so the external export keeps working beside the view.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use super::EmbeddedStore;

/// A span exporter feeding the embedded store and then `inner`.
#[derive(Debug)]
pub struct TeeExporter<E> {
    inner: E,
    store: Arc<EmbeddedStore>,
    resource: Arc<ResourceAttributesWithSchema>,
}

impl<E> TeeExporter<E> {
    /// Feeds `store` before each export through `inner`.
    pub fn new(inner: E, store: Arc<EmbeddedStore>) -> Self {
        TeeExporter {
            inner,
            store,
            resource: Arc::default(),
        }
    }
}

impl<E: SpanExporter> SpanExporter for TeeExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        // The store first: it only takes an in-process lock, while the collector may be slow
        // or absent (its failures are counted by the queue as before).
        self.store.ingest(batch.clone(), &self.resource).await;
        self.inner.export(batch).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Arc::new(ResourceAttributesWithSchema::from(resource));
        self.inner.set_resource(resource);
    }
}
