//! The Jaeger query API served by sightline's admin listener: spans and attributes as the UI
//! reads them, trace links, and the token cookie.

use std::time::Duration;

use serde_json::Value;

use super::{jaeger_trace, span, tag, trace_id, with_view};
use crate::util::{
    client, fetch, poll_for, ConfigBuilder, ProxyProcess, Refusing, TestOrigin, TestResponse,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jaeger_api_returns_each_request_s_spans_with_their_attributes() {
    let origin = TestOrigin::spawn(|req| {
        if req.path().starts_with("/fail") {
            TestResponse::status(503).header("cache-control", "no-store")
        } else {
            TestResponse::ok("item").header("cache-control", "max-age=60")
        }
    })
    .await;
    // Nobody listens on `refusing` and health checks are off: round-robin sends some first
    // attempts there, and they are retried on the origin.
    let refusing = Refusing::new();
    let cfg = ConfigBuilder::new(&[refusing.addr, origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("upstreams.retries", 1);
    let proxy = ProxyProcess::start_with_admin(with_view(cfg)).await;
    let admin = proxy.admin_url("");
    let admin = admin.trim_end_matches('/');
    let http = client();

    let first = fetch(http.get(proxy.url("/items/1"))).await;
    assert_eq!(first.status, 200, "{first:?}");
    let id = trace_id(&first);
    let mut t = jaeger_trace(admin, &id, 3, None).await;
    // Round robin may have tried the refusing upstream first: then a fourth span (the retry
    // on the origin) belongs to the trace, and it may arrive in a later export batch.
    let origin_port = origin.addr().port().to_string();
    let reached_origin = |t: &Value| {
        span(t, "GET", "client")
            .iter()
            .any(|c| tag(c, "server.port").as_deref() == Some(origin_port.as_str()))
    };
    if !reached_origin(&t) {
        t = jaeger_trace(admin, &id, 4, None).await;
    }
    let server = span(&t, "GET", "server");
    assert_eq!(server.len(), 1, "{t}");
    assert_eq!(tag(server[0], "url.path").as_deref(), Some("/items/1"));
    assert_eq!(
        tag(server[0], "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        tag(server[0], "sightline.cache.status").as_deref(),
        Some("miss")
    );
    let lookup = span(&t, "cache lookup", "internal");
    assert_eq!(lookup.len(), 1, "{t}");
    let clients = span(&t, "GET", "client");
    assert!(!clients.is_empty(), "{t}");
    assert!(reached_origin(&t), "{t}");
    assert_eq!(
        t["processes"].as_object().unwrap().values().next().unwrap()["serviceName"],
        "sightline"
    );

    // A request retried on the second upstream shows two CLIENT spans, the first an error.
    let mut retried = None;
    for i in 0..6 {
        let r = fetch(http.get(proxy.url(&format!("/r/{i}")))).await;
        assert_eq!(r.status, 200, "{r:?}");
        let t = jaeger_trace(admin, &trace_id(&r), 3, None).await;
        if span(&t, "GET", "client").len() == 2 {
            retried = Some(t);
            break;
        }
    }
    let retried =
        retried.expect("round-robin sent one of 6 first attempts to the refusing upstream");
    let attempts = span(&retried, "GET", "client");
    assert!(
        attempts
            .iter()
            .any(|s| tag(s, "error").as_deref() == Some("true")),
        "the refused attempt is marked as an error: {retried}"
    );

    // A 503 answer marks the server span as an error.
    let failed = fetch(http.get(proxy.url("/fail/1"))).await;
    assert_eq!(failed.status, 503);
    let t = jaeger_trace(admin, &trace_id(&failed), 2, None).await;
    assert_eq!(
        tag(span(&t, "GET", "server")[0], "error").as_deref(),
        Some("true"),
        "{t}"
    );

    // The UI's search: the service and its traces.
    let services: Value = http
        .get(format!("{admin}/jaeger/api/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        services["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "sightline"),
        "{services}"
    );
    let listed: Value = http
        .get(format!(
            "{admin}/jaeger/api/traces?service=sightline&limit=100"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["traceID"] == id.as_str()),
        "the first request's trace is listed"
    );

    // Trace links point at the built-in view, and its SPA routes answer the page.
    let summary = proxy.admin_json("/api/summary").await;
    assert_eq!(summary["jaeger_ui_url"], "/jaeger", "{summary}");
    let page = http
        .get(format!("{admin}/jaeger/trace/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<base href=\"/jaeger/\""), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_view_takes_it_once_then_a_cookie() {
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("x").header("cache-control", "no-store")).await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("admin.token", "s3cret token");
    let proxy = ProxyProcess::start_with_admin(with_view(cfg)).await;
    let admin = proxy.admin_url("");
    let admin = admin.trim_end_matches('/').to_owned();
    let http = client();
    let r = fetch(http.get(proxy.url("/a"))).await;
    let id = trace_id(&r);

    let bare = http.get(format!("{admin}/jaeger/")).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let bad = http
        .get(format!("{admin}/jaeger/?access_token=wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let first = http
        .get(format!("{admin}/jaeger/search?access_token=s3cret%20token"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let set = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in [
        "sightline_jaeger=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/jaeger",
    ] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    // The UI's own requests carry only the cookie.
    let t = super::jaeger_trace(&admin, &id, 2, Some(&cookie)).await;
    assert!(!span(&t, "GET", "server").is_empty());
    // The cookie opens nothing else of the admin API.
    let other = http
        .get(format!("{admin}/api/summary"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    // A bearer header works too (curl, scripts).
    let bearer = poll_for(Duration::from_secs(5), || async {
        let r = http
            .get(format!("{admin}/jaeger/api/services"))
            .bearer_auth("s3cret token")
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    assert!(bearer.is_some());
}
