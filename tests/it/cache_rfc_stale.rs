//! Serving stale content through the real binary (RFC 5861, RFC 9111 §4.2.4):
//! `stale-while-revalidate` answers from the stale entry while one background request
//! refreshes it; `stale-if-error` answers from it when the origin fails (5xx, connect
//! failure) within the window; `must-revalidate`, `proxy-revalidate`, `no-cache` and
//! `s-maxage` forbid both, in `Cache-Control` or in a targeted field that applies instead
//! (RFC 9213). `Cache-Status` says which happened (RFC 9211); no `Warning` is added (README).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache_rfc_support::{age, is_hit, proxy_for, Fields};
use crate::util::{
    client, fetch, poll_for, with_healthz, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let origin = TestOrigin::spawn(move |_| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        // The refresh is slow, so the clients below all arrive while it is in flight (had
        // they waited for it, they would read v2); 2 s stays under the cache lock's 3 s age
        // limit, past which another request would start a second refresh.
        let delay = if n == 1 { 0 } else { 2000 };
        // Those 2 s count towards the refresh's age (RFC 9111 §4.2.3): it needs a longer
        // max-age to arrive fresh.
        let max_age = if n == 1 { 1 } else { 60 };
        TestResponse::ok(format!("v{n}"))
            .header(
                "cache-control",
                &format!("max-age={max_age}, stale-while-revalidate=30"),
            )
            .delay(Duration::from_millis(delay))
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    assert_eq!(fetch(http.get(proxy.url("/swr"))).await.body, "v1");
    // Fresh hits until the entry goes stale; the first stale request starts the refresh.
    let first_stale = poll_for(Duration::from_secs(5), || async {
        let r = fetch(http.get(proxy.url("/swr"))).await;
        (!r.cache_status().ends_with("; hit")).then_some(r)
    })
    .await
    .expect("the max-age=1 entry never went stale");
    let concurrent: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (http.clone(), proxy.url("/swr"));
            tokio::spawn(async move { fetch(http.get(url)).await })
        })
        .collect();
    let mut stale = vec![first_stale];
    for task in concurrent {
        stale.push(task.await.expect("client task"));
    }
    for r in &stale {
        assert_eq!((r.status, r.body.as_str()), (200, "v1"), "{r:?}");
        assert!(
            r.cache_status().starts_with("sightline; hit; ttl=-")
                && r.cache_status()
                    .ends_with("; detail=stale-while-revalidate"),
            "{r:?}"
        );
        assert!(age(r).is_some_and(|a| a >= 1), "{r:?}");
    }
    // The background refresh lands; later requests are fresh hits of v2.
    let refreshed = poll_for(Duration::from_secs(5), || async {
        let r = fetch(http.get(proxy.url("/swr"))).await;
        (r.body == "v2").then_some(r)
    })
    .await
    .expect("the background refresh never replaced the entry");
    assert_eq!(refreshed.cache_status(), "sightline; hit", "{refreshed:?}");
    assert_eq!(origin.hits("/swr"), 2, "9 stale clients, one refresh");
}

#[tokio::test]
async fn stale_if_error_serves_stale_on_5xx_and_connect_failure_within_the_window() {
    let mut origin = TestOrigin::spawn(|_| {
        TestResponse::ok("good").header("cache-control", "max-age=1, stale-if-error=3")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let stored_at = Instant::now();
    assert_eq!(fetch(http.get(proxy.url("/sie"))).await.body, "good");
    origin.set_handler(|_| TestResponse::status(503).body("down"));
    let on_5xx = poll_for(Duration::from_secs(5), || async {
        let r = fetch(http.get(proxy.url("/sie"))).await;
        (!is_hit(&r)).then_some(r)
    })
    .await
    .expect("the max-age=1 entry never went stale");
    assert_eq!(
        (on_5xx.status, on_5xx.body.as_str()),
        (200, "good"),
        "{on_5xx:?}"
    );
    let status = on_5xx.cache_status();
    assert!(
        status.starts_with("sightline; fwd=stale; fwd-status=503; ttl=-")
            && status.ends_with("; detail=stale-if-error"),
        "{on_5xx:?}"
    );
    assert_eq!(origin.hits("/sie"), 2);
    origin.stop().await;
    let on_refused = fetch(http.get(proxy.url("/sie"))).await;
    assert_eq!((on_refused.status, on_refused.body.as_str()), (200, "good"));
    // pingora closes the client connection after this answer, so it must say so.
    assert_eq!(
        on_refused.header("connection"),
        Some("close"),
        "{on_refused:?}"
    );
    let status = on_refused.cache_status();
    assert!(
        status.starts_with("sightline; fwd=stale; ttl=-")
            && status.ends_with("; detail=stale-if-error"),
        "{on_refused:?}"
    );
    // Past max-age + stale-if-error (4 s) the failure reaches the client.
    let failed = poll_for(Duration::from_secs(8), || async {
        let r = fetch(http.get(proxy.url("/sie"))).await;
        (r.status != 200).then_some(r)
    })
    .await
    .expect("the stale entry was served past its stale-if-error window");
    assert_eq!(failed.status, 502, "{failed:?}");
    let after = stored_at.elapsed();
    assert!(
        after >= Duration::from_millis(3500),
        "window closed after {after:?}"
    );
}

#[tokio::test]
async fn revalidation_directives_forbid_serving_stale() {
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let origin = TestOrigin::spawn(move |req| {
        if count.fetch_add(1, Ordering::SeqCst) >= 4 {
            return TestResponse::status(503).body("down");
        }
        let forbid = req.path().trim_start_matches('/');
        TestResponse::ok("stored").header(
            "cache-control",
            &format!("max-age=1, stale-while-revalidate=30, stale-if-error=30, {forbid}"),
        )
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let paths = [
        "/must-revalidate",
        "/proxy-revalidate",
        "/no-cache",
        "/s-maxage=1",
    ];
    for path in paths {
        assert_eq!(fetch(http.get(proxy.url(path))).await.body, "stored");
    }
    for path in paths {
        let r = poll_for(Duration::from_secs(5), || async {
            let r = fetch(http.get(proxy.url(path))).await;
            (!is_hit(&r)).then_some(r)
        })
        .await
        .unwrap_or_else(|| panic!("{path}: never went stale"));
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "down"),
            "{path}: a stale entry was served although its directives forbid it: {r:?}"
        );
        assert!(!r.cache_status().contains("detail=stale"), "{path}: {r:?}");
        assert_eq!(origin.hits(path), 2, "{path}");
    }
}

#[tokio::test]
async fn stale_if_error_also_covers_500_502_504_and_a_read_timeout() {
    let answered = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let origin = TestOrigin::spawn(move |req| {
        let path = req.path().to_owned();
        if answered.lock().expect("paths").insert(path.clone()) {
            // Stored, and stale at once.
            return TestResponse::ok("good")
                .header("cache-control", "max-age=0, stale-if-error=60");
        }
        match path.as_str() {
            "/timeout" => TestResponse::ok("late").delay(Duration::from_secs(3)),
            p => TestResponse::status(p[1..].parse().expect("a status path")).body("bad"),
        }
    })
    .await;
    let proxy = ProxyProcess::start(
        ConfigBuilder::new(&[origin.addr()])
            .set("upstreams.health_check.kind", "none")
            .set("upstreams.read_timeout", "500ms"),
    )
    .await;
    let http = client();
    for path in ["/500", "/502", "/504", "/timeout"] {
        assert_eq!(fetch(http.get(proxy.url(path))).await.body, "good");
        let r = fetch(http.get(proxy.url(path))).await;
        assert_eq!((r.status, r.body.as_str()), (200, "good"), "{path}: {r:?}");
        assert!(
            r.cache_status().ends_with("; detail=stale-if-error"),
            "{path}: {r:?}"
        );
    }
}

#[tokio::test]
async fn stale_if_error_serves_stale_when_no_healthy_upstream_is_left() {
    let origin = TestOrigin::spawn(with_healthz(|_| {
        // Stale at once.
        TestResponse::ok("good").header("cache-control", "max-age=0, stale-if-error=60")
    }))
    .await;
    let proxy = ProxyProcess::start_with_admin(
        ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.unhealthy_after", 1),
    )
    .await;
    let http = client();
    assert_eq!(fetch(http.get(proxy.url("/x"))).await.body, "good");
    // Health checks fail from now on; a request that reached the origin would read "fresh".
    origin.set_handler(|req| {
        let status = if req.path() == "/healthz" { 503 } else { 200 };
        TestResponse::status(status).body("fresh")
    });
    let addr = origin.addr().to_string();
    let down = crate::util::poll_until(Duration::from_secs(10), || async {
        let health = proxy.admin_json("/health").await;
        health["upstreams"].as_array().is_some_and(|ups| {
            ups.iter()
                .any(|u| u["address"] == addr.as_str() && u["healthy"] == false)
        })
    })
    .await;
    assert!(down, "the origin was never marked down\n{}", proxy.output());
    let r = fetch(http.get(proxy.url("/x"))).await;
    assert_eq!((r.status, r.body.as_str()), (200, "good"), "{r:?}");
    assert!(
        r.cache_status().ends_with("; detail=stale-if-error"),
        "{r:?}"
    );
}

/// Path → (the stored response's cache fields, the `Cache-Status` detail of the request once
/// stale, or `None` when the origin's 503 must reach the client). Every later origin answer
/// is a 503.
const TARGETED_STALE: [(&str, Fields, Option<&str>); 5] = [
    (
        // Cache-Control's must-revalidate is ignored: the targeted field applies.
        "/cdn-swr",
        &[
            ("cache-control", "max-age=1, must-revalidate"),
            ("cdn-cache-control", "max-age=1, stale-while-revalidate=30"),
        ],
        Some("stale-while-revalidate"),
    ),
    (
        "/sightline-sie",
        &[
            ("cache-control", "max-age=1, proxy-revalidate"),
            ("sightline-cache-control", "max-age=1, stale-if-error=30"),
        ],
        Some("stale-if-error"),
    ),
    (
        "/cdn-proxy-revalidate",
        &[
            (
                "cache-control",
                "max-age=1, stale-while-revalidate=30, stale-if-error=30",
            ),
            (
                "cdn-cache-control",
                "max-age=1, stale-while-revalidate=30, stale-if-error=30, proxy-revalidate",
            ),
        ],
        None,
    ),
    (
        // Cache-Control's stale directives are ignored: the targeted field applies.
        "/cdn-ignores-cc-stale",
        &[
            (
                "cache-control",
                "max-age=1, stale-while-revalidate=30, stale-if-error=30",
            ),
            ("cdn-cache-control", "max-age=1"),
        ],
        None,
    ),
    (
        "/sightline-over-cdn",
        &[
            ("cdn-cache-control", "max-age=1, stale-if-error=30"),
            ("sightline-cache-control", "max-age=1"),
        ],
        None,
    ),
];

#[tokio::test]
async fn targeted_fields_carry_proxy_revalidate_and_the_stale_directives() {
    let answered = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let origin = TestOrigin::spawn(move |req| {
        let path = req.path().to_owned();
        if !answered.lock().expect("paths").insert(path.clone()) {
            return TestResponse::status(503).body("down");
        }
        let (_, fields, _) = TARGETED_STALE
            .iter()
            .find(|(p, ..)| *p == path)
            .expect("a known path");
        let mut r = TestResponse::ok("stored");
        for (k, v) in *fields {
            r = r.header(k, v);
        }
        r
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    for (path, ..) in TARGETED_STALE {
        assert_eq!(fetch(http.get(proxy.url(path))).await.body, "stored");
    }
    let mut wrong = Vec::new();
    for (path, _, detail) in TARGETED_STALE {
        let r = poll_for(Duration::from_secs(5), || async {
            let r = fetch(http.get(proxy.url(path))).await;
            (!is_hit(&r) || r.cache_status().contains("detail=stale")).then_some(r)
        })
        .await
        .unwrap_or_else(|| panic!("{path}: never went stale"));
        let got = (r.status, r.body.as_str(), r.cache_status());
        let right = match detail {
            Some(d) => {
                got.0 == 200 && got.1 == "stored" && got.2.ends_with(&format!("; detail={d}"))
            }
            None => got.0 == 503 && got.1 == "down" && !got.2.contains("detail=stale"),
        };
        if !right {
            wrong.push(format!("{path}: want stale detail {detail:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn stale_responses_carry_no_warning_and_an_origin_warning_is_kept_as_is() {
    // Path → (the stored response's Cache-Control, its Warning, the stale answer's detail).
    const CASES: [(&str, &str, Option<&str>, &str); 3] = [
        ("/sie", "stale-if-error=60", None, "stale-if-error"),
        (
            "/swr",
            "stale-while-revalidate=60",
            None,
            "stale-while-revalidate",
        ),
        (
            "/sie-warned",
            "stale-if-error=60",
            Some("199 - \"from the origin\""),
            "stale-if-error",
        ),
    ];
    let answered = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let origin = TestOrigin::spawn(move |req| {
        let path = req.path().to_owned();
        if !answered.lock().expect("paths").insert(path.clone()) {
            return TestResponse::status(503).body("down");
        }
        let (_, cc, warning, _) = CASES.iter().find(|c| c.0 == path).expect("a known path");
        // Stale at once.
        let r = TestResponse::ok("good").header("cache-control", &format!("max-age=0, {cc}"));
        match warning {
            Some(w) => r.header("warning", w),
            None => r,
        }
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    for (path, _, warning, detail) in CASES {
        assert_eq!(fetch(http.get(proxy.url(path))).await.body, "good");
        let r = fetch(http.get(proxy.url(path))).await;
        assert_eq!((r.status, r.body.as_str()), (200, "good"), "{path}: {r:?}");
        assert!(
            r.cache_status().ends_with(&format!("; detail={detail}")),
            "{path}: {r:?}"
        );
        let warnings: Vec<_> = r.headers.get_all("warning").iter().collect();
        assert_eq!(warnings, Vec::from_iter(warning), "{path}: {r:?}");
    }
}
