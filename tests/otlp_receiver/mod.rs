//! An in-process OTLP receiver for tests: gRPC (tonic, the `opentelemetry-proto` services) or
//! http/protobuf (axum), on 127.0.0.1, keeping every request in memory.
//!
//! Shared by integration tests (`mod otlp_receiver;`); later also the end-to-end tests through
//! the real binary and a real collector.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric};
use opentelemetry_proto::tonic::trace::v1::Span;
pub mod rotel;

use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding::Gzip;

/// Everything received so far.
#[derive(Default)]
pub struct Store {
    traces: Mutex<Vec<ExportTraceServiceRequest>>,
    metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
}

#[derive(Clone)]
struct Svc(Arc<Store>);

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.traces.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.metrics.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    store: Arc<Store>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A string rendering of an OTLP attribute value (ints and bools as their text).
pub fn value_str(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Attributes as a map of strings.
pub fn attr_map(attrs: &[KeyValue]) -> HashMap<String, String> {
    attrs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(value_str).unwrap_or_default(),
            )
        })
        .collect()
}

/// One received span with what it was sent with.
#[derive(Debug, Clone)]
pub struct RecvSpan {
    pub span: Span,
    pub attrs: HashMap<String, String>,
    pub resource: HashMap<String, String>,
    pub scope: String,
}

/// One received metric with its resource.
#[derive(Debug, Clone)]
pub struct RecvMetric {
    pub metric: Metric,
    pub resource: HashMap<String, String>,
}

impl RecvMetric {
    /// Attribute sets and values of every data point: (attributes, count-or-value).
    pub fn points(&self) -> Vec<(HashMap<String, String>, f64)> {
        match &self.metric.data {
            Some(metric::Data::Histogram(h)) => h
                .data_points
                .iter()
                .map(|p| (attr_map(&p.attributes), p.count as f64))
                .collect(),
            Some(metric::Data::Sum(s)) => s
                .data_points
                .iter()
                .map(|p| (attr_map(&p.attributes), number(&p.value)))
                .collect(),
            Some(metric::Data::Gauge(g)) => g
                .data_points
                .iter()
                .map(|p| (attr_map(&p.attributes), number(&p.value)))
                .collect(),
            _ => vec![],
        }
    }
}

fn number(v: &Option<opentelemetry_proto::tonic::metrics::v1::number_data_point::Value>) -> f64 {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    match v {
        Some(Value::AsDouble(d)) => *d,
        Some(Value::AsInt(i)) => *i as f64,
        None => f64::NAN,
    }
}

impl Receiver {
    /// A gRPC receiver on a fresh 127.0.0.1 port.
    pub async fn grpc() -> Receiver {
        Receiver::grpc_on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A gRPC receiver on an already bound listener (to "start the collector later" on a
    /// port the exporter was given earlier).
    pub fn grpc_on(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(Store::default());
        let (stop, stopped) = oneshot::channel();
        let svc = Svc(store.clone());
        let server = tonic::transport::Server::builder()
            // Real collectors (rotel) compress with gzip by default.
            .add_service(TraceServiceServer::new(svc.clone()).accept_compressed(Gzip))
            .add_service(MetricsServiceServer::new(svc).accept_compressed(Gzip))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            );
        tokio::spawn(server);
        Receiver {
            addr,
            store,
            stop: Some(stop),
        }
    }

    /// An http/protobuf receiver (`POST /v1/traces`, `POST /v1/metrics`) on a fresh port.
    pub async fn http() -> Receiver {
        use axum::{body::Bytes, extract::State, routing::post, Router};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(Store::default());
        async fn traces(State(s): State<Arc<Store>>, body: Bytes) -> Vec<u8> {
            let req = ExportTraceServiceRequest::decode(body).expect("valid protobuf");
            s.traces.lock().unwrap().push(req);
            ExportTraceServiceResponse::default().encode_to_vec()
        }
        async fn metrics(State(s): State<Arc<Store>>, body: Bytes) -> Vec<u8> {
            let req = ExportMetricsServiceRequest::decode(body).expect("valid protobuf");
            s.metrics.lock().unwrap().push(req);
            ExportMetricsServiceResponse::default().encode_to_vec()
        }
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/metrics", post(metrics))
            .with_state(store.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            addr,
            store,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, flattened.
    pub fn spans(&self) -> Vec<RecvSpan> {
        let traces = self.store.traces.lock().unwrap();
        let mut out = Vec::new();
        for req in traces.iter() {
            for rs in &req.resource_spans {
                let resource = rs
                    .resource
                    .as_ref()
                    .map(|r| attr_map(&r.attributes))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    let scope = ss
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    for span in &ss.spans {
                        out.push(RecvSpan {
                            attrs: attr_map(&span.attributes),
                            span: span.clone(),
                            resource: resource.clone(),
                            scope: scope.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Every metric of the latest export that carried it (metrics are cumulative, so the
    /// newest export holds the totals).
    pub fn latest_metrics(&self) -> HashMap<String, RecvMetric> {
        let reqs = self.store.metrics.lock().unwrap();
        let mut out = HashMap::new();
        for req in reqs.iter() {
            for rm in &req.resource_metrics {
                let resource = rm
                    .resource
                    .as_ref()
                    .map(|r| attr_map(&r.attributes))
                    .unwrap_or_default();
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        let recv = RecvMetric {
                            metric: m.clone(),
                            resource: resource.clone(),
                        };
                        out.insert(m.name.clone(), recv);
                    }
                }
            }
        }
        out
    }

    /// Polls until `cond(spans)` holds or `limit` passes; returns the spans either way.
    pub fn wait_spans(&self, limit: Duration, cond: impl Fn(&[RecvSpan]) -> bool) -> Vec<RecvSpan> {
        let until = Instant::now() + limit;
        loop {
            let spans = self.spans();
            if cond(&spans) || Instant::now() >= until {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
