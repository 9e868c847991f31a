//! Alert engine tests: exact lines, one per transition, cooldown, history and ack.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::config::{AlertMetric, AlertOp, AlertRule, AlertsConfig, Severity};
use crate::observe::snapshot::UpstreamFigures;
use crate::telemetry::clock::ManualClock;
use crate::telemetry::recent::RequestInfo;

#[derive(Default)]
pub(crate) struct VecSink(pub(crate) Mutex<Vec<String>>);

impl AlertSink for VecSink {
    fn emit(&self, e: &AlertEvent) {
        self.0.lock().unwrap().push(e.line.clone());
    }
}

impl VecSink {
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub(crate) fn latency_rule(for_secs: u64) -> AlertRule {
    AlertRule {
        name: "high_latency".into(),
        metric: AlertMetric::AvgResponseTimeMs,
        op: AlertOp::Gt,
        threshold: 200.0,
        for_: Duration::from_secs(for_secs),
        severity: Severity::Warning,
        min_samples: 0,
    }
}

pub(crate) fn config(rules: Vec<AlertRule>, upstream_down_rule: bool) -> AlertsConfig {
    AlertsConfig {
        cooldown: Duration::from_secs(60),
        webhook: None,
        rules,
        upstream_down_rule,
    }
}

fn engine(cfg: AlertsConfig) -> (Arc<AlertEngine>, Arc<ManualClock>, Arc<VecSink>) {
    let clock = Arc::new(ManualClock::new());
    let sink = Arc::new(VecSink::default());
    (
        AlertEngine::new(&cfg, clock.clone(), sink.clone()),
        clock,
        sink,
    )
}

fn with_latency(avg: f64) -> MetricsSnapshot {
    let mut s = MetricsSnapshot::default();
    s.window.requests = 100;
    s.window.avg_response_time_ms = avg;
    s.window.slowest = ["aa", "bb"]
        .iter()
        .map(|id| RequestInfo {
            unix_ms: 0,
            method: "GET".into(),
            path: "/slow".into(),
            status: 200,
            latency_ms: 900.0,
            cache: "miss".into(),
            upstream: None,
            trace_id: Some(id.repeat(16)),
        })
        .collect();
    s
}

/// Evaluates `snap` once a second for `secs` seconds, returning the lines printed.
fn run_for(
    e: &AlertEngine,
    clock: &ManualClock,
    sink: &VecSink,
    snap: &MetricsSnapshot,
    secs: u64,
) -> Vec<String> {
    for _ in 0..secs {
        e.evaluate(snap);
        clock.advance(Duration::from_secs(1));
    }
    sink.take()
}

#[test]
fn latency_alert_fires_after_for_then_resolves_once() {
    let (e, clock, sink) = engine(config(vec![latency_rule(10)], false));
    let hot = with_latency(250.3);
    assert!(
        run_for(&e, &clock, &sink, &hot, 10).is_empty(),
        "still pending"
    );
    assert_eq!(
        run_for(&e, &clock, &sink, &hot, 1),
        ["ALERT FIRING warning high_latency: avg_response_time_ms=250.3 > 200 for 10s"]
    );
    assert!(
        run_for(&e, &clock, &sink, &hot, 41).is_empty(),
        "no repeat while firing"
    );
    let active = e.active();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].trace_ids, vec!["aa".repeat(16), "bb".repeat(16)]);
    assert_eq!(
        run_for(&e, &clock, &sink, &with_latency(20.0), 5),
        ["ALERT RESOLVED high_latency after 42s"]
    );
    let hist = e.history();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].state, AlertEventKind::Resolved);
    assert_eq!(hist[0].duration_seconds, Some(42.0));
    assert_eq!(hist[0].peak, 250.3);
}

#[test]
fn no_refire_within_cooldown() {
    let (e, clock, sink) = engine(config(vec![latency_rule(0)], false));
    assert_eq!(run_for(&e, &clock, &sink, &with_latency(300.0), 1).len(), 1);
    assert_eq!(run_for(&e, &clock, &sink, &with_latency(1.0), 1).len(), 1);
    // Back above the threshold: quiet for the 60 s cooldown after resolving, then fires.
    assert!(run_for(&e, &clock, &sink, &with_latency(300.0), 59).is_empty());
    assert_eq!(
        run_for(&e, &clock, &sink, &with_latency(300.0), 1),
        ["ALERT FIRING warning high_latency: avg_response_time_ms=300 > 200 for 0s"]
    );
}

#[test]
fn upstream_down_warns_per_upstream() {
    let (e, clock, sink) = engine(config(vec![], true));
    let mut s = MetricsSnapshot::default();
    for (addr, healthy) in [("127.0.0.1:9001", true), ("127.0.0.1:9002", false)] {
        s.upstreams.push(UpstreamFigures {
            address: addr.into(),
            healthy,
            ..Default::default()
        });
    }
    assert_eq!(
        run_for(&e, &clock, &sink, &s, 3),
        ["ALERT FIRING warning upstream_down(127.0.0.1:9002): upstream_healthy=0 < 1 for 0s"]
    );
    let brief = e.published().active.clone();
    assert_eq!(brief[0].target.as_deref(), Some("127.0.0.1:9002"));
    s.upstreams[1].healthy = true;
    assert_eq!(
        run_for(&e, &clock, &sink, &s, 1),
        ["ALERT RESOLVED upstream_down(127.0.0.1:9002) after 3s"]
    );
}

#[test]
fn an_ejected_upstream_is_down() {
    let (e, clock, sink) = engine(config(vec![], true));
    let mut s = MetricsSnapshot::default();
    s.upstreams.push(UpstreamFigures {
        address: "127.0.0.1:9001".into(),
        healthy: true,
        ejected: true,
        ..Default::default()
    });
    assert_eq!(
        run_for(&e, &clock, &sink, &s, 1),
        ["ALERT FIRING warning upstream_down(127.0.0.1:9001): upstream_healthy=0 < 1 for 0s"]
    );
    s.upstreams[0].ejected = false;
    assert_eq!(
        run_for(&e, &clock, &sink, &s, 1),
        ["ALERT RESOLVED upstream_down(127.0.0.1:9001) after 1s"]
    );
}

#[test]
fn ack_marks_the_alert() {
    let (e, clock, sink) = engine(config(vec![latency_rule(0)], false));
    run_for(&e, &clock, &sink, &with_latency(300.0), 1);
    let id = e.active()[0].id;
    assert!(e.ack(id).unwrap().acknowledged);
    assert!(e.published().active[0].acknowledged);
    assert!(e.ack(id + 100).is_none());
}

#[test]
fn history_keeps_the_last_hundred_newest_first() {
    let mut cfg = config(vec![latency_rule(0)], false);
    cfg.cooldown = Duration::ZERO;
    let (e, clock, sink) = engine(cfg);
    for _ in 0..120 {
        run_for(&e, &clock, &sink, &with_latency(300.0), 1);
        run_for(&e, &clock, &sink, &with_latency(1.0), 1);
    }
    let h = e.history();
    assert_eq!(h.len(), HISTORY_LEN);
    assert_eq!(h[0].id, 120);
    assert!(h.windows(2).all(|w| w[0].id > w[1].id));
}

#[tokio::test]
async fn running_engine_publishes_its_alerts() {
    use crate::observe::observatory::tests::Fixture;
    use crate::telemetry::record::CacheOutcome;

    let f = Fixture::new(1, Duration::from_secs(10));
    let sink = Arc::new(VecSink::default());
    let e = AlertEngine::new(&config(vec![latency_rule(0)], true), f.clock.clone(), sink);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let mut published = e.watch_published();
    let task = e.start(f.obs.clone(), shutdown);
    f.feed(10, 200, CacheOutcome::Miss, 500);
    f.second();
    let generated = f.obs.snapshot().generated_unix_ms;
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        published.wait_for(|p| p.evaluated_unix_ms == generated),
    )
    .await
    .expect("the sampled snapshot is evaluated and published")
    .unwrap()
    .clone();
    assert_eq!(got.active[0].name, "high_latency");
    assert!(
        f.obs.snapshot().alerts.is_empty(),
        "the observatory's snapshot stays the engine's input, never its output"
    );
    let combined = MetricsSnapshot::with_alerts(f.obs.snapshot(), &got.active);
    assert_eq!(combined.alerts, got.active);
    task.abort();
}

#[test]
fn replacing_rules_keeps_unchanged_ones_and_resolves_removed_ones() {
    let (e, _clock, _sink) = engine(config(vec![latency_rule(0)], false));
    e.evaluate(&with_latency(300.0));
    assert_eq!(e.active().len(), 1);
    // Unchanged rule: its alert keeps firing.
    e.replace_rules(&[latency_rule(0)]);
    assert_eq!(e.active().len(), 1);
    assert_eq!(e.rules().0.len(), 1);
    // Changed threshold: the old alert moves to the history, the new rule starts afresh.
    let mut higher = latency_rule(0);
    higher.threshold = 500.0;
    e.replace_rules(&[higher]);
    assert!(e.active().is_empty());
    assert_eq!(e.history().len(), 1);
    assert!(e.published().active.is_empty());
    e.evaluate(&with_latency(300.0));
    assert!(e.active().is_empty(), "300 ms is under the new threshold");
    e.replace_rules(&[]);
    assert!(e.rules().0.is_empty());
}
