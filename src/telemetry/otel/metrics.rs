//! OpenTelemetry metrics with semantic-convention names, units and attributes (spec §5), built
//! from what the request path already records.
//!
//! The request path records each finished request once into [`super::aggregate::Durations`] (the two
//! duration histograms per attribute set); everything else — active requests and cache results
//! from [`LiveStats`], cache usage, upstream health, uptime, memory, export drops — is read when
//! metrics are collected. [`OtelMetrics::collect`] turns it all into OTLP messages with
//! cumulative temporality, which [`super::metric_export`] sends.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};

use super::aggregate::Durations;
use super::health::ExportHealth;
use crate::telemetry::clock::unix_nanos;
use crate::telemetry::latency::SEMCONV_BOUNDS_S;
use crate::telemetry::process::resident_bytes;
use crate::telemetry::record::RequestRecord;
use crate::telemetry::stats::LiveStats;
use crate::telemetry::upstreams::UpstreamBoard;
use crate::telemetry::CacheUsageSource;

mod proto;
use proto::{gauge, histogram_metric, int, kv_int, kv_str, metric, sum, with_outcome, At};

/// Semconv bucket boundaries for HTTP durations, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = SEMCONV_BOUNDS_S;

/// Components whose uptime is reported, with when each started.
type Components = Mutex<Vec<(&'static str, Instant)>>;

struct Instruments {
    durations: Durations,
    stats: Arc<LiveStats>,
    board: Arc<UpstreamBoard>,
    cache: CacheUsageSource,
    health: Arc<ExportHealth>,
    components: Components,
    /// Start of every cumulative series (Unix ns).
    start_unix_nanos: u64,
}

/// The proxy's OpenTelemetry metrics (a no-op when metrics are disabled).
#[derive(Clone)]
pub struct OtelMetrics {
    inner: Option<Arc<Instruments>>,
}

impl std::fmt::Debug for OtelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelMetrics")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

impl OtelMetrics {
    /// Metrics that record nothing.
    pub fn disabled() -> Self {
        OtelMetrics { inner: None }
    }

    /// Metrics over `stats` (active requests, cache results), `board` (upstream health),
    /// `cache` (usage) and `health` (export drops).
    pub fn new(
        stats: Arc<LiveStats>,
        board: Arc<UpstreamBoard>,
        cache: CacheUsageSource,
        health: Arc<ExportHealth>,
    ) -> Self {
        OtelMetrics {
            inner: Some(Arc::new(Instruments {
                durations: Durations::default(),
                stats,
                board,
                cache,
                health,
                components: Mutex::new(vec![("process", Instant::now())]),
                start_unix_nanos: unix_nanos(SystemTime::now()),
            })),
        }
    }

    /// Whether metrics are recorded.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Reports `sightline.uptime` for one more component, from now.
    pub fn component_started(&self, name: &'static str) {
        if let Some(m) = &self.inner {
            let mut comps = m
                .components
                .lock()
                .expect("uptime list lock is never poisoned");
            comps.retain(|(n, _)| *n != name);
            comps.push((name, Instant::now()));
        }
    }

    /// Records one finished request (the request path's only call: a few atomic adds).
    pub fn record(&self, rec: &RequestRecord<'_>) {
        if let Some(m) = &self.inner {
            m.durations.record(rec);
        }
    }

    /// Every metric as it stands now (empty when disabled).
    pub fn collect(&self) -> Vec<Metric> {
        let Some(m) = &self.inner else {
            return Vec::new();
        };
        let at = At {
            start: m.start_unix_nanos,
            now: unix_nanos(SystemTime::now()),
        };
        let mut out = Vec::with_capacity(10);

        let server = m.durations.server().into_iter().map(|(key, r)| {
            let attrs = key.map(|k| {
                let a = vec![
                    kv_str("http.request.method", k.method),
                    kv_str("sightline.cache.status", k.cache.as_str()),
                ];
                with_outcome(a, k.status, k.error)
            });
            (attrs, r)
        });
        out.push(histogram_metric(
            &at,
            "http.server.request.duration",
            "Duration of HTTP server requests.",
            server,
        ));

        let reading = m.stats.read();
        out.push(metric(
            "http.server.active_requests",
            "{request}",
            "Number of active HTTP server requests.",
            sum(
                vec![at.point(vec![kv_str("url.scheme", "http")], int(reading.in_flight))],
                false,
            ),
        ));

        let client = m.durations.client().into_iter().map(|(key, r)| {
            let attrs = key.map(|k| {
                let addr = m.board.addr(k.upstream);
                let a = vec![
                    kv_str("http.request.method", k.method),
                    kv_str("server.address", &addr.ip().to_string()),
                    kv_int("server.port", i64::from(addr.port())),
                ];
                with_outcome(a, k.status, k.error)
            });
            (attrs, r)
        });
        out.push(histogram_metric(
            &at,
            "http.client.request.duration",
            "Duration of HTTP requests to upstreams, per attempt.",
            client,
        ));

        let results = super::aggregate::CACHE_OUTCOMES
            .iter()
            .zip(reading.cache)
            // A result never seen is no series yet (as an SDK counter reports it).
            .filter(|&(_, n)| n > 0)
            .map(|(c, n)| at.point(vec![kv_str("result", c.as_str())], int(n)))
            .collect();
        out.push(metric(
            "sightline.cache.requests",
            "{request}",
            "Requests by what the cache did for them.",
            sum(results, true),
        ));

        let usage = (m.cache)();
        out.push(metric(
            "sightline.cache.size",
            "By",
            "Bytes held by the response cache (bodies and headers).",
            gauge(vec![at.point(Vec::new(), int(usage.bytes))]),
        ));
        out.push(metric(
            "sightline.cache.entries",
            "{entry}",
            "Entries held by the response cache.",
            gauge(vec![at.point(Vec::new(), int(usage.entries))]),
        ));

        let rejected = crate::telemetry::reject::Reason::ALL
            .iter()
            .map(|&r| {
                let n = crate::telemetry::reject::get(r);
                at.point(vec![kv_str("reason", r.as_str())], int(n))
            })
            .collect();
        out.push(metric(
            "sightline.http.rejected",
            "{request}",
            "Requests refused before reaching an origin, by reason.",
            sum(rejected, true),
        ));

        let healthy = (0..m.board.len())
            .filter(|&id| m.board.in_config(id))
            .map(|id| {
                let up = u64::from(m.board.is_healthy(id));
                let label = m.board.addr(id).to_string();
                at.point(vec![kv_str("sightline.upstream", &label)], int(up))
            })
            .collect();
        out.push(metric(
            "sightline.upstream.healthy",
            "1",
            "1 when the upstream is in rotation, else 0.",
            gauge(healthy),
        ));

        let uptime = m
            .components
            .lock()
            .expect("uptime list lock is never poisoned")
            .iter()
            .map(|(name, since)| {
                at.point(
                    vec![kv_str("component", name)],
                    number_data_point::Value::AsDouble(since.elapsed().as_secs_f64()),
                )
            })
            .collect();
        out.push(metric(
            "sightline.uptime",
            "s",
            "Time since each component started.",
            gauge(uptime),
        ));

        if let Some(b) = resident_bytes() {
            out.push(metric(
                "process.memory.usage",
                "By",
                "Resident memory of the process.",
                sum(vec![at.point(Vec::new(), int(b))], false),
            ));
        }

        let f = m.health.figures();
        out.push(metric(
            "sightline.telemetry.dropped",
            "{item}",
            "Spans and metric points dropped by the exporter.",
            sum(
                vec![
                    at.point(vec![kv_str("signal", "traces")], int(f.spans_dropped)),
                    at.point(
                        vec![kv_str("signal", "metrics")],
                        int(f.metric_points_dropped),
                    ),
                ],
                true,
            ),
        ));
        out
    }
}

/// Data points in `metrics` (what a failed export loses).
pub(crate) fn count_points(metrics: &[Metric]) -> u64 {
    metrics
        .iter()
        .map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            Some(metric::Data::Histogram(h)) => h.data_points.len(),
            Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(metric::Data::Summary(s)) => s.data_points.len(),
            None => 0,
        })
        .sum::<usize>() as u64
}
