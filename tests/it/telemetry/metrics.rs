//! OTLP metrics from real traffic: names, units, attribute sets and counts that match the
//! requests sent and what each response said about the cache.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::metric;

use super::{metered, total, wait_metrics, RecvMetric, ARRIVAL};
use crate::telemetry::otlp_receiver::Receiver;
use crate::util::{
    client, fetch, free_addr, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

/// The semconv HTTP duration buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How long `/slow` keeps a request in flight: long enough for a 1 s export to see it.
const SLOW: Duration = Duration::from_secs(3);

/// `sightline.cache.status` for a `Cache-Status` header value (spec §4 and §5).
fn cache_result(header: &str) -> &'static str {
    if header == "sightline; hit" {
        "hit"
    } else if header.contains("fwd=bypass") {
        "bypass"
    } else if header.contains("fwd=stale") {
        "stale"
    } else if header.contains("miss") {
        "miss"
    } else {
        panic!("unexpected Cache-Status {header:?}")
    }
}

/// One point's attribute value, or `""`.
fn attr<'a>(attrs: &'a HashMap<String, String>, key: &str) -> &'a str {
    attrs.get(key).map_or("", String::as_str)
}

fn metric<'a>(m: &'a HashMap<String, RecvMetric>, name: &str) -> &'a RecvMetric {
    m.get(name)
        .unwrap_or_else(|| panic!("metric {name} not exported; got {:?}", m.keys()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_request_with_semconv_names_units_and_attributes() {
    let receiver = Receiver::grpc().await;
    let origin = TestOrigin::spawn(|req| match req.path() {
        "/healthz" => TestResponse::ok("ok"),
        "/slow" => TestResponse::ok("slow")
            .header("cache-control", "no-store")
            .delay(SLOW),
        "/gone" => TestResponse::status(404).header("cache-control", "no-store"),
        _ => TestResponse::ok("static").header("cache-control", "max-age=60"),
    })
    .await;
    // A second upstream nobody listens on: health checks take it out of rotation.
    let down = free_addr();
    let cfg = ConfigBuilder::new(&[origin.addr(), down]);
    let mut proxy = ProxyProcess::start(metered(cfg, &receiver.endpoint())).await;
    let (up_label, down_label) = (origin.addr().to_string(), down.to_string());
    let health_of = |m: &HashMap<String, RecvMetric>| -> HashMap<String, f64> {
        m.get("sightline.upstream.healthy")
            .map(|m| {
                m.points()
                    .into_iter()
                    .map(|(a, v)| (attr(&a, "sightline.upstream").to_owned(), v))
                    .collect()
            })
            .unwrap_or_default()
    };
    let m = wait_metrics(&receiver, ARRIVAL, |m| {
        let h = health_of(m);
        h.get(&up_label) == Some(&1.0) && h.get(&down_label) == Some(&0.0)
    })
    .await;
    assert_eq!(
        health_of(&m),
        HashMap::from([(up_label.clone(), 1.0), (down_label.clone(), 0.0)]),
        "sightline.upstream.healthy per upstream\n{}",
        proxy.output()
    );

    let http = client();
    let mut sent = Vec::new();
    // A request in flight shows in http.server.active_requests.
    let slow = tokio::spawn(fetch(http.get(proxy.url("/slow"))));
    let m = wait_metrics(&receiver, SLOW, |m| {
        total(m, "http.server.active_requests") == 1.0
    })
    .await;
    assert_eq!(
        total(&m, "http.server.active_requests"),
        1.0,
        "while /slow is in flight"
    );
    sent.push(slow.await.expect("the slow request task does not panic"));
    for path in ["/s/a", "/s/b", "/s/c", "/s/d"] {
        for _ in 0..3 {
            sent.push(fetch(http.get(proxy.url(path))).await);
        }
    }
    for _ in 0..3 {
        sent.push(fetch(http.get(proxy.url("/gone"))).await);
    }
    let n = sent.len() as f64;

    // What the responses said, per (status, cache result).
    let mut expected: HashMap<(String, String), f64> = HashMap::new();
    for r in &sent {
        let key = (
            r.status.to_string(),
            cache_result(r.cache_status()).to_owned(),
        );
        *expected.entry(key).or_default() += 1.0;
    }
    assert_eq!(expected[&("200".into(), "hit".into())], 8.0, "{sent:#?}");

    let m = wait_metrics(&receiver, ARRIVAL, |m| {
        total(m, "http.server.request.duration") == n
            && total(m, "sightline.cache.requests") == n
            && total(m, "http.server.active_requests") == 0.0
    })
    .await;

    // http.server.request.duration: seconds, semconv buckets, method/status/cache status.
    let d = metric(&m, "http.server.request.duration");
    assert_eq!(d.metric.unit, "s");
    let Some(metric::Data::Histogram(h)) = &d.metric.data else {
        panic!(
            "http.server.request.duration is not a histogram: {:?}",
            d.metric
        )
    };
    let mut got: HashMap<(String, String), f64> = HashMap::new();
    let mut seconds = 0.0;
    for p in &h.data_points {
        assert_eq!(p.explicit_bounds, BUCKETS, "semconv buckets");
        let a = super::otlp_receiver::attr_map(&p.attributes);
        assert_eq!(attr(&a, "http.request.method"), "GET", "{a:?}");
        let key = (
            attr(&a, "http.response.status_code").to_owned(),
            attr(&a, "sightline.cache.status").to_owned(),
        );
        *got.entry(key).or_default() += p.count as f64;
        seconds += p.sum.unwrap_or(0.0);
    }
    assert_eq!(got, expected, "request counts by (status, cache status)");
    assert_eq!(total(&m, "http.server.request.duration"), n);
    // In seconds, not milliseconds: /slow alone took SLOW, everything else was quick.
    assert!(
        seconds >= SLOW.as_secs_f64() && seconds < SLOW.as_secs_f64() + 5.0,
        "sum of durations {seconds} s"
    );

    // sightline.cache.requests by result.
    let c = metric(&m, "sightline.cache.requests");
    let mut by_result: HashMap<String, f64> = HashMap::new();
    for (a, v) in c.points() {
        *by_result.entry(attr(&a, "result").to_owned()).or_default() += v;
    }
    let mut expected_results: HashMap<String, f64> = HashMap::new();
    for ((_, result), count) in &expected {
        *expected_results.entry(result.clone()).or_default() += count;
    }
    assert_eq!(
        by_result, expected_results,
        "sightline.cache.requests by result"
    );

    // http.client.request.duration: one per upstream attempt, labelled with the upstream.
    let attempts = origin
        .requests()
        .iter()
        .filter(|r| r.path() != "/healthz")
        .count() as f64;
    let cd = metric(&m, "http.client.request.duration");
    assert_eq!(cd.metric.unit, "s");
    let mut per_port: HashMap<String, f64> = HashMap::new();
    for (a, v) in cd.points() {
        assert_eq!(attr(&a, "server.address"), "127.0.0.1", "{a:?}");
        *per_port
            .entry(attr(&a, "server.port").to_owned())
            .or_default() += v;
    }
    assert_eq!(
        per_port,
        HashMap::from([(origin.addr().port().to_string(), attempts)]),
        "client durations per upstream"
    );

    // Gauges and counters read at collection time.
    let active = metric(&m, "http.server.active_requests");
    assert_eq!(active.metric.unit, "{request}");
    assert_eq!(total(&m, "http.server.active_requests"), 0.0);
    assert_eq!(
        total(&m, "sightline.cache.entries"),
        4.0,
        "the four max-age paths"
    );
    let size = total(&m, "sightline.cache.size");
    assert!(size > 0.0, "sightline.cache.size {size}");
    assert_eq!(metric(&m, "sightline.cache.size").metric.unit, "By");
    let mem = metric(&m, "process.memory.usage");
    assert_eq!(mem.metric.unit, "By");
    let rss = total(&m, "process.memory.usage");
    assert!(
        (1024.0 * 1024.0..4.0 * 1024.0 * 1024.0 * 1024.0).contains(&rss),
        "process.memory.usage {rss} B"
    );
    let uptime = metric(&m, "sightline.uptime");
    assert_eq!(uptime.metric.unit, "s");
    let components: HashMap<String, f64> = uptime
        .points()
        .into_iter()
        .map(|(a, v)| (attr(&a, "component").to_owned(), v))
        .collect();
    for (name, secs) in &components {
        assert!(*secs > 0.0 && *secs < 600.0, "uptime of {name}: {secs} s");
    }
    for name in ["http_server", "cache", "load_balancer"] {
        assert!(
            components.contains_key(name),
            "sightline.uptime per component (spec §5, the components of /health): \
             no {name:?} in {components:?}"
        );
    }
    let dropped = metric(&m, "sightline.telemetry.dropped");
    let dropped: HashMap<String, f64> = dropped
        .points()
        .into_iter()
        .map(|(a, v)| (attr(&a, "signal").to_owned(), v))
        .collect();
    assert_eq!(
        dropped,
        HashMap::from([("traces".to_owned(), 0.0), ("metrics".to_owned(), 0.0)]),
        "nothing dropped with a live receiver"
    );
    for r in m.values() {
        assert_eq!(
            r.resource.get("service.name").map(String::as_str),
            Some("sightline")
        );
    }
    let status = proxy.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
}
