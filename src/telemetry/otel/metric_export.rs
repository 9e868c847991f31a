//! The OTLP metrics pipeline: every `metrics_interval`, [`OtelMetrics::collect`] is sent to the
//! collector over gRPC (tonic) or http/protobuf (reqwest), bounded by the export timeout.
//!
//! sightline builds its OTLP messages itself (see [`super::metrics`]), so there is no SDK
//! meter provider: a failed export loses nothing but resolution, because every series is
//! cumulative and the next export carries the totals. Failures are counted as dropped points in
//! [`ExportHealth`] (one warning a minute at most).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use prost::Message;
use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::health::{ExportHealth, Signal};
use super::metrics::{count_points, OtelMetrics};
use super::TelemetryError;
use crate::config::{OtlpProtocol, TelemetryConfig};

/// Why one export failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricExportError {
    /// The gRPC call failed (collector down, refused, or returned an error status).
    #[error("gRPC export to the collector failed: {0}")]
    Grpc(#[from] tonic::Status),
    /// The HTTP request failed or was answered with an error status.
    #[error("HTTP export to the collector failed: {0}")]
    Http(String),
    /// The collector did not answer within the export timeout.
    #[error("export timed out after {0:?}")]
    Timeout(Duration),
}

enum Transport {
    Grpc(MetricsServiceClient<tonic::transport::Channel>),
    Http {
        client: reqwest::Client,
        url: String,
    },
}

/// `OTEL_EXPORTER_OTLP_HEADERS` / `OTEL_EXPORTER_OTLP_METRICS_HEADERS` (`k=v,k2=v2`,
/// percent-encoded values), as the OTLP exporter specification defines them.
fn env_headers() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    ] {
        let Ok(list) = std::env::var(var) else {
            continue;
        };
        for pair in list.split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                let v = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy();
                out.retain(|(key, _): &(String, String)| !key.eq_ignore_ascii_case(k.trim()));
                out.push((k.trim().to_ascii_lowercase(), v.into_owned()));
            }
        }
    }
    out
}

struct Shared {
    source: OnceLock<OtelMetrics>,
    resource: Resource,
    schema_url: String,
    transport: Transport,
    headers: Vec<(String, String)>,
    health: Arc<ExportHealth>,
    timeout: Duration,
}

impl Shared {
    fn request(&self) -> Option<ExportMetricsServiceRequest> {
        let metrics = self.source.get()?.collect();
        Some(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "sightline".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        attributes: Vec::new(),
                        dropped_attributes_count: 0,
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: self.schema_url.clone(),
            }],
        })
    }

    async fn send(&self, req: ExportMetricsServiceRequest) -> Result<(), MetricExportError> {
        let call = async {
            match &self.transport {
                Transport::Grpc(client) => {
                    let mut request = tonic::Request::new(req);
                    for (k, v) in &self.headers {
                        if let (Ok(k), Ok(v)) = (
                            tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
                            v.parse(),
                        ) {
                            request.metadata_mut().insert(k, v);
                        }
                    }
                    client.clone().export(request).await?;
                    Ok(())
                }
                Transport::Http { client, url } => {
                    let mut post = client
                        .post(url)
                        .header("content-type", "application/x-protobuf")
                        .body(req.encode_to_vec());
                    for (k, v) in &self.headers {
                        post = post.header(k, v);
                    }
                    let resp = post
                        .send()
                        .await
                        .map_err(|e| MetricExportError::Http(e.to_string()))?;
                    if resp.status().is_success() {
                        Ok(())
                    } else {
                        Err(MetricExportError::Http(format!(
                            "collector answered {}",
                            resp.status()
                        )))
                    }
                }
            }
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(MetricExportError::Timeout(self.timeout)))
    }

    /// Collects and sends once, recording the outcome in [`ExportHealth`].
    async fn export(&self) -> Result<(), MetricExportError> {
        let Some(req) = self.request() else {
            return Ok(());
        };
        let points = count_points(&req.resource_metrics[0].scope_metrics[0].metrics);
        let result = self.send(req).await;
        let (lost, sdk) = match &result {
            Ok(()) => (0, Ok(())),
            Err(e) => (
                points,
                Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                    e.to_string(),
                )),
            ),
        };
        self.health.export_finished(Signal::Metrics, lost, &sdk);
        result
    }
}

/// The running metrics pipeline; [`MetricPipeline::shutdown`] sends the last figures.
pub(crate) struct MetricPipeline {
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    runtime: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MetricPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricPipeline").finish_non_exhaustive()
    }
}

/// `base` + `/v1/metrics`: the OTLP/HTTP path of the metrics signal.
fn http_url(base: &str) -> String {
    format!("{}/v1/metrics", base.trim_end_matches('/'))
}

/// Runs `fut` to completion from any thread, on `runtime` (a helper thread when the caller is
/// itself inside a runtime, where `block_on` is not allowed).
fn run_on<F: std::future::Future + Send>(runtime: &Handle, fut: F) -> F::Output
where
    F::Output: Send,
{
    if Handle::try_current().is_err() {
        return runtime.block_on(fut);
    }
    std::thread::scope(|s| {
        s.spawn(|| runtime.block_on(fut))
            .join()
            .expect("the export thread does not panic")
    })
}

impl MetricPipeline {
    /// Starts exporting every `cfg.metrics_interval` on `runtime` (call within it). Nothing is
    /// sent until [`MetricPipeline::attach`] hands over the figures to export.
    pub fn start(
        cfg: &TelemetryConfig,
        resource: &opentelemetry_sdk::Resource,
        health: Arc<ExportHealth>,
        timeout: Duration,
        runtime: &Handle,
    ) -> Result<Self, TelemetryError> {
        let transport = match cfg.protocol {
            OtlpProtocol::Grpc => {
                let channel = tonic::transport::Channel::from_shared(cfg.otlp_endpoint.clone())
                    .map_err(|e| TelemetryError::Exporter(e.to_string()))?
                    .connect_timeout(timeout)
                    .connect_lazy();
                Transport::Grpc(MetricsServiceClient::new(channel))
            }
            OtlpProtocol::HttpProtobuf => Transport::Http {
                client: reqwest::Client::builder()
                    .timeout(timeout)
                    .build()
                    .map_err(|e| TelemetryError::Exporter(e.to_string()))?,
                url: http_url(&cfg.otlp_endpoint),
            },
        };
        let attrs = ResourceAttributesWithSchema::from(resource);
        let shared = Arc::new(Shared {
            source: OnceLock::new(),
            resource: Resource {
                attributes: attrs.attributes.0,
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            },
            schema_url: attrs.schema_url.unwrap_or_default(),
            transport,
            headers: env_headers(),
            health,
            timeout,
        });
        let stop = Arc::new(Notify::new());
        let (s, st, every) = (shared.clone(), stop.clone(), cfg.metrics_interval);
        let task = runtime.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        // Counted and warned about in ExportHealth; the next tick retries.
                        let _ = s.export().await;
                    }
                    _ = st.notified() => return,
                }
            }
        });
        Ok(MetricPipeline {
            shared,
            stop,
            runtime: runtime.clone(),
            task,
        })
    }

    /// Exports `metrics` from now on (the first call wins).
    pub fn attach(&self, metrics: &OtelMetrics) {
        let _ = self.shared.source.set(metrics.clone());
    }

    /// Sends the current figures now (blocks until sent or timed out).
    pub fn flush(&self) -> Result<(), TelemetryError> {
        let shared = self.shared.clone();
        run_on(&self.runtime, async move { shared.export().await })
            .map_err(|e| TelemetryError::Shutdown(format!("metrics: {e}")))
    }

    /// Stops the periodic export and sends the last figures.
    pub fn shutdown(self) -> Result<(), TelemetryError> {
        self.stop.notify_one();
        self.task.abort();
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_url_appends_the_signal_path() {
        assert_eq!(http_url("http://c:4318"), "http://c:4318/v1/metrics");
        assert_eq!(http_url("http://c:4318/"), "http://c:4318/v1/metrics");
    }
}
