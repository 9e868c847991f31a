//! The OTLP span exporter for both transports.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use opentelemetry_otlp::{
    Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig,
};

use super::queue::ExportMode;
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

/// The OTLP span exporter for `cfg.protocol`. A tonic exporter must be built inside the runtime
/// that will drive its connection (call this within `Handle::enter`).
pub(crate) fn span_exporter(
    cfg: &TelemetryConfig,
    timeout: Duration,
) -> Result<(opentelemetry_otlp::SpanExporter, ExportMode), TelemetryError> {
    let b = opentelemetry_otlp::SpanExporter::builder();
    let built = match cfg.protocol {
        OtlpProtocol::Grpc => b
            .with_tonic()
            .with_endpoint(cfg.otlp_endpoint.clone())
            .with_timeout(timeout)
            .with_retry_policy(retry_policy())
            .build()
            .map(|e| (e, ExportMode::Async)),
        OtlpProtocol::HttpProtobuf => b
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(http_url(&cfg.otlp_endpoint, "traces"))
            .with_timeout(timeout)
            .with_retry_policy(retry_policy())
            .build()
            .map(|e| (e, ExportMode::Blocking)),
    };
    built.map_err(|e| TelemetryError::Exporter(e.to_string()))
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives a future to completion on the current (non-async) thread. Used for exporters whose
/// future blocks inside (reqwest's blocking client), which must not run under `Handle::block_on`.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
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

    #[test]
    fn block_on_drives_a_waking_future() {
        let (tx, rx) = std::sync::mpsc::channel();
        let v = block_on(async move {
            let (otx, orx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                otx.send(7).unwrap();
            });
            let v = orx.await.unwrap();
            tx.send(()).unwrap();
            v
        });
        assert_eq!(v, 7);
        assert!(rx.try_recv().is_ok());
    }
}
