//! Shared fixtures: a runtime + receiver + guard, fabricated request records, and a capture of
//! every warning logged through `tracing`.

mod compose;
mod load;
mod metrics;
mod resilience;
mod rotel;
mod spans;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use http::Method;
use pingora_http::RequestHeader;
use sightline::config::{Config, OtlpProtocol, TelemetryConfig};
use sightline::telemetry::otel::{self, ExportTuning, OtelGuard};
use sightline::telemetry::trace::{RequestTracer, TraceState};
use sightline::telemetry::{CacheOutcome, RequestRecord, UpstreamAttempt};
use tokio::runtime::Runtime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::otlp_receiver::Receiver;

/// The upstreams every fixture's tracer knows.
pub fn upstreams() -> Vec<SocketAddr> {
    vec![
        "127.0.0.1:9001".parse().unwrap(),
        "127.0.0.1:9002".parse().unwrap(),
    ]
}

pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Telemetry config for `endpoint`; metrics only on demand (force_flush).
pub fn config(endpoint: &str, protocol: OtlpProtocol) -> TelemetryConfig {
    let mut c = Config::defaults().telemetry;
    c.otlp_endpoint = endpoint.to_string();
    c.protocol = protocol;
    c.metrics_interval = Duration::from_secs(3600);
    c.resource_attributes = vec![("deployment.environment.name".into(), "test".into())];
    c
}

/// A test's whole pipeline.
pub struct Fixture {
    pub receiver: Option<Receiver>,
    pub guard: Option<OtelGuard>,
    pub tracer: RequestTracer,
    // Last: the runtime must outlive the guard's shutdown.
    pub rt: Runtime,
}

impl Fixture {
    /// A gRPC receiver and a pipeline exporting to it.
    pub fn grpc(sample_ratio: f64) -> Fixture {
        let rt = runtime();
        let receiver = rt.block_on(Receiver::grpc());
        let mut cfg = config(&receiver.endpoint(), OtlpProtocol::Grpc);
        cfg.sample_ratio = sample_ratio;
        Fixture::start(rt, Some(receiver), &cfg, &ExportTuning::default())
    }

    pub fn start(
        rt: Runtime,
        receiver: Option<Receiver>,
        cfg: &TelemetryConfig,
        tuning: &ExportTuning,
    ) -> Fixture {
        let guard = otel::init_with(cfg, rt.handle(), tuning).expect("telemetry starts");
        let tracer = guard.request_tracer(&upstreams());
        Fixture {
            receiver,
            guard: Some(guard),
            tracer,
            rt,
        }
    }

    pub fn receiver(&self) -> &Receiver {
        self.receiver.as_ref().expect("fixture has a receiver")
    }

    pub fn guard(&self) -> &OtelGuard {
        self.guard.as_ref().expect("guard not shut down yet")
    }

    pub fn flush(&self) {
        self.guard().force_flush().expect("flush succeeds");
    }

    pub fn shutdown(&mut self) {
        if let Some(g) = self.guard.take() {
            g.shutdown().expect("shutdown succeeds");
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            let _ = g.shutdown();
        }
    }
}

/// A fabricated request: what the proxy would have collected in its context.
pub struct Fake {
    pub t0: Instant,
    pub wall: SystemTime,
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub cache: CacheOutcome,
    pub lookup: bool,
    pub attempts: Vec<UpstreamAttempt>,
    pub error: Option<&'static str>,
    pub state: TraceState,
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Fake {
    /// Starts a request through `tracer` with these request headers.
    pub fn start(tracer: &RequestTracer, method: Method, headers: &[(&str, &str)]) -> Fake {
        let mut req = RequestHeader::build(method.clone(), b"/api/items/7?page=2", None).unwrap();
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).unwrap();
        }
        Fake {
            t0: Instant::now(),
            wall: SystemTime::now(),
            method,
            path: "/api/items/7".into(),
            status: 200,
            cache: CacheOutcome::Miss,
            lookup: true,
            attempts: vec![],
            error: None,
            state: tracer.start(&req),
        }
    }

    /// One upstream attempt (10 ms apart); returns the CLIENT span id sent upstream.
    pub fn attempt(
        &mut self,
        tracer: &RequestTracer,
        upstream: usize,
        status: Option<u16>,
    ) -> [u8; 8] {
        let (id, _traceparent) = tracer.client_span(&self.state).expect("context to send");
        let i = self.attempts.len() as u64;
        self.attempts.push(UpstreamAttempt {
            upstream,
            addr: upstreams()[upstream],
            start: self.t0 + ms(3 + 10 * i),
            end: Some(self.t0 + ms(10 + 10 * i)),
            status,
            failed: status.is_none(),
            span_id: id,
        });
        id
    }

    pub fn duration(&self) -> Duration {
        ms(5 + 10 * self.attempts.len() as u64)
    }

    pub fn record(&self) -> RequestRecord<'_> {
        RequestRecord {
            start: self.t0,
            start_time: self.wall,
            duration: self.duration(),
            method: &self.method,
            path: &self.path,
            host: Some("proxy.test:8080"),
            client: Some(IpAddr::from([192, 0, 2, 7])),
            user_agent: Some("otel-test/1.0"),
            protocol_version: "1.1",
            scheme: "http",
            status: self.status,
            cache: self.cache,
            cache_lookup: self.lookup.then(|| (self.t0 + ms(1), self.t0 + ms(2))),
            attempts: &self.attempts,
            error: self.error,
            bytes_sent: 42,
            bytes_received: 0,
            trace_id: self.state.trace_id,
            span_id: self.state.span_id,
            sampled: self.state.sampled,
        }
    }

    pub fn finish(&self, tracer: &RequestTracer) {
        tracer.finish(&self.state, &self.record());
    }
}

/// A plain cache miss served by upstream 0.
pub fn miss(tracer: &RequestTracer) -> Fake {
    let mut f = Fake::start(tracer, Method::GET, &[]);
    f.attempt(tracer, 0, Some(200));
    f
}

/// Warnings captured from every thread: (target, endpoint field, message).
static WARNINGS: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

struct Capture;

#[derive(Default)]
struct Fields {
    endpoint: String,
    message: String,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "endpoint" => self.endpoint = format!("{value:?}"),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "endpoint" => self.endpoint = value.to_string(),
            "message" => self.message = value.to_string(),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields::default();
        e.record(&mut f);
        let target = e.metadata().target().to_string();
        WARNINGS
            .lock()
            .unwrap()
            .push((target, f.endpoint, f.message));
    }
}

/// Installs the global warning capture, filtered the way the console is in production.
pub fn capture_warnings() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = otel::quiet_sdk_logs(tracing_subscriber::EnvFilter::new("warn"), None);
        let subscriber = tracing_subscriber::registry().with(Capture.with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).expect("first global subscriber");
    });
}

/// Warnings logged that name `endpoint`.
pub fn warnings_for(endpoint: &str) -> Vec<String> {
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, ep, _)| ep == endpoint)
        .map(|(_, _, m)| m.clone())
        .collect()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(ms(20));
    }
    cond()
}
