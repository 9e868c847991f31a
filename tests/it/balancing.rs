//! Load balancing through the real binary: round-robin shares, health checks taking origins out
//! of rotation and back, and retries of idempotent requests after connect failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::{
    client, fetch, free_addr, poll_until, try_fetch, with_healthz, ConfigBuilder, ProxyProcess,
    TestOrigin, TestResponse,
};

/// The health-check interval the tests configure.
const INTERVAL: Duration = Duration::from_millis(200);
/// How often the admin API's figures are sampled (`/health` may lag by this much).
const ADMIN_SAMPLE: Duration = Duration::from_secs(1);
/// Scheduling slack on a loaded machine on top of the "within two intervals" promise.
const SLACK: Duration = Duration::from_millis(400);

/// An origin answering every path with `no-store` and its name, so nothing is cached.
async fn uncacheable(name: &'static str) -> TestOrigin {
    TestOrigin::spawn(with_healthz(move |_| {
        TestResponse::ok(name)
            .header("cache-control", "no-store")
            .header("x-origin", name)
    }))
    .await
}

#[tokio::test]
async fn round_robin_spreads_300_requests_evenly_over_3_origins() {
    let origins = [
        uncacheable("a").await,
        uncacheable("b").await,
        uncacheable("c").await,
    ];
    let addrs: Vec<_> = origins.iter().map(|o| o.addr()).collect();
    let cfg = ConfigBuilder::new(&addrs).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();
    for i in 0..300 {
        let r = fetch(http.get(proxy.url("/rr"))).await;
        assert_eq!(r.status, 200, "request {i}: {r:?}");
    }
    let counts: Vec<usize> = origins.iter().map(|o| o.hits("/rr")).collect();
    eprintln!("round robin: 300 requests over 3 origins -> {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 300, "{counts:?}");
    for (i, n) in counts.iter().enumerate() {
        assert!((98..=102).contains(n), "origin {i} got {n}: {counts:?}");
    }
}

/// `healthy` of the upstream at `addr` in the admin `/health` body.
async fn upstream_healthy(proxy: &ProxyProcess, addr: &str) -> Option<bool> {
    let health = proxy.admin_json("/health").await;
    health["upstreams"]
        .as_array()?
        .iter()
        .find(|u| u["address"] == addr)?["healthy"]
        .as_bool()
}

/// Sends GETs to `url` one after another until `stop` is set; returns how many were sent and
/// a description of each that failed.
fn steady_traffic(
    url: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let http = client();
        let (mut sent, mut failures) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            sent += 1;
            match try_fetch(http.get(&url)).await {
                Ok(r) if r.status == 200 => {}
                Ok(r) => failures.push(format!("#{sent}: {} {:?} {}", r.status, r.headers, r.body)),
                Err(e) => failures.push(format!("#{sent}: {e:?}")),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (sent, failures)
    })
}

#[tokio::test]
async fn stopped_origin_leaves_rotation_without_failures_and_returns_after_restart() {
    let a = TestOrigin::named("a").await;
    let mut b = TestOrigin::named("b").await;
    let c = TestOrigin::named("c").await;
    let cfg = ConfigBuilder::new(&[a.addr(), b.addr(), c.addr()])
        .set("upstreams.retries", 2)
        .set("upstreams.health_check.unhealthy_after", 1);
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = steady_traffic(proxy.url("/work"), stop.clone());
    let all_served = poll_until(Duration::from_secs(5), || async {
        [&a, &b, &c].iter().all(|o| o.hits("/work") > 0)
    })
    .await;
    assert!(
        all_served,
        "not every origin got traffic\n{}",
        proxy.output()
    );

    b.stop().await;
    let stopped_at = Instant::now();
    // The address alone: the log line's field formatting may carry ANSI colour codes.
    let b_addr = b.addr().to_string();
    let logged = poll_until(Duration::from_secs(5), || async {
        proxy
            .stderr_text()
            .lines()
            .any(|l| l.contains("out of rotation") && l.contains(&b_addr))
    })
    .await;
    let out_after = stopped_at.elapsed();
    let reported = poll_until(Duration::from_secs(5), || async {
        upstream_healthy(&proxy, &b_addr).await == Some(false)
    })
    .await;
    let reported_after = stopped_at.elapsed();
    eprintln!(
        "health: stopped origin out of rotation after {out_after:?}, shown unhealthy in \
         /health after {reported_after:?} (check interval {INTERVAL:?}, admin samples every 1s)"
    );
    assert!(
        logged,
        "{b_addr} never left the rotation\n{}",
        proxy.output()
    );
    assert!(
        out_after <= 2 * INTERVAL + SLACK,
        "{b_addr} left the rotation only after {out_after:?}"
    );
    assert!(reported, "/health never showed {b_addr} unhealthy");
    assert!(
        reported_after <= 2 * INTERVAL + ADMIN_SAMPLE + SLACK,
        "/health showed {b_addr} unhealthy only after {reported_after:?}"
    );

    let before = b.hits("/work");
    b.restart().await;
    let back = poll_until(Duration::from_secs(5), || async {
        b.hits("/work") > before
    })
    .await;
    assert!(back, "restarted origin got no traffic\n{}", proxy.output());

    stop.store(true, Ordering::Relaxed);
    let (sent, failures) = traffic.await.expect("the traffic task does not panic");
    eprintln!(
        "health: {sent} requests through stop/restart, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "client requests failed: {failures:#?}");
}

#[tokio::test]
async fn failing_health_check_stops_traffic_within_two_intervals_and_recovery_restores_it() {
    let sick = Arc::new(AtomicBool::new(false));
    let b_sick = sick.clone();
    let b = TestOrigin::spawn(move |req| {
        if req.path() == "/healthz" && b_sick.load(Ordering::Relaxed) {
            TestResponse::status(503)
        } else {
            TestResponse::ok("b").header("cache-control", "no-store")
        }
    })
    .await;
    let (a, c) = (uncacheable("a").await, uncacheable("c").await);
    let cfg = ConfigBuilder::new(&[a.addr(), b.addr(), c.addr()])
        .set("upstreams.retries", 2)
        .set("upstreams.health_check.unhealthy_after", 1);
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();
    for _ in 0..9 {
        assert_eq!(fetch(http.get(proxy.url("/w"))).await.status, 200);
    }
    assert!(b.hits("/w") > 0, "b got no traffic while healthy");

    sick.store(true, Ordering::Relaxed);
    // The promise is about a deadline, so waiting for it is the test, not a guess.
    tokio::time::sleep(2 * INTERVAL + SLACK).await;
    let b_before = b.hits("/w");
    for i in 0..60 {
        let r = fetch(http.get(proxy.url("/w"))).await;
        assert_eq!(r.status, 200, "request {i}: {r:?}");
    }
    let shares = [a.hits("/w"), b.hits("/w") - b_before, c.hits("/w")];
    eprintln!("health: after /healthz turned 503, 60 requests -> a,b,c totals {shares:?}");
    assert_eq!(
        shares[1],
        0,
        "b still got traffic {:?} after failing its check",
        2 * INTERVAL + SLACK
    );

    sick.store(false, Ordering::Relaxed);
    let back = poll_until(Duration::from_secs(5), || async {
        fetch(http.get(proxy.url("/w"))).await.status == 200 && b.hits("/w") > b_before
    })
    .await;
    assert!(
        back,
        "b got no traffic after it passed its check again\n{}",
        proxy.output()
    );
}

#[tokio::test]
async fn get_is_retried_past_a_refusing_upstream_and_post_is_not() {
    let live = TestOrigin::named("live").await;
    let dead = free_addr();
    // No health checks: the refusing upstream stays in rotation, so only retries can help.
    // No outlier detection either (it would eject the dead one after a few GETs).
    let cfg = ConfigBuilder::new(&[live.addr(), dead])
        .set("upstreams.health_check.kind", "none")
        .set("upstreams.outlier.enabled", false);
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();

    let mut get_failures = Vec::new();
    for i in 0..30 {
        match try_fetch(http.get(proxy.url("/idempotent"))).await {
            Ok(r) if r.status == 200 => {}
            Ok(r) => get_failures.push(format!("#{i}: {} {}", r.status, r.body)),
            Err(e) => get_failures.push(format!("#{i}: {e:?}")),
        }
    }
    assert!(
        get_failures.is_empty(),
        "GETs failed despite retries: {get_failures:#?}"
    );
    assert_eq!(live.hits("/idempotent"), 30);

    let mut bad_gateways = 0;
    for i in 0..30 {
        let r = fetch(http.post(proxy.url("/unsafe")).body("x")).await;
        match r.status {
            200 => {}
            502 => {
                bad_gateways += 1;
                assert!(r.header("via").is_some(), "502 without Via: {r:?}");
                assert!(
                    !r.cache_status().is_empty(),
                    "502 without Cache-Status: {r:?}"
                );
            }
            other => panic!("POST #{i}: unexpected {other}: {r:?}"),
        }
    }
    let reached = live.hits("/unsafe");
    eprintln!("retry: 30 POSTs -> {reached} reached the live origin, {bad_gateways} got 502");
    assert!(
        bad_gateways > 0,
        "no POST failed: POSTs were retried on the next upstream"
    );
    assert_eq!(reached + bad_gateways, 30, "a POST was sent twice or lost");
}
