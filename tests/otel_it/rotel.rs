//! A real collector in the path: OtelGuard → rotel → the in-process receiver.
//!
//! Needs `pip install rotel` (or `$ROTEL_AGENT`); without it the test says so and passes,
//! unless `REQUIRE_ROTEL` is set (as CI should), where a missing rotel fails it.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sightline::config::OtlpProtocol;
use sightline::telemetry::otel::ExportTuning;
use sightline::telemetry::upstreams::UpstreamBoard;
use sightline::telemetry::CacheUsage;

use super::{config, miss, runtime, upstreams, wait_until, Fixture};
use crate::otlp_receiver::rotel::{rotel_agent, Rotel};
use crate::otlp_receiver::Receiver;

#[test]
fn spans_and_metrics_pass_through_a_real_collector() {
    let Some(bin) = rotel_agent() else {
        assert!(
            std::env::var_os("REQUIRE_ROTEL").is_none(),
            "rotel-agent not found"
        );
        eprintln!("SKIPPED: rotel not installed (pip install rotel, or set ROTEL_AGENT)");
        return;
    };
    let rt = runtime();
    let receiver = rt.block_on(Receiver::grpc());
    let rotel = Rotel::start(&bin, &receiver.endpoint());
    let cfg = config(&rotel.grpc_endpoint, OtlpProtocol::Grpc);
    let fx = Fixture::start(rt, Some(receiver), &cfg, &ExportTuning::default());
    let board = Arc::new(UpstreamBoard::new(&upstreams()));
    let stats = Arc::new(sightline::telemetry::stats::LiveStats::new(
        board.capacity(),
    ));
    let metrics = fx
        .guard()
        .metrics(stats, board, Arc::new(CacheUsage::default));

    let mut sent = Vec::new();
    for _ in 0..5 {
        let f = miss(&fx.tracer);
        f.finish(&fx.tracer);
        metrics.record(&f.record());
        sent.push((f.state.trace_id, f.attempts[0].span_id));
    }
    fx.flush();
    let spans = fx
        .receiver()
        .wait_spans(Duration::from_secs(15), |s| s.len() >= 15);
    assert_eq!(spans.len(), 15);
    for (trace_id, client_id) in sent {
        let client = spans
            .iter()
            .find(|s| s.span.trace_id == trace_id && s.span.kind == SpanKind::Client as i32)
            .expect("the CLIENT span of every request");
        assert_eq!(client.span.span_id, client_id);
        assert_eq!(client.resource["service.name"], "sightline");
    }
    let r = fx.receiver();
    assert!(wait_until(Duration::from_secs(15), || r
        .latest_metrics()
        .get("http.server.request.duration")
        .is_some_and(|m| m
            .points()
            .iter()
            .map(|(_, c)| c)
            .sum::<f64>()
            == 5.0)));
    drop(rotel);
}
