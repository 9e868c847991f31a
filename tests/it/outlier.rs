//! Passive health (outlier detection) through the real binary: an origin answering 503 leaves
//! the rotation after `consecutive_failures` responses, a failed probe re-ejects it for twice as
//! long, a recovered one returns; connect failures eject too; the last upstream in rotation is
//! never ejected. State is read from `/api/upstreams` and `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::{
    client, fetch, free_addr, poll_for, with_healthz, ConfigBuilder, ProxyProcess, TestOrigin,
    TestResponse,
};

/// Admin figures are sampled once a second; allow for a loaded machine.
const ADMIN_WAIT: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An origin answering every path but `/healthz` with 503 while `failing`, else 200 `name`.
async fn flaky(name: &'static str, failing: Arc<AtomicBool>) -> TestOrigin {
    TestOrigin::spawn(with_healthz(move |_| {
        if failing.load(Ordering::Relaxed) {
            TestResponse::status(503).header("cache-control", "no-store")
        } else {
            TestResponse::ok(name).header("cache-control", "no-store")
        }
    }))
    .await
}

async fn ok_origin(name: &'static str) -> TestOrigin {
    TestOrigin::spawn(with_healthz(move |_| {
        TestResponse::ok(name).header("cache-control", "no-store")
    }))
    .await
}

/// The `/api/upstreams` entry for `addr`.
async fn upstream(proxy: &ProxyProcess, addr: &str) -> Value {
    let v = proxy.admin_json("/api/upstreams").await;
    v["upstreams"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["address"] == addr).cloned())
        .unwrap_or_else(|| panic!("{addr} not in /api/upstreams: {v}"))
}

/// Polls `/api/upstreams` until `addr`'s entry satisfies `want`.
async fn upstream_when(proxy: &ProxyProcess, addr: &str, want: impl Fn(&Value) -> bool) -> Value {
    let found = poll_for(ADMIN_WAIT, || async {
        let u = upstream(proxy, addr).await;
        want(&u).then_some(u)
    })
    .await;
    match found {
        Some(u) => u,
        None => panic!(
            "{addr} never reached the wanted state: {}\n{}",
            upstream(proxy, addr).await,
            proxy.output()
        ),
    }
}

fn config(addrs: &[std::net::SocketAddr], failures: i64) -> ConfigBuilder {
    ConfigBuilder::new(addrs)
        .set("upstreams.outlier.consecutive_failures", failures)
        .set("upstreams.outlier.base_ejection", "1s")
        .set("upstreams.outlier.max_ejection", "10s")
}

#[tokio::test]
async fn origin_answering_503_is_ejected_reprobed_and_returns_after_recovery() {
    let failing = Arc::new(AtomicBool::new(true));
    let bad = flaky("bad", failing.clone()).await;
    let good = [ok_origin("a").await, ok_origin("b").await];
    let addrs = [bad.addr(), good[0].addr(), good[1].addr()];
    // Health checks pass on every origin (`/healthz` is 200): only passive health can help.
    let proxy = ProxyProcess::start_with_admin(config(&addrs, 3)).await;
    let bad_addr = bad.addr().to_string();
    let http = client();

    // Round robin brings every third request to `bad` until three 503s in a row eject it.
    let mut statuses = Vec::new();
    for _ in 0..9 {
        statuses.push(fetch(http.get(proxy.url("/x"))).await.status);
    }
    assert_eq!(bad.hits("/x"), 3, "statuses {statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), 3);
    let u = upstream_when(&proxy, &bad_addr, |u| u["ejected"] == true).await;
    assert_eq!(u["ejections"], 1, "{u}");
    assert!(
        u["ejection_reason"]
            .as_str()
            .is_some_and(|r| r.contains("5xx")),
        "{u}"
    );
    let until = u["ejected_until_unix_ms"].as_u64().expect("until is set");

    // While ejected it gets nothing; every client gets a 200.
    let mut sent = 0;
    while now_ms() + 150 < until {
        let r = fetch(http.get(proxy.url("/x"))).await;
        assert_eq!(r.status, 200, "{r:?}");
        sent += 1;
    }
    assert_eq!(bad.hits("/x"), 3, "an ejected upstream got traffic");
    eprintln!("outlier: {sent} requests while ejected, none reached the failing origin");

    // After the ejection the first request it gets is a probe: a 503 re-ejects it for 2 s.
    let probed = poll_for(ADMIN_WAIT, || async {
        fetch(http.get(proxy.url("/x"))).await;
        (bad.hits("/x") > 3).then_some(())
    })
    .await;
    assert!(
        probed.is_some(),
        "the ejected origin was never probed again"
    );
    assert_eq!(bad.hits("/x"), 4, "one failed probe re-ejects at once");
    let u = upstream_when(&proxy, &bad_addr, |u| u["ejections"] == 2).await;
    let until2 = u["ejected_until_unix_ms"].as_u64().unwrap();
    assert!(until2 >= until + 2000, "second ejection not doubled: {u}");

    // Recovered: after the second ejection it returns, and a success keeps it in rotation.
    failing.store(false, Ordering::Relaxed);
    let back = poll_for(ADMIN_WAIT, || async {
        let r = fetch(http.get(proxy.url("/x"))).await;
        (r.body == "bad").then_some(())
    })
    .await;
    assert!(back.is_some(), "the recovered origin never returned");
    let u = upstream_when(&proxy, &bad_addr, |u| u["ejected"] == false).await;
    assert_eq!(u["ejections"], 2, "{u}");
    assert!(u["ejected_until_unix_ms"].is_null(), "{u}");
    let before = bad.hits("/x");
    for _ in 0..9 {
        assert_eq!(fetch(http.get(proxy.url("/x"))).await.status, 200);
    }
    assert_eq!(bad.hits("/x"), before + 3, "back in the round robin");

    let metrics = fetch(http.get(proxy.admin_url("/metrics"))).await.body;
    let line = format!("sightline_upstream_ejections_total{{upstream=\"{bad_addr}\"}} 2");
    assert!(
        metrics.lines().any(|l| l.starts_with(&line)),
        "no `{line}` in /metrics:\n{metrics}"
    );
    assert!(
        metrics.contains("sightline_upstream_ejected{"),
        "no ejected gauge in /metrics"
    );
}

#[tokio::test]
async fn connect_failures_eject_a_dead_upstream_and_gets_never_fail() {
    let live = ok_origin("live").await;
    let dead = free_addr();
    let cfg = config(&[live.addr(), dead], 2).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    for i in 0..10 {
        let r = fetch(http.get(proxy.url("/y"))).await;
        assert_eq!(r.status, 200, "GET #{i} (retried past the dead one): {r:?}");
    }
    let u = upstream_when(&proxy, &dead.to_string(), |u| u["ejected"] == true).await;
    assert!(
        u["ejection_reason"]
            .as_str()
            .is_some_and(|r| r.contains("connect")),
        "{u}"
    );
    let alerts = poll_for(ADMIN_WAIT, || async {
        let v = proxy.admin_json("/api/alerts").await;
        let s = v["active"].to_string();
        (s.contains("upstream_down") && s.contains(&dead.to_string())).then_some(v)
    })
    .await;
    assert!(
        alerts.is_some(),
        "an ejected upstream raises upstream_down: {}",
        proxy.admin_json("/api/alerts").await
    );
}

#[tokio::test]
async fn the_last_upstream_in_rotation_is_never_ejected() {
    // Alone: every request still reaches it, however many 503s it answers.
    let failing = Arc::new(AtomicBool::new(true));
    let only = flaky("only", failing.clone()).await;
    let proxy = ProxyProcess::start_with_admin(config(&[only.addr()], 2)).await;
    let http = client();
    for _ in 0..12 {
        assert_eq!(fetch(http.get(proxy.url("/z"))).await.status, 503);
    }
    assert_eq!(only.hits("/z"), 12, "the only upstream was taken out");
    let u = upstream(&proxy, &only.addr().to_string()).await;
    assert_eq!(u["ejected"], false, "{u}");
    assert_eq!(u["ejections"], 0, "{u}");
    drop(proxy);

    // Two failing origins: one may be ejected, never both; no request gets a proxy 502.
    let (fa, fb) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(true)),
    );
    let a = flaky("a", fa).await;
    let b = flaky("b", fb).await;
    let proxy = ProxyProcess::start_with_admin(config(&[a.addr(), b.addr()], 2)).await;
    for i in 0..20 {
        let r = fetch(http.get(proxy.url("/z"))).await;
        assert_eq!(
            r.status, 503,
            "#{i}: the origin's 503, not a proxy error: {r:?}"
        );
    }
    assert_eq!(a.hits("/z") + b.hits("/z"), 20);
    // The first to reach the threshold is ejected (which one depends on where the round robin
    // started); the other then carries everything and is never ejected.
    let (a_addr, b_addr) = (a.addr().to_string(), b.addr().to_string());
    let pair = poll_for(ADMIN_WAIT, || async {
        let (u, v) = (
            upstream(&proxy, &a_addr).await,
            upstream(&proxy, &b_addr).await,
        );
        let n = |x: &Value| x["ejections"].as_u64().unwrap_or(0);
        (n(&u) + n(&v) >= 1).then_some((u, v))
    })
    .await;
    let (u, v) = pair.unwrap_or_else(|| panic!("neither was ejected\n{}", proxy.output()));
    let ejected_now = [&u, &v].iter().filter(|x| x["ejected"] == true).count();
    assert!(ejected_now <= 1, "both ejected: {u} {v}");
    let kept = [&u, &v]
        .iter()
        .filter(|x| x["ejections"].as_u64() == Some(0))
        .count();
    assert_eq!(kept, 1, "the last one in rotation was ejected too: {u} {v}");
}
