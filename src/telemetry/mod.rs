//! Telemetry: what the request path records once per request, and everything derived from it.
//!
//! The proxy calls [`Telemetry`]; admin, dashboards and alerts read snapshots built from it.

pub mod clock;
pub mod connections;
pub mod exemplar;
pub mod latency;
pub mod log_bridge;
pub mod otel;
pub mod outlier;
pub mod process;
pub mod recent;
pub mod record;
pub mod reject;
pub mod stats;
pub mod trace;
pub mod upstreams;
pub(crate) mod w3c;

use std::sync::Arc;

pub use exemplar::Exemplar;
pub use record::{CacheOutcome, RequestRecord, UpstreamAttempt, UpstreamId};

/// Bytes and entries the response cache holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheUsage {
    /// Bytes held (bodies + headers).
    pub bytes: u64,
    /// Entries held.
    pub entries: u64,
}

/// Reads the cache's current usage (supplied by the proxy at wiring time).
pub type CacheUsageSource = Arc<dyn Fn() -> CacheUsage + Send + Sync>;

/// The request path's single entry point into telemetry.
pub struct Telemetry {
    /// Live counters for admin, dashboards and alerts.
    pub stats: Arc<stats::LiveStats>,
    /// Span recording and trace-context propagation.
    pub tracer: trace::RequestTracer,
    /// Per-upstream health and in-flight state.
    pub upstreams: Arc<upstreams::UpstreamBoard>,
    /// OpenTelemetry metrics (no-ops when metrics are off).
    pub metrics: otel::OtelMetrics,
}

impl Telemetry {
    /// A request entered the proxy (in-flight gauges).
    pub fn start(&self) {
        self.stats.request_started();
    }

    /// Records one finished request everywhere it is needed.
    pub fn finish(&self, state: &trace::TraceState, rec: &RequestRecord<'_>) {
        self.stats.record(rec);
        self.metrics.record(rec);
        self.tracer.finish(state, rec);
    }
}
