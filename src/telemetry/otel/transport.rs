//! Sending already-encoded OTLP trace export requests to the collector: gRPC through tonic with
//! a codec that passes the bytes through, or a plain http/protobuf POST. A failed call is retried
//! twice (100 ms, then 200 ms later) when the failure is one a collector recovers from; the
//! export task bounds the whole call by the export timeout.
//!
//! The standard `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS` variables add
//! request headers (metadata for gRPC), as the OTLP exporters do.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::uri::PathAndQuery;
use http::HeaderMap;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::TelemetryError;
use crate::config::{OtlpProtocol, TelemetryConfig};

/// The gRPC method of the OTLP trace service.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Delays before each retry of a failed export call.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(200)];

/// Why one export call failed.
#[derive(Debug, thiserror::Error)]
pub enum TraceExportError {
    /// The gRPC call failed (connection refused, collector error status).
    #[error("gRPC trace export to {endpoint}: {code}: {message}")]
    Grpc {
        /// The collector's URL.
        endpoint: String,
        /// The gRPC status code.
        code: Code,
        /// Its message.
        message: String,
    },
    /// The HTTP request could not be made or answered.
    #[error("http/protobuf trace export to {url}: {source}")]
    Http {
        /// Where it was posted.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The collector answered with an error status.
    #[error("http/protobuf trace export to {url}: status {status}")]
    HttpStatus {
        /// Where it was posted.
        url: String,
        /// The answer's status.
        status: http::StatusCode,
    },
}

/// Sends one encoded `ExportTraceServiceRequest`.
pub(crate) trait SendTraces: Send + Sync + 'static {
    /// Sends `request` (retries included); `Ok` when the collector accepted it.
    fn send(&self, request: Bytes) -> impl Future<Output = Result<(), TraceExportError>> + Send;
}

/// The configured transport.
#[derive(Debug, Clone)]
pub(crate) enum TraceTransport {
    /// OTLP/gRPC (boxed: tonic's client is large, and made once).
    Grpc(Box<GrpcTraces>),
    /// OTLP/HTTP with protobuf bodies.
    Http(HttpTraces),
}

impl TraceTransport {
    /// The transport `cfg` asks for, each call bounded by `timeout`. A gRPC channel must be made
    /// inside the runtime that will drive it (call this within `Handle::enter`).
    pub fn new(cfg: &TelemetryConfig, timeout: Duration) -> Result<Self, TelemetryError> {
        let headers = env_headers(&|k| std::env::var(k).ok());
        Ok(match cfg.protocol {
            OtlpProtocol::Grpc => TraceTransport::Grpc(Box::new(GrpcTraces::new(
                &cfg.otlp_endpoint,
                timeout,
                headers,
            )?)),
            OtlpProtocol::HttpProtobuf => {
                TraceTransport::Http(HttpTraces::new(&cfg.otlp_endpoint, timeout, headers)?)
            }
        })
    }
}

impl SendTraces for TraceTransport {
    async fn send(&self, request: Bytes) -> Result<(), TraceExportError> {
        match self {
            TraceTransport::Grpc(g) => g.send(request).await,
            TraceTransport::Http(h) => h.send(request).await,
        }
    }
}

/// One attempt's failure, and whether another attempt may succeed.
struct Failed {
    error: TraceExportError,
    retry: bool,
}

/// Runs `attempt` until it succeeds, fails for good, or the retries are spent.
async fn with_retries<F, Fut>(mut attempt: F) -> Result<(), TraceExportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Failed>>,
{
    let mut delays = RETRY_DELAYS.iter();
    loop {
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(f) => match delays.next() {
                Some(d) if f.retry => tokio::time::sleep(*d).await,
                _ => return Err(f.error),
            },
        }
    }
}

fn user_agent() -> String {
    format!("sightline/{}", env!("CARGO_PKG_VERSION"))
}

/// OTLP/gRPC over a lazily connecting tonic channel, which reconnects by itself.
#[derive(Debug, Clone)]
pub(crate) struct GrpcTraces {
    endpoint: String,
    client: tonic::client::Grpc<Channel>,
    metadata: tonic::metadata::MetadataMap,
}

impl GrpcTraces {
    fn new(endpoint: &str, timeout: Duration, headers: HeaderMap) -> Result<Self, TelemetryError> {
        let bad = |why: String| TelemetryError::Exporter(format!("endpoint {endpoint:?}: {why}"));
        if endpoint.starts_with("https://") {
            return Err(bad(
                "https needs TLS, which sightline's OTLP gRPC exporter is not built with".into(),
            ));
        }
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .and_then(|e| e.user_agent(user_agent()))
            .map_err(|e| bad(e.to_string()))?
            .timeout(timeout)
            .connect_lazy();
        Ok(GrpcTraces {
            endpoint: endpoint.to_owned(),
            client: tonic::client::Grpc::new(channel),
            metadata: tonic::metadata::MetadataMap::from_headers(headers),
        })
    }

    async fn attempt(&self, request: Bytes) -> Result<(), Failed> {
        let failed = |status: Status| Failed {
            retry: retryable(status.code()),
            error: TraceExportError::Grpc {
                endpoint: self.endpoint.clone(),
                code: status.code(),
                message: status.message().to_owned(),
            },
        };
        let mut client = self.client.clone();
        client
            .ready()
            .await
            .map_err(|e| failed(Status::unavailable(e.to_string())))?;
        let request =
            tonic::Request::from_parts(self.metadata.clone(), http::Extensions::default(), request);
        let path = PathAndQuery::from_static(GRPC_EXPORT);
        client
            .unary::<_, (), _>(request, path, PassThrough)
            .await
            .map(drop)
            .map_err(failed)
    }
}

impl SendTraces for GrpcTraces {
    async fn send(&self, request: Bytes) -> Result<(), TraceExportError> {
        with_retries(|| self.attempt(request.clone())).await
    }
}

/// The gRPC codes the OTLP specification calls retryable.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// A tonic codec for bytes that are already an encoded message; the answer (an
/// `ExportTraceServiceResponse`, whose partial-success figures sightline does not use) is
/// skipped.
#[derive(Debug, Clone, Copy, Default)]
struct PassThrough;

impl Codec for PassThrough {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = PassThrough;
    type Decoder = PassThrough;

    fn encoder(&mut self) -> Self::Encoder {
        PassThrough
    }

    fn decoder(&mut self) -> Self::Decoder {
        PassThrough
    }
}

impl Encoder for PassThrough {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len());
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PassThrough {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// OTLP/HTTP: `POST {endpoint}/v1/traces` with the protobuf body.
#[derive(Debug, Clone)]
pub(crate) struct HttpTraces {
    url: String,
    client: reqwest::Client,
}

impl HttpTraces {
    fn new(endpoint: &str, timeout: Duration, headers: HeaderMap) -> Result<Self, TelemetryError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(user_agent())
            .default_headers(headers)
            .build()
            .map_err(|e| TelemetryError::Exporter(format!("http/protobuf client: {e}")))?;
        Ok(HttpTraces {
            url: format!("{}/v1/traces", endpoint.trim_end_matches('/')),
            client,
        })
    }

    async fn attempt(&self, request: Bytes) -> Result<(), Failed> {
        let failed = |source: reqwest::Error| Failed {
            // Connection refused or reset, timeouts: the collector may be back soon.
            retry: true,
            error: TraceExportError::Http {
                url: self.url.clone(),
                source,
            },
        };
        let response = self
            .client
            .post(&self.url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            )
            .body(request)
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        // Read the answer to the end so the connection can be reused.
        let _ = response.bytes().await;
        if status.is_success() {
            return Ok(());
        }
        Err(Failed {
            // The statuses the OTLP/HTTP specification calls retryable.
            retry: matches!(status.as_u16(), 429 | 502 | 503 | 504),
            error: TraceExportError::HttpStatus {
                url: self.url.clone(),
                status,
            },
        })
    }
}

impl SendTraces for HttpTraces {
    async fn send(&self, request: Bytes) -> Result<(), TraceExportError> {
        with_retries(|| self.attempt(request.clone())).await
    }
}

/// Headers from `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`:
/// `key=value` pairs separated by commas, values percent-decoded; malformed pairs are skipped.
fn env_headers(env: &dyn Fn(&str) -> Option<String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(list) =
        env("OTEL_EXPORTER_OTLP_TRACES_HEADERS").or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
    else {
        return headers;
    };
    for pair in list.split(',') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let value = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy();
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_str(k.trim()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(k, v);
        }
    }
    headers
}

#[cfg(test)]
mod tests;
