//! The OTLP metric exporter for both transports, and its wrapper that counts failures and runs
//! each export on the telemetry runtime with a deadline. (Spans have their own transport:
//! `transport.rs`.)

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::{
    Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use tokio::runtime::Handle;

use super::health::{ExportHealth, Signal};
use super::TelemetryError;
use crate::config::{OtlpProtocol, TelemetryConfig};

/// Retries inside one export call: a couple, so a blip is absorbed but a dead collector does
/// not hold an export slot for long.
fn retry_policy() -> RetryPolicy {
    RetryPolicy::recommended().with_max_retries(2)
}

/// `base` + `/v1/{signal}`: the HTTP exporter uses a programmatic endpoint verbatim.
fn http_url(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim_end_matches('/'))
}

/// The OTLP metric exporter for `cfg.protocol` (cumulative temporality, as Prometheus wants).
pub(crate) fn metric_exporter(
    cfg: &TelemetryConfig,
    timeout: Duration,
) -> Result<opentelemetry_otlp::MetricExporter, TelemetryError> {
    let b = opentelemetry_otlp::MetricExporter::builder().with_temporality(Temporality::Cumulative);
    let built = match cfg.protocol {
        OtlpProtocol::Grpc => b
            .with_tonic()
            .with_endpoint(cfg.otlp_endpoint.clone())
            .with_timeout(timeout)
            .with_retry_policy(retry_policy())
            .build(),
        OtlpProtocol::HttpProtobuf => b
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(http_url(&cfg.otlp_endpoint, "metrics"))
            .with_timeout(timeout)
            .with_retry_policy(retry_policy())
            .build(),
    };
    built.map_err(|e| TelemetryError::Exporter(e.to_string()))
}

fn points<T>(d: &MetricData<T>) -> usize {
    match d {
        MetricData::Gauge(g) => g.data_points().count(),
        MetricData::Sum(s) => s.data_points().count(),
        MetricData::Histogram(h) => h.data_points().count(),
        MetricData::ExponentialHistogram(h) => h.data_points().count(),
    }
}

/// Data points in one collection (what a failed export loses).
fn count_points(rm: &ResourceMetrics) -> u64 {
    rm.scope_metrics()
        .flat_map(|s| s.metrics())
        .map(|m| match m.data() {
            AggregatedMetrics::F64(d) => points(d),
            AggregatedMetrics::U64(d) => points(d),
            AggregatedMetrics::I64(d) => points(d),
        })
        .sum::<usize>() as u64
}

/// Wraps the OTLP metric exporter: bounds each export by `timeout`, drives tonic exports on the
/// telemetry runtime (the SDK's periodic reader calls from its own plain thread), and records
/// every outcome in [`ExportHealth`].
#[derive(Debug)]
pub(crate) struct CountingMetricExporter<E> {
    pub inner: E,
    pub health: Arc<ExportHealth>,
    /// Some: export on this runtime (tonic); None: call directly (blocking HTTP client).
    pub runtime: Option<Handle>,
    pub timeout: Duration,
}

impl<E: PushMetricExporter> PushMetricExporter for CountingMetricExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let timeout = self.timeout;
        let result = match &self.runtime {
            // The reader's own thread has no runtime context; entering ours gives tonic its
            // reactor and timers.
            Some(rt) if Handle::try_current().is_err() => rt.block_on(async {
                tokio::time::timeout(timeout, self.inner.export(metrics))
                    .await
                    .unwrap_or(Err(OTelSdkError::Timeout(timeout)))
            }),
            _ => self.inner.export(metrics).await,
        };
        let points = if result.is_err() {
            count_points(metrics)
        } else {
            0
        };
        self.health
            .export_finished(Signal::Metrics, points, &result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_append_the_signal_path() {
        assert_eq!(
            http_url("http://c:4318", "traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            http_url("http://c:4318/", "metrics"),
            "http://c:4318/v1/metrics"
        );
    }
}
