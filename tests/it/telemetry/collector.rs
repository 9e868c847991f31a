//! A real OpenTelemetry collector in the path: sightline → rotel (OTLP in, OTLP out) → the
//! test's receiver, the topology `docker-compose.yml` ships with the collector in the middle.
//!
//! Needs `pip install rotel` (or `$ROTEL_AGENT`); without it the test says so loudly and
//! passes, unless `REQUIRE_ROTEL` is set (`.ci/run` sets it), where a missing rotel fails.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::{
    hex, in_trace, metered, of_kind, parse_context, total, trace_response, traced, wait_metrics,
    wait_spans, ARRIVAL,
};
use crate::telemetry::otlp_receiver::rotel::{rotel_agent, Rotel};
use crate::telemetry::otlp_receiver::Receiver;
use crate::util::{client, fetch, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_pass_through_a_real_collector() {
    let Some(bin) = rotel_agent() else {
        assert!(
            std::env::var_os("REQUIRE_ROTEL").is_none(),
            "REQUIRE_ROTEL is set but rotel-agent was not found (pip install rotel)"
        );
        eprintln!(
            "SKIPPED spans_and_metrics_pass_through_a_real_collector: rotel not installed \
             (pip install rotel, or set ROTEL_AGENT)"
        );
        return;
    };
    let receiver = Receiver::grpc().await;
    let forward_to = receiver.endpoint();
    // Rotel::start waits for the port with a blocking poll: keep it off the runtime's workers.
    let rotel = tokio::task::spawn_blocking(move || Rotel::start(&bin, &forward_to))
        .await
        .expect("rotel starts");
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("via rotel").header("cache-control", "max-age=60"))
            .await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let cfg = metered(traced(cfg, &rotel.grpc_endpoint), &rotel.grpc_endpoint);
    let mut proxy = ProxyProcess::start(cfg).await;

    let http = client();
    let miss = fetch(http.get(proxy.url("/through/collector"))).await;
    let hit = fetch(http.get(proxy.url("/through/collector"))).await;
    assert_eq!(
        (miss.status, hit.cache_status()),
        (200, "sightline; hit"),
        "{hit:?}"
    );
    let (miss_trace, hit_trace) = (
        trace_response(&miss).trace_id,
        trace_response(&hit).trace_id,
    );

    let spans = wait_spans(&receiver, ARRIVAL, |s| {
        in_trace(s, &miss_trace).len() >= 3 && in_trace(s, &hit_trace).len() >= 2
    })
    .await;
    let tree = in_trace(&spans, &miss_trace);
    assert_eq!(
        tree.len(),
        3,
        "the miss's spans through rotel: {spans:#?}\n{}",
        proxy.output()
    );
    let server = of_kind(&tree, SpanKind::Server);
    assert_eq!(server.len(), 1, "{tree:#?}");
    assert_eq!(server[0].span.name, "GET");
    assert_eq!(server[0].attrs["url.path"], "/through/collector");
    assert_eq!(server[0].attrs["sightline.cache.status"], "miss");
    assert_eq!(server[0].resource["service.name"], "sightline");
    let upstream = of_kind(&tree, SpanKind::Client);
    assert_eq!(upstream.len(), 1, "{tree:#?}");
    let seen = origin.requests_to("/through/collector");
    let sent = parse_context(seen[0].header("traceparent").expect("traceparent upstream"));
    assert_eq!(sent.parent_id, hex(&upstream[0].span.span_id));
    let tree = in_trace(&spans, &hit_trace);
    assert_eq!(tree.len(), 2, "the hit: SERVER and cache lookup: {tree:#?}");
    assert_eq!(
        of_kind(&tree, SpanKind::Server)[0].attrs["sightline.cache.status"],
        "hit"
    );

    let m = wait_metrics(&receiver, ARRIVAL, |m| {
        total(m, "http.server.request.duration") == 2.0
            && total(m, "sightline.cache.requests") == 2.0
    })
    .await;
    assert_eq!(
        total(&m, "http.server.request.duration"),
        2.0,
        "metrics through rotel: {:?}\n{}",
        m.keys(),
        proxy.output()
    );
    let d = &m["http.server.request.duration"];
    assert_eq!(d.metric.unit, "s");
    assert_eq!(d.resource["service.name"], "sightline");
    let results: std::collections::HashMap<String, f64> = m["sightline.cache.requests"]
        .points()
        .into_iter()
        .map(|(a, v)| (a["result"].clone(), v))
        .collect();
    assert_eq!(results.get("hit"), Some(&1.0), "{results:?}");
    assert_eq!(results.get("miss"), Some(&1.0), "{results:?}");
    for name in [
        "http.server.active_requests",
        "http.client.request.duration",
        "sightline.upstream.healthy",
        "process.memory.usage",
        "sightline.telemetry.dropped",
    ] {
        assert!(m.contains_key(name), "{name} through rotel: {:?}", m.keys());
    }

    let status = proxy.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
    drop(rotel);
}
