//! The admin API through the real binary (spec §6): `/health` fields and status rules, the
//! bearer token, recent requests, upstreams, history, bad parameters, cache purges and
//! `sightline top`. Also the helpers the other admin test modules read the API with.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::load::unix_ms_now;
use crate::util::{
    client, fetch, poll_for, sightline_command, ConfigBuilder, Fetched, ProxyProcess,
    RecordedRequest, TestOrigin, TestResponse, POLL_INTERVAL,
};

/// The health-check interval `ConfigBuilder` configures.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);
/// The admin's figures are sampled once a second, so `/health` may lag by this much.
const SAMPLE_LAG: Duration = Duration::from_secs(1);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(400);

/// An origin site: `/healthz` 200 `ok`; `/c/*` cacheable for 60 s; `/status/NNN` answers NNN;
/// anything else 200 with `no-store`. Bodies name the path.
pub(crate) fn site(req: &RecordedRequest) -> TestResponse {
    let path = req.path();
    if path == "/healthz" {
        return TestResponse::ok("ok");
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let code = code.parse().unwrap_or(500);
        return TestResponse::status(code)
            .header("cache-control", "no-store")
            .body(format!("status {code}"));
    }
    let cacheable = path.starts_with("/c/");
    let cc = if cacheable { "max-age=60" } else { "no-store" };
    TestResponse::ok(format!("body of {}", req.uri)).header("cache-control", cc)
}

/// `GET` an admin path, with `Authorization: Bearer TOKEN` when given.
pub(crate) async fn admin_get(proxy: &ProxyProcess, path: &str, token: Option<&str>) -> Fetched {
    let mut req = client().get(proxy.admin_url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    fetch(req).await
}

/// `POST` a JSON body to an admin path, with the bearer token when given.
pub(crate) async fn admin_post(
    proxy: &ProxyProcess,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> Fetched {
    let mut req = client()
        .post(proxy.admin_url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    fetch(req).await
}

/// The body as JSON; panics naming the response when it is not.
pub(crate) fn json_of(r: &Fetched) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

/// The number at a JSON pointer (`"/window/requests"`); panics naming the document.
pub(crate) fn num(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

/// Polls `/api/summary` until `accept` takes one; panics with the last one (and the proxy's
/// output) after `timeout`.
pub(crate) async fn summary_where(
    proxy: &ProxyProcess,
    timeout: Duration,
    what: &str,
    accept: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let s = proxy.admin_json("/api/summary").await;
        if accept(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "no /api/summary with {what} within {timeout:?}; last: {s}\n{}",
            proxy.output()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The first `/api/summary` sampled at or after `since_unix_ms`.
pub(crate) async fn summary_since(proxy: &ProxyProcess, since_unix_ms: u64) -> Value {
    summary_where(
        proxy,
        Duration::from_secs(5),
        &format!("generated_unix_ms >= {since_unix_ms}"),
        |s| s["generated_unix_ms"].as_u64().unwrap_or(0) >= since_unix_ms,
    )
    .await
}

/// The first `/api/summary` counting at least `n` finished requests.
pub(crate) async fn summary_counting(proxy: &ProxyProcess, n: u64) -> Value {
    summary_where(
        proxy,
        Duration::from_secs(5),
        &format!("totals.requests >= {n}"),
        |s| s["totals"]["requests"].as_u64().unwrap_or(0) >= n,
    )
    .await
}

/// Asserts a JSON error answer `{"error": "..."}` with `status`.
pub(crate) fn assert_json_error(r: &Fetched, status: u16, context: &str) {
    assert_eq!(r.status, status, "{context}: {r:?}");
    let body = json_of(r);
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{context}: no JSON error message: {r:?}"
    );
}

/// `n second(s)` for uptimes under a minute (the `/health` wording).
fn seconds_words(n: u64) -> String {
    if n == 1 {
        "1 second".to_owned()
    } else {
        format!("{n} seconds")
    }
}

#[tokio::test]
async fn health_has_every_spec_field_with_sane_values() {
    let origins = [
        TestOrigin::spawn(site).await,
        TestOrigin::spawn(site).await,
        TestOrigin::spawn(site).await,
    ];
    let addrs: Vec<_> = origins.iter().map(|o| o.addr()).collect();
    let spawned = Instant::now();
    let proxy = ProxyProcess::start_with_admin(ConfigBuilder::new(&addrs)).await;
    let http = client();
    // 6 misses (2 per origin), then 6 hits: 6 entries, hit ratio 0.5.
    for round in 0..2 {
        for i in 0..6 {
            let r = fetch(http.get(proxy.url(&format!("/c/{i}")))).await;
            assert_eq!(r.status, 200, "round {round} /c/{i}: {r:?}");
        }
    }
    summary_counting(&proxy, 12).await;
    let r = admin_get(&proxy, "/health", None).await;
    let since_spawn = spawned.elapsed().as_secs_f64();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{r:?}"
    );
    let h = json_of(&r);
    eprintln!("/health after 6 misses + 6 hits over 3 origins: {h}");

    assert_eq!(h["status"], "healthy", "{h}");
    let up = num(&h, "/uptime_seconds");
    assert!(up >= 0.0 && up <= since_spawn + 1.0, "uptime {up} s: {h}");
    assert_eq!(h["uptime"], seconds_words(up as u64), "{h}");
    let mem = num(&h, "/memory_usage_mb");
    assert!((1.0..4096.0).contains(&mem), "memory_usage_mb {mem}: {h}");
    let cache_mb = num(&h, "/cache_size_mb");
    assert!((0.0..=0.1).contains(&cache_mb), "6 small entries: {h}");
    assert_eq!(h["cache_entries"], 6, "{h}");
    assert_eq!(h["queue_size"], 0, "nothing in flight: {h}");
    let rps = num(&h, "/requests_per_second");
    assert!(rps > 0.0 && rps <= 12.0 / 0.9, "12 requests so far: {h}");
    let avg = num(&h, "/avg_response_time_ms");
    assert!(avg > 0.0 && avg < 500.0, "local origins: {h}");
    assert_eq!(
        num(&h, "/cache_hit_ratio"),
        0.5,
        "6 hits of 12 lookups: {h}"
    );
    for c in ["http_server", "cache", "load_balancer"] {
        let comp = &h["components"][c];
        assert_eq!(comp["status"], "healthy", "{c}: {h}");
        let secs = num(comp, "/uptime_seconds");
        assert!(secs >= 0.0 && secs <= up + 1.0, "{c} uptime {secs}: {h}");
        assert_eq!(comp["uptime"], seconds_words(secs as u64), "{c}: {h}");
    }
    let ups = h["upstreams"].as_array().expect("upstreams is a list");
    assert_eq!(ups.len(), 3, "{h}");
    let mut requests = 0.0;
    for (u, addr) in ups.iter().zip(&addrs) {
        assert_eq!(u["address"], addr.to_string(), "config order: {h}");
        assert_eq!(u["healthy"], true, "{h}");
        assert_eq!(u["in_flight"], 0, "{h}");
        assert_eq!(u["errors"], 0, "{h}");
        let n = num(u, "/requests");
        assert!(n >= 1.0, "round robin skipped {addr}: {h}");
        requests += n;
        let ms = num(u, "/avg_response_time_ms");
        assert!(ms > 0.0 && ms < 500.0, "{addr}: {h}");
    }
    assert_eq!(requests, 6.0, "only the 6 misses reached an upstream: {h}");
    assert_eq!(h["alerts"]["active"], 0, "{h}");
}

/// Polls `/health` until its status is `want`; returns the (HTTP status, body) seen then.
async fn health_until(proxy: &ProxyProcess, want: &str, timeout: Duration) -> (u16, Value) {
    let found = poll_for(timeout, || async {
        let r = admin_get(proxy, "/health", None).await;
        let body = json_of(&r);
        (body["status"] == want).then_some((r.status, body))
    })
    .await;
    match found {
        Some(seen) => seen,
        None => panic!(
            "/health never said {want} within {timeout:?}: {}\n{}",
            proxy.admin_json("/health").await,
            proxy.output()
        ),
    }
}

#[tokio::test]
async fn health_degrades_with_one_dead_origin_of_three_and_is_503_with_none() {
    let mut origins = [
        TestOrigin::spawn(site).await,
        TestOrigin::spawn(site).await,
        TestOrigin::spawn(site).await,
    ];
    let addrs: Vec<_> = origins.iter().map(|o| o.addr()).collect();
    let proxy = ProxyProcess::start_with_admin(ConfigBuilder::new(&addrs)).await;
    let (code, _) = health_until(&proxy, "healthy", Duration::from_secs(5)).await;
    assert_eq!(code, 200);
    // `unhealthy_after = 2` failed checks, one per interval, then the next sample.
    let budget = 2 * CHECK_INTERVAL + SAMPLE_LAG + SLACK;

    origins[1].stop().await;
    let stopped = Instant::now();
    let (code, h) = health_until(&proxy, "degraded", Duration::from_secs(5)).await;
    let degraded_after = stopped.elapsed();
    assert_eq!(code, 200, "degraded still answers 200: {h}");
    assert_eq!(
        h["components"]["load_balancer"]["status"], "degraded",
        "{h}"
    );
    let healthy: Vec<bool> = h["upstreams"]
        .as_array()
        .expect("upstreams is a list")
        .iter()
        .map(|u| u["healthy"].as_bool().expect("healthy is a bool"))
        .collect();
    assert_eq!(healthy, [true, false, true], "{h}");

    origins[0].stop().await;
    origins[2].stop().await;
    let all_stopped = Instant::now();
    let (code, h) = health_until(&proxy, "unhealthy", Duration::from_secs(5)).await;
    let unhealthy_after = all_stopped.elapsed();
    eprintln!(
        "/health: one origin of three stopped -> degraded after {degraded_after:?}; all \
         stopped -> unhealthy (503) after {unhealthy_after:?} (checks every {CHECK_INTERVAL:?}, \
         unhealthy_after 2, samples every 1 s; budget {budget:?})"
    );
    assert_eq!(code, 503, "unhealthy must answer 503: {h}");
    assert_eq!(
        h["components"]["load_balancer"]["status"], "unhealthy",
        "{h}"
    );
    assert!(
        h["upstreams"]
            .as_array()
            .expect("upstreams is a list")
            .iter()
            .all(|u| u["healthy"] == false),
        "{h}"
    );
    assert!(
        degraded_after <= budget,
        "degraded only after {degraded_after:?} (budget {budget:?})"
    );
    assert!(
        unhealthy_after <= budget,
        "unhealthy only after {unhealthy_after:?} (budget {budget:?})"
    );
}

#[tokio::test]
async fn admin_token_guards_everything_but_health() {
    const TOKEN: &str = "s3cret";
    let origin = TestOrigin::spawn(site).await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("admin.token", TOKEN);
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let guarded = [
        "/api/summary",
        "/metrics",
        "/dashboard",
        "/api/alerts",
        "/api/requests/recent",
        "/api/upstreams",
        "/api/metrics/history?duration=5",
    ];
    for path in guarded {
        let r = admin_get(&proxy, path, None).await;
        assert_json_error(&r, 401, &format!("{path} without a token"));
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{path}: 401 without WWW-Authenticate: Bearer: {r:?}"
        );
        let r = admin_get(&proxy, path, Some("s3creT")).await;
        assert_json_error(&r, 401, &format!("{path} with a wrong token"));
        let r = admin_get(&proxy, path, Some(TOKEN)).await;
        assert_eq!(r.status, 200, "{path} with the token: {r:?}");
    }
    let purge = r#"{"all": true}"#;
    let r = admin_post(&proxy, "/api/cache/purge", purge, None).await;
    assert_json_error(&r, 401, "purge without a token");
    let r = admin_post(&proxy, "/api/cache/purge", purge, Some(TOKEN)).await;
    assert_eq!(r.status, 200, "purge with the token: {r:?}");
    for token in [None, Some("wrong")] {
        let r = admin_get(&proxy, "/health", token).await;
        assert_eq!(r.status, 200, "/health with token {token:?}: {r:?}");
        assert_eq!(json_of(&r)["status"], "healthy", "{r:?}");
    }

    // `sightline top` sends SIGHTLINE_ADMIN_TOKEN.
    let admin = format!("http://{}", proxy.admin_addr());
    let without = top_once(&admin, None).await;
    assert!(
        !without.status.success(),
        "top without the token exited 0: {without:?}"
    );
    let with = top_once(&admin, Some(TOKEN)).await;
    let text = String::from_utf8_lossy(&with.stdout);
    assert!(with.status.success(), "top with the token failed: {with:?}");
    assert!(text.contains("Real-Time Metrics Dashboard:"), "{text}");
}

/// Runs `sightline top --once --admin URL` (with `SIGHTLINE_ADMIN_TOKEN` when given).
async fn top_once(admin: &str, token: Option<&str>) -> std::process::Output {
    let mut command = sightline_command(["top", "--once", "--admin", admin]);
    command.env_remove("SIGHTLINE_ADMIN_TOKEN");
    // The test talks to 127.0.0.1 only; a proxy from the environment must not get in between.
    for var in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        command.env_remove(var);
    }
    if let Some(t) = token {
        command.env("SIGHTLINE_ADMIN_TOKEN", t);
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("sightline top --once ends within 20 s")
    .expect("the blocking task does not panic")
    .expect("sightline top runs")
}

#[tokio::test]
async fn sightline_top_once_prints_the_dashboard_frame() {
    let origin = TestOrigin::spawn(site).await;
    let cfg = ConfigBuilder::new(&[origin.addr()]);
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    for _ in 0..4 {
        fetch(http.get(proxy.url("/c/top"))).await;
    }
    summary_counting(&proxy, 4).await;
    let admin = format!("http://{}", proxy.admin_addr());
    let out = top_once(&admin, None).await;
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("sightline top --once:\n{text}");
    assert!(out.status.success(), "top --once failed: {out:?}");
    for want in [
        format!("== {admin} — healthy"),
        "Real-Time Metrics Dashboard:".to_owned(),
        "Cache Hit Ratio: 75% (Cache Hits: 3, Cache Misses: 1)".to_owned(),
        "Upstreams: 1/1 healthy".to_owned(),
        "Active Alerts: none".to_owned(),
        origin.addr().to_string(),
    ] {
        assert!(text.contains(&want), "no {want:?} in\n{text}");
    }

    // Nobody listening: a message and a failing exit status.
    drop(proxy);
    let out = top_once(&admin, None).await;
    assert!(
        !out.status.success(),
        "top --once exited 0 with no admin: {out:?}"
    );
}

#[tokio::test]
async fn recent_requests_list_the_last_requests_newest_first() {
    let origin = TestOrigin::spawn(site).await;
    let o = origin.addr().to_string();
    let cfg = ConfigBuilder::new(&[origin.addr()]);
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    let before = unix_ms_now();
    let sent = [
        fetch(http.get(proxy.url("/c/a?q=1"))).await,
        fetch(http.get(proxy.url("/c/a?q=1"))).await,
        fetch(http.get(proxy.url("/status/404"))).await,
        fetch(http.post(proxy.url("/form")).body("x=1")).await,
    ];
    let statuses: Vec<u16> = sent.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 404, 200]);
    let after = unix_ms_now();
    let list = poll_for(Duration::from_secs(5), || async {
        let v = proxy.admin_json("/api/requests/recent").await;
        let list = v["requests"].as_array().cloned().unwrap_or_default();
        (list.len() >= 4).then_some(list)
    })
    .await
    .unwrap_or_else(|| panic!("fewer than 4 recent requests\n{}", proxy.output()));
    eprintln!("/api/requests/recent: {}", Value::Array(list.clone()));
    assert_eq!(list.len(), 4, "only 4 requests were sent: {list:?}");
    // (method, path, status, cache, upstream), newest first.
    let want = [
        ("POST", "/form", 200_u16, Some("bypass"), Some(&*o)),
        ("GET", "/status/404", 404, None, Some(&*o)),
        ("GET", "/c/a", 200, Some("hit"), None),
        ("GET", "/c/a", 200, Some("miss"), Some(&*o)),
    ];
    for (entry, (method, path, status, cache, upstream)) in list.iter().zip(want) {
        assert_eq!(entry["method"], method, "{entry}");
        assert_eq!(entry["path"], path, "{entry}");
        assert_eq!(entry["status"], status, "{entry}");
        let c = entry["cache"].as_str().unwrap_or_default();
        match cache {
            Some(c_want) => assert_eq!(c, c_want, "{entry}"),
            None => assert!(["hit", "miss", "stale", "bypass"].contains(&c), "{entry}"),
        }
        assert_eq!(entry["upstream"].as_str(), upstream, "{entry}");
        let latency = num(entry, "/latency_ms");
        assert!(latency > 0.0 && latency < 2000.0, "{entry}");
        let at = num(entry, "/unix_ms") as u64;
        assert!(
            (before.saturating_sub(5)..=after + 5).contains(&at),
            "time {at} outside [{before}, {after}]: {entry}"
        );
        assert!(
            entry.get("trace_id").is_some(),
            "no trace_id field: {entry}"
        );
    }
}

#[tokio::test]
async fn upstreams_history_and_bad_parameters() {
    let origin = TestOrigin::spawn(site).await;
    let addr = origin.addr().to_string();
    let cfg = ConfigBuilder::new(&[origin.addr()]);
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    for path in ["/u/1", "/status/404", "/status/500", "/u/2"] {
        fetch(http.get(proxy.url(path))).await;
    }
    summary_counting(&proxy, 4).await;

    let r = admin_get(&proxy, "/api/upstreams", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = json_of(&r);
    let u = &v["upstreams"][0];
    assert_eq!(u["address"], addr, "{v}");
    assert_eq!(u["healthy"], true, "{v}");
    assert_eq!(u["requests"], 4, "{v}");
    assert_eq!(u["errors"], 1, "the 500 is an upstream error: {v}");
    assert!(num(u, "/last_check_unix_ms") > 0.0, "checks run: {v}");
    assert_eq!(u["last_check_ok"], true, "{v}");
    assert_eq!(u["consecutive_failures"], 0, "{v}");

    let path = format!("/api/upstreams/{addr}?duration=60");
    let r = admin_get(&proxy, &path, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = json_of(&r);
    assert_eq!(v["upstream"]["address"], addr, "{v}");
    assert_eq!(v["duration_seconds"], 60, "{v}");
    let hist = v["history"].as_array().expect("history is a list");
    let sum: f64 = hist.iter().map(|p| num(p, "/requests")).sum();
    assert_eq!(sum, 4.0, "every attempt in exactly one second: {v}");

    // Enough samples that `duration=5` has to leave some out.
    let full = poll_for(Duration::from_secs(15), || async {
        let v = proxy.admin_json("/api/metrics/history?duration=60").await;
        let samples = v["samples"].as_array().cloned().unwrap_or_default();
        (samples.len() >= 7).then_some(samples)
    })
    .await
    .unwrap_or_else(|| panic!("history never held 7 samples\n{}", proxy.output()));
    let total: f64 = full.iter().map(|p| num(p, "/requests")).sum();
    assert_eq!(total, 4.0, "every request in exactly one sample: {full:?}");
    let classes = |class: &str| -> f64 {
        full.iter()
            .map(|p| num(p, &format!("/status/{class}")))
            .sum()
    };
    assert_eq!(
        [classes("2xx"), classes("4xx"), classes("5xx")],
        [2.0, 1.0, 1.0],
        "status mix: {full:?}"
    );
    let r = admin_get(&proxy, "/api/metrics/history?duration=5", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = json_of(&r);
    let samples = v["samples"].as_array().expect("samples is a list");
    eprintln!(
        "/api/metrics/history?duration=5 -> {} samples at {:?}",
        samples.len(),
        samples.iter().map(|p| &p["unix_ms"]).collect::<Vec<_>>()
    );
    assert!(
        (4..=5).contains(&samples.len()),
        "duration=5 gave {} one-second samples: {v}",
        samples.len()
    );
    let times: Vec<u64> = samples.iter().map(|p| num(p, "/unix_ms") as u64).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "not oldest first, newest last: {times:?}"
    );
    assert!(
        unix_ms_now().saturating_sub(*times.last().expect("samples")) < 2500,
        "the newest sample is not the last one: {times:?}"
    );

    for bad in [
        "/api/metrics/history?duration=abc",
        "/api/metrics/history?duration=0",
        "/api/metrics/history?duration=-5",
        &format!("/api/upstreams/{addr}?duration=abc"),
        "/api/upstreams/not-an-address",
    ] {
        let r = admin_get(&proxy, bad, None).await;
        assert_json_error(&r, 400, bad);
    }
    let r = admin_get(&proxy, "/api/upstreams/127.0.0.1:1", None).await;
    assert_json_error(&r, 404, "unknown upstream");
    let r = admin_get(&proxy, "/api/nothing-here", None).await;
    assert_json_error(&r, 404, "unknown admin path");
}

/// Whether a proxy response came from the cache.
fn is_hit(r: &Fetched) -> bool {
    r.cache_status().split(';').any(|p| p.trim() == "hit")
}

#[tokio::test]
async fn cache_purge_by_path_and_all() {
    let origin = TestOrigin::spawn(site).await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    let get = |path: &'static str| {
        let req = http.get(proxy.url(path));
        async move { fetch(req).await }
    };
    for path in ["/c/x", "/c/y", "/c/z"] {
        get(path).await;
        assert!(is_hit(&get(path).await), "{path} was not cached");
    }

    let r = admin_post(&proxy, "/api/cache/purge", r#"{"path": "/c/x"}"#, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json_of(&r), json!({"purged": 1}), "{r:?}");
    let next = get("/c/x").await;
    assert!(!is_hit(&next), "GET after purging /c/x was a hit: {next:?}");
    assert_eq!(origin.hits("/c/x"), 2, "the purged path was not refetched");
    assert!(is_hit(&get("/c/y").await), "purging /c/x took /c/y too");
    assert!(
        is_hit(&get("/c/x").await),
        "the refetched /c/x was not stored"
    );

    let r = admin_post(&proxy, "/api/cache/purge", r#"{"all": true}"#, None).await;
    let purged_at = unix_ms_now();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json_of(&r), json!({"purged": 3}), "{r:?}");
    let s = summary_since(&proxy, purged_at + 1).await;
    assert_eq!(s["cache"]["entries"], 0, "entries after purging all: {s}");
    assert_eq!(s["cache"]["size_bytes"], 0, "bytes after purging all: {s}");
    let h = proxy.admin_json("/health").await;
    assert_eq!(h["cache_entries"], 0, "{h}");
    for path in ["/c/x", "/c/y", "/c/z"] {
        let r = get(path).await;
        assert!(
            !is_hit(&r),
            "{path} served from cache after purge all: {r:?}"
        );
    }
    assert_eq!(
        [
            origin.hits("/c/x"),
            origin.hits("/c/y"),
            origin.hits("/c/z")
        ],
        [3, 2, 2]
    );

    for bad in [
        "",
        "not json",
        "{}",
        r#"{"path": "c/x"}"#,
        r#"{"path": "/c/x", "all": true}"#,
        r#"{"all": false}"#,
        r#"{"bogus": 1}"#,
    ] {
        let r = admin_post(&proxy, "/api/cache/purge", bad, None).await;
        assert_json_error(&r, 400, &format!("purge body {bad:?}"));
    }
}

#[tokio::test]
async fn purge_by_path_covers_its_query_variants() {
    // src/admin/mod.rs, `CachePurger::purge_path`: "Removes the entries for this path (every
    // variant and query)".
    let origin = TestOrigin::spawn(site).await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    for url in ["/c/q", "/c/q?v=1"] {
        fetch(http.get(proxy.url(url))).await;
        assert!(
            is_hit(&fetch(http.get(proxy.url(url))).await),
            "{url} not cached"
        );
    }
    let r = admin_post(&proxy, "/api/cache/purge", r#"{"path": "/c/q"}"#, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let purged = json_of(&r)["purged"].clone();
    let plain = fetch(http.get(proxy.url("/c/q"))).await;
    let query = fetch(http.get(proxy.url("/c/q?v=1"))).await;
    assert!(!is_hit(&plain), "/c/q still cached: {plain:?}");
    assert!(
        !is_hit(&query),
        "purging path /c/q left /c/q?v=1 in the cache (purged: {purged}): {query:?}"
    );
    assert_eq!(purged, 2, "two entries were under /c/q");
}
