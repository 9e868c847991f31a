//! Metrics as the collector receives them: names, units, attribute sets and counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use sightline::config::OtlpProtocol;
use sightline::telemetry::otel::{ExportTuning, OtelMetrics};
use sightline::telemetry::stats::LiveStats;
use sightline::telemetry::upstreams::UpstreamBoard;
use sightline::telemetry::RequestRecord;
use sightline::telemetry::{CacheOutcome, CacheUsage, CacheUsageSource};

use super::{config, miss, runtime, upstreams, wait_until, Fake, Fixture};
use crate::otlp_receiver::{Receiver, RecvMetric};

/// The metrics and the live figures they read (active requests, cache results), fed together
/// as the proxy's `Telemetry` feeds them.
struct Instruments {
    metrics: OtelMetrics,
    stats: Arc<LiveStats>,
}

impl Instruments {
    fn request_started(&self) {
        self.stats.request_started();
    }

    fn record(&self, rec: &RequestRecord<'_>) {
        self.stats.record(rec);
        self.metrics.record(rec);
    }
}

fn instruments(fx: &Fixture, board: Arc<UpstreamBoard>) -> Instruments {
    let cache: CacheUsageSource = Arc::new(|| CacheUsage {
        bytes: 4096,
        entries: 3,
    });
    let stats = Arc::new(LiveStats::new(board.capacity()));
    let m = fx.guard().metrics(stats.clone(), board, cache);
    m.component_started("proxy");
    Instruments { metrics: m, stats }
}

/// The ids of a fed miss: trace, SERVER span, the attempt's CLIENT span.
type Ids = ([u8; 16], [u8; 8], [u8; 8]);

/// Feeds: 3 misses (one upstream 200 each), 2 hits, 1 retried request (connect failure, then
/// 503 from upstream 1); one request still in flight. Returns the misses' ids.
fn feed(fx: &Fixture, m: &Instruments) -> Vec<Ids> {
    let mut misses = Vec::new();
    for _ in 0..3 {
        m.request_started();
        let f = miss(&fx.tracer);
        m.record(&f.record());
        misses.push((f.state.trace_id, f.state.span_id, f.attempts[0].span_id));
    }
    for _ in 0..2 {
        m.request_started();
        let mut f = Fake::start(&fx.tracer, Method::GET, &[]);
        f.cache = CacheOutcome::Hit;
        m.record(&f.record());
    }
    m.request_started();
    let mut f = Fake::start(&fx.tracer, Method::GET, &[]);
    f.attempt(&fx.tracer, 0, None);
    f.attempt(&fx.tracer, 1, Some(503));
    f.status = 503;
    m.record(&f.record());
    m.request_started();
    misses
}

/// The exemplars (trace id, span id) of the histogram point with exactly `attrs`.
fn exemplars_of(m: &RecvMetric, attrs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Histogram(h)) = &m.metric.data
    else {
        panic!("{} is a histogram", m.metric.name);
    };
    let points = m.points();
    let i = points
        .iter()
        .position(|(a, _)| {
            a.len() == attrs.len()
                && attrs
                    .iter()
                    .all(|(k, v)| a.get(*k).map(String::as_str) == Some(*v))
        })
        .expect("the point exists");
    h.data_points[i]
        .exemplars
        .iter()
        .map(|e| (e.trace_id.clone(), e.span_id.clone()))
        .collect()
}

fn collect(fx: &Fixture, want: &[&str]) -> HashMap<String, RecvMetric> {
    fx.flush();
    let r = fx.receiver();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let got = r.latest_metrics();
            want.iter().all(|n| got.contains_key(*n))
        }),
        "metrics arrived: {:?}",
        r.latest_metrics().keys().collect::<Vec<_>>()
    );
    r.latest_metrics()
}

fn point<'a>(
    points: &'a [(HashMap<String, String>, f64)],
    attrs: &[(&str, &str)],
) -> Option<&'a f64> {
    points
        .iter()
        .find(|(a, _)| {
            a.len() == attrs.len()
                && attrs
                    .iter()
                    .all(|(k, v)| a.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
}

const NAMES: [(&str, &str); 10] = [
    ("http.server.request.duration", "s"),
    ("http.server.active_requests", "{request}"),
    ("http.client.request.duration", "s"),
    ("sightline.cache.requests", "{request}"),
    ("sightline.cache.size", "By"),
    ("sightline.cache.entries", "{entry}"),
    ("sightline.upstream.healthy", "1"),
    ("sightline.uptime", "s"),
    ("process.memory.usage", "By"),
    ("sightline.telemetry.dropped", "{item}"),
];

fn check(fx: &Fixture) {
    let board = Arc::new(UpstreamBoard::new(&upstreams()));
    board.set_healthy(1, false);
    let m = instruments(fx, board);
    let misses = feed(fx, &m);
    let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
    let got = collect(fx, &names);
    for (name, unit) in NAMES {
        assert_eq!(got[name].metric.unit, unit, "unit of {name}");
    }

    let server = got["http.server.request.duration"].points();
    let total: f64 = server.iter().map(|(_, c)| c).sum();
    assert_eq!(total, 6.0, "one histogram count per finished request");
    let miss = [
        ("http.request.method", "GET"),
        ("http.response.status_code", "200"),
        ("sightline.cache.status", "miss"),
    ];
    assert_eq!(point(&server, &miss), Some(&3.0));
    // Sampled requests point from their bucket to their trace: the newest miss in the bucket
    // (all three are equally quick), by its SERVER span.
    let newest = misses.last().unwrap();
    let server_ex = exemplars_of(&got["http.server.request.duration"], &miss);
    assert_eq!(server_ex, vec![(newest.0.to_vec(), newest.1.to_vec())]);
    let hit = [
        ("http.request.method", "GET"),
        ("http.response.status_code", "200"),
        ("sightline.cache.status", "hit"),
    ];
    assert_eq!(point(&server, &hit), Some(&2.0));
    let failed = [
        ("http.request.method", "GET"),
        ("http.response.status_code", "503"),
        ("sightline.cache.status", "miss"),
        ("error.type", "503"),
    ];
    assert_eq!(point(&server, &failed), Some(&1.0));
    if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Histogram(h)) =
        &got["http.server.request.duration"].metric.data
    {
        assert_eq!(
            h.data_points[0].explicit_bounds,
            sightline::telemetry::otel::DURATION_BUCKETS
        );
    } else {
        panic!("http.server.request.duration is a histogram");
    }

    let active = got["http.server.active_requests"].points();
    assert_eq!(point(&active, &[("url.scheme", "http")]), Some(&1.0));

    let client = got["http.client.request.duration"].points();
    let up0 = [
        ("http.request.method", "GET"),
        ("server.address", "127.0.0.1"),
        ("server.port", "9001"),
        ("http.response.status_code", "200"),
    ];
    assert_eq!(point(&client, &up0), Some(&3.0));
    // An attempt's exemplar names its CLIENT span.
    let client_ex = exemplars_of(&got["http.client.request.duration"], &up0);
    assert_eq!(client_ex, vec![(newest.0.to_vec(), newest.2.to_vec())]);
    let up0_failed = [
        ("http.request.method", "GET"),
        ("server.address", "127.0.0.1"),
        ("server.port", "9001"),
        ("error.type", "connect_error"),
    ];
    assert_eq!(point(&client, &up0_failed), Some(&1.0));
    let up1 = [
        ("http.request.method", "GET"),
        ("server.address", "127.0.0.1"),
        ("server.port", "9002"),
        ("http.response.status_code", "503"),
        ("error.type", "503"),
    ];
    assert_eq!(point(&client, &up1), Some(&1.0));

    let cache = got["sightline.cache.requests"].points();
    assert_eq!(point(&cache, &[("result", "miss")]), Some(&4.0));
    assert_eq!(point(&cache, &[("result", "hit")]), Some(&2.0));
    assert_eq!(
        point(&got["sightline.cache.size"].points(), &[]),
        Some(&4096.0)
    );
    assert_eq!(
        point(&got["sightline.cache.entries"].points(), &[]),
        Some(&3.0)
    );

    let healthy = got["sightline.upstream.healthy"].points();
    assert_eq!(
        point(&healthy, &[("sightline.upstream", "127.0.0.1:9001")]),
        Some(&1.0)
    );
    assert_eq!(
        point(&healthy, &[("sightline.upstream", "127.0.0.1:9002")]),
        Some(&0.0)
    );

    let uptime = got["sightline.uptime"].points();
    assert!(point(&uptime, &[("component", "process")]).is_some());
    assert!(point(&uptime, &[("component", "proxy")]).is_some_and(|s| *s >= 0.0));
    let mem = point(&got["process.memory.usage"].points(), &[])
        .copied()
        .unwrap();
    assert!(mem > 1_000_000.0, "resident memory {mem}");
    let dropped = got["sightline.telemetry.dropped"].points();
    assert_eq!(point(&dropped, &[("signal", "traces")]), Some(&0.0));
    for m in got.values() {
        assert_eq!(m.resource["service.name"], "sightline");
    }
}

#[test]
fn metrics_arrive_with_semconv_names_units_attributes_and_counts() {
    check(&Fixture::grpc(1.0));
}

#[test]
fn http_protobuf_carries_spans_and_metrics() {
    let rt = runtime();
    let receiver = rt.block_on(Receiver::http());
    let cfg = config(&receiver.endpoint(), OtlpProtocol::HttpProtobuf);
    let fx = Fixture::start(rt, Some(receiver), &cfg, &ExportTuning::default());
    check(&fx);
    let f = miss(&fx.tracer);
    f.finish(&fx.tracer);
    fx.flush();
    let spans = fx
        .receiver()
        .wait_spans(Duration::from_secs(10), |s| s.len() >= 3);
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|s| s.span.trace_id == f.state.trace_id));
}
