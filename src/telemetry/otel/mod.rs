//! OpenTelemetry export: tracer and meter providers over OTLP (gRPC or http/protobuf), held by an
//! [`OtelGuard`] that flushes them at shutdown.
//!
//! # Shape
//! ```text
//! RequestTracer::finish ─► OTLP bytes (otlp.rs) ─┐
//! tracing bridge (own spans) ─► SpanData ─► bytes ┴─► SpanQueue (bounded) ─► export task
//!     export task: Envelope (resource + scope) around a batch ─► transport (gRPC / HTTP)
//!                  └─► the built-in trace view's store, when on
//! OtelMetrics::record ─► aggregate::Durations ─┐
//! LiveStats, board, cache, health ──────────────┴─► OtelMetrics::collect ─► metric_export ─► OTLP
//! ```
//! Export runs on the Tokio runtime handed to [`init`], which must keep running until
//! [`OtelGuard::shutdown`] returns (tonic's connection lives there; built anywhere else it
//! panics with "no reactor running" or silently drops everything).
//!
//! # Failure policy
//! A dead, slow or absent collector never blocks the request path: the span queue is bounded
//! and refuses instead of waiting, each export call has a deadline, and every loss is counted
//! in [`ExportHealth`] (`sightline.telemetry.dropped`, admin figures) with at most one warning a
//! minute. The tonic channel reconnects by itself, so export resumes when the collector returns.

pub mod aggregate;
pub mod embedded;
mod error_type;
pub mod health;
pub mod layer;
pub mod metric_export;
pub mod metrics;
pub mod otlp;
pub mod queue;
pub mod resource;
pub mod spans;
mod transport;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tokio::runtime::Handle;
use tracing::Subscriber;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

pub use health::{ExportFigures, ExportHealth, Signal};
pub use layer::{bridge_filter, quiet_sdk_logs};
pub use metrics::{OtelMetrics, DURATION_BUCKETS};
pub use otlp::EncodedSpans;
pub use queue::{ExportTuning, SpanQueue, SpanSink};

use super::stats::LiveStats;
use super::trace::{RequestTracer, TracerOptions};
use super::upstreams::UpstreamBoard;
use super::CacheUsageSource;
use crate::config::TelemetryConfig;

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter rejected its configuration (endpoint, protocol).
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// Flushing or shutting down a provider failed (collector unreachable at exit, timeout).
    #[error("telemetry shutdown: {0}")]
    Shutdown(String),
}

/// The instrumentation scope of everything sightline emits.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("sightline")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The running OpenTelemetry pipelines; [`OtelGuard::shutdown`] flushes them.
pub struct OtelGuard {
    tracer_provider: Option<SdkTracerProvider>,
    metrics: Option<metric_export::MetricPipeline>,
    spans: Option<SpanQueue>,
    health: Arc<ExportHealth>,
    sample_ratio: f64,
    trace_response_header: bool,
    embedded: Option<Arc<embedded::EmbeddedStore>>,
}

impl std::fmt::Debug for OtelGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelGuard")
            .field("traces", &self.tracer_provider.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("export", &self.health.figures())
            .finish()
    }
}

/// Starts the configured pipelines, exporting on `runtime`, with `OTEL_BSP_*` tuning.
pub fn init(cfg: &TelemetryConfig, runtime: &Handle) -> Result<OtelGuard, TelemetryError> {
    init_with(cfg, runtime, &ExportTuning::from_env())
}

/// [`init`] with explicit export tuning (tests, benches).
pub fn init_with(
    cfg: &TelemetryConfig,
    runtime: &Handle,
    tuning: &ExportTuning,
) -> Result<OtelGuard, TelemetryError> {
    let health = Arc::new(ExportHealth::new(cfg.otlp_endpoint.clone()));
    init_with_health(cfg, runtime, tuning, health)
}

/// [`init_with`] reporting into a given [`ExportHealth`] (tests shorten its warning period).
pub fn init_with_health(
    cfg: &TelemetryConfig,
    runtime: &Handle,
    tuning: &ExportTuning,
    health: Arc<ExportHealth>,
) -> Result<OtelGuard, TelemetryError> {
    // Exporters create their connections where they are built: inside the export runtime.
    let _enter = runtime.enter();
    let resource = resource::build(cfg);
    // The built-in trace view's store, fed by the span pipeline (so only when traces are on).
    let mut view_store: Option<Arc<embedded::EmbeddedStore>> = None;

    let (tracer_provider, spans) = if cfg.traces {
        let exporter = transport::TraceTransport::new(cfg, tuning.export_timeout)?;
        if cfg.embedded_ui {
            view_store = Some(embedded::EmbeddedStore::new(
                cfg.embedded_ui_max_traces,
                cfg.embedded_ui_max_bytes,
            ));
        }
        let to = queue::Destination {
            exporter,
            envelope: otlp::Envelope::new(&resource, &scope()),
            view: view_store.clone(),
        };
        let queue = SpanQueue::start(to, tuning, cfg.max_buffer, health.clone(), runtime);
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sample_ratio)));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(queue.clone())
            .with_sampler(sampler)
            .with_resource(resource.clone())
            .build();
        (Some(provider), Some(queue))
    } else {
        (None, None)
    };

    let metrics = if cfg.metrics {
        Some(metric_export::MetricPipeline::start(
            cfg,
            &resource,
            health.clone(),
            tuning.export_timeout,
            runtime,
        )?)
    } else {
        None
    };

    Ok(OtelGuard {
        tracer_provider,
        metrics,
        spans,
        health,
        sample_ratio: cfg.sample_ratio,
        trace_response_header: cfg.trace_response_header,
        embedded: view_store,
    })
}

impl OtelGuard {
    /// A guard with no pipelines (telemetry off, `OTEL_SDK_DISABLED`).
    pub fn disabled() -> Self {
        OtelGuard {
            tracer_provider: None,
            metrics: None,
            spans: None,
            health: Arc::new(ExportHealth::new("")),
            sample_ratio: 0.0,
            trace_response_header: false,
            embedded: None,
        }
    }

    /// The request path's tracer; `upstreams` in `upstreams.servers` order.
    /// [`RequestTracer::disabled`] when traces are off.
    pub fn request_tracer(&self, upstreams: &[SocketAddr]) -> RequestTracer {
        match &self.spans {
            Some(queue) => RequestTracer::new(
                Arc::new(queue.clone()) as Arc<dyn SpanSink>,
                TracerOptions {
                    sample_ratio: self.sample_ratio,
                    trace_response_header: self.trace_response_header,
                    upstreams: upstreams.to_vec(),
                },
            ),
            None => RequestTracer::disabled(),
        }
    }

    /// The request path's metrics, exported by this pipeline from now on; they read `stats`
    /// (active requests, cache results), `board` and `cache` when collected
    /// ([`OtelMetrics::disabled`] when metrics are off).
    pub fn metrics(
        &self,
        stats: Arc<LiveStats>,
        board: Arc<UpstreamBoard>,
        cache: CacheUsageSource,
    ) -> OtelMetrics {
        match &self.metrics {
            Some(p) => {
                let m = OtelMetrics::new(stats, board, cache, self.health.clone());
                p.attach(&m);
                m
            }
            None => OtelMetrics::disabled(),
        }
    }

    /// An SDK tracer on the same pipeline (for the `tracing` bridge or manual spans).
    pub fn tracer(&self) -> Option<SdkTracer> {
        self.tracer_provider
            .as_ref()
            .map(|p| p.tracer_with_scope(scope()))
    }

    /// The `tracing` → OTLP bridge layer for the subscriber, already filtered per layer
    /// ([`bridge_filter`]); `None` when traces are off (`Option<Layer>` is itself a layer).
    pub fn tracing_layer<S>(&self) -> Option<Box<dyn Layer<S> + Send + Sync + 'static>>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        self.tracer().map(layer::bridge_layer)
    }

    /// The built-in trace view's store, when `telemetry.embedded_ui` and traces are on.
    pub fn embedded(&self) -> Option<Arc<embedded::EmbeddedStore>> {
        self.embedded.clone()
    }

    /// Export counters, shared (for admin figures and the dropped metric).
    pub fn health(&self) -> Arc<ExportHealth> {
        self.health.clone()
    }

    /// Spans and metric points dropped since start.
    pub fn dropped_total(&self) -> u64 {
        self.health.dropped_total()
    }

    /// Exports everything buffered now (blocks; call outside the export runtime's workers).
    pub fn force_flush(&self) -> Result<(), TelemetryError> {
        let mut errors = Vec::new();
        if let Some(p) = &self.tracer_provider {
            p.force_flush()
                .unwrap_or_else(|e| errors.push(e.to_string()));
        }
        if let Some(p) = &self.metrics {
            p.flush().unwrap_or_else(|e| errors.push(e.to_string()));
        }
        errors_to_result(errors)
    }

    /// Flushes and shuts down both providers: every span handed over before this call is
    /// exported (or counted as dropped). Call after the server stopped, from a plain thread,
    /// while the export runtime still runs; bounded by the export timeout.
    pub fn shutdown(self) -> Result<(), TelemetryError> {
        let mut errors = Vec::new();
        let wait = Duration::from_secs(15);
        if let Some(p) = &self.tracer_provider {
            p.shutdown_with_timeout(wait)
                .unwrap_or_else(|e| errors.push(format!("traces: {e}")));
        }
        if let Some(p) = self.metrics {
            p.shutdown().unwrap_or_else(|e| errors.push(e.to_string()));
        }
        errors_to_result(errors)
    }
}

fn errors_to_result(errors: Vec<String>) -> Result<(), TelemetryError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(TelemetryError::Shutdown(errors.join("; ")))
    }
}
