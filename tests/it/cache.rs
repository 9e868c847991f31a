//! The response cache through the real binary, one request at a time: miss then hit, what must
//! not be served from cache, Vary, 304 from cache, stale revalidation and invalidation.

use std::time::Duration;

use crate::util::{
    assert_marked, client, fetch, poll_for, with_healthz, ConfigBuilder, Fetched, ProxyProcess,
    RecordedRequest, TestOrigin, TestResponse,
};

/// A proxy (no health checks: their requests would only add noise) in front of `origin`.
async fn proxy_for(origin: &TestOrigin) -> ProxyProcess {
    ProxyProcess::start(
        ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none"),
    )
    .await
}

fn is_hit(r: &Fetched) -> bool {
    r.cache_status().split(';').any(|p| p.trim() == "hit")
}

#[tokio::test]
async fn miss_is_stored_then_served_as_a_hit_with_age() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("cached body").header("cache-control", "max-age=60")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let first = fetch(http.get(proxy.url("/c"))).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.cache_status(),
        "sightline; fwd=uri-miss; stored",
        "{first:?}"
    );
    let second = fetch(http.get(proxy.url("/c"))).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, "cached body");
    assert_eq!(second.cache_status(), "sightline; hit", "{second:?}");
    assert_marked(&second);
    assert!(
        second
            .header("age")
            .is_some_and(|a| a.parse::<u64>().is_ok()),
        "hit without a numeric Age: {second:?}"
    );
    assert_eq!(origin.hits("/c"), 1, "the origin was asked again for a hit");
}

/// Answers by path: which Cache-Control (and Set-Cookie) each case gets.
fn policy_origin(req: &RecordedRequest) -> TestResponse {
    let ok = TestResponse::ok(format!("body of {}", req.path()));
    match req.path() {
        "/no-store" => ok.header("cache-control", "no-store"),
        "/private" => ok.header("cache-control", "private, max-age=60"),
        "/cookie" => ok
            .header("cache-control", "max-age=60")
            .header("set-cookie", "session=abc"),
        "/public" => ok.header("cache-control", "public, max-age=60"),
        "/s-maxage" => ok.header("cache-control", "s-maxage=60"),
        _ => ok.header("cache-control", "max-age=60"),
    }
}

#[tokio::test]
async fn uncacheable_responses_and_authorized_requests_are_not_served_from_cache() {
    let origin = TestOrigin::spawn(policy_origin).await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    // (path, send Authorization, may be served from cache)
    let cases = [
        ("/no-store", false, false),
        ("/private", false, false),
        ("/cookie", false, false),
        ("/auth", true, false),
        ("/public", true, true),
        ("/s-maxage", true, true),
    ];
    let mut wrong = Vec::new();
    for (path, auth, cacheable) in cases {
        let mut last = None;
        for _ in 0..3 {
            let mut req = http.get(proxy.url(path));
            if auth {
                req = req.header("authorization", "Bearer secret");
            }
            let r = fetch(req).await;
            assert_eq!(r.status, 200, "{path}: {r:?}");
            assert_eq!(r.body, format!("body of {path}"));
            assert_marked(&r);
            last = Some(r);
        }
        let last = last.expect("three requests were sent");
        let hits = origin.hits(path);
        let (want_hits, want_hit) = if cacheable { (1, true) } else { (3, false) };
        if hits != want_hits || is_hit(&last) != want_hit {
            wrong.push(format!(
                "{path} (authorization: {auth}): origin hit {hits}x (want {want_hits}), \
                 last Cache-Status {:?}",
                last.cache_status()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "cache policy violations:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn vary_accept_keeps_two_variants_apart() {
    let origin = TestOrigin::spawn(|req| {
        let accept = req.header("accept").unwrap_or("none").to_owned();
        TestResponse::ok(format!("variant for {accept}"))
            .header("cache-control", "max-age=60")
            .header("vary", "Accept")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let get = |accept: &'static str| fetch(http.get(proxy.url("/v")).header("accept", accept));
    let text = get("text/plain").await;
    let json = get("application/json").await;
    assert!(!is_hit(&text) && !is_hit(&json), "{text:?}\n{json:?}");
    assert_eq!(
        json.body, "variant for application/json",
        "the first variant was served"
    );
    assert_eq!(
        origin.hits("/v"),
        2,
        "the second variant did not go to the origin"
    );
    for (accept, body) in [
        ("text/plain", "variant for text/plain"),
        ("application/json", "variant for application/json"),
    ] {
        let r = get(accept).await;
        assert!(is_hit(&r), "{accept} not a hit: {r:?}");
        assert_eq!(r.body, body, "{accept} got the other variant");
    }
    assert_eq!(origin.hits("/v"), 2);
}

#[tokio::test]
async fn if_none_match_on_a_fresh_entry_is_a_304_from_cache() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("tagged")
            .header("cache-control", "max-age=60")
            .header("etag", "\"v1\"")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    assert_eq!(fetch(http.get(proxy.url("/e"))).await.status, 200);
    let r = fetch(http.get(proxy.url("/e")).header("if-none-match", "\"v1\"")).await;
    assert_eq!(r.status, 304, "{r:?}");
    assert_marked(&r);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(origin.hits("/e"), 1, "the origin was contacted for the 304");
    let r = fetch(
        http.get(proxy.url("/e"))
            .header("if-none-match", "\"other\""),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "tagged"), "{r:?}");
}

#[tokio::test]
async fn stale_entry_is_revalidated_with_a_conditional_request() {
    let origin = TestOrigin::spawn(with_healthz(|req| {
        let base = |r: TestResponse| {
            r.header("cache-control", "max-age=1")
                .header("etag", "\"v1\"")
        };
        if req.header("if-none-match") == Some("\"v1\"") {
            base(TestResponse::status(304))
        } else {
            base(TestResponse::ok("revalidated body"))
        }
    }))
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let first = fetch(http.get(proxy.url("/s"))).await;
    assert!(first.cache_status().contains("stored"), "{first:?}");
    // Hits while fresh (each with an Age), until the entry goes stale and is revalidated.
    let revalidated = poll_for(Duration::from_secs(5), || async {
        let r = fetch(http.get(proxy.url("/s"))).await;
        if is_hit(&r) {
            assert!(r.header("age").is_some(), "hit without Age: {r:?}");
            None
        } else {
            Some(r)
        }
    })
    .await
    .expect("the max-age=1 entry never went stale");
    assert_eq!(revalidated.status, 200, "{revalidated:?}");
    assert_eq!(revalidated.body, "revalidated body");
    assert!(
        revalidated.cache_status().contains("fwd=stale"),
        "{revalidated:?}"
    );
    let seen = origin.requests_to("/s");
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(
        seen[1].header("if-none-match"),
        Some("\"v1\""),
        "revalidation was not conditional: {:?}",
        seen[1].headers
    );
}

#[tokio::test]
async fn post_invalidates_the_stored_entry() {
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("entry").header("cache-control", "max-age=60"))
            .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    fetch(http.get(proxy.url("/p"))).await;
    assert!(is_hit(&fetch(http.get(proxy.url("/p"))).await));
    let post = fetch(http.post(proxy.url("/p")).body("change")).await;
    assert_eq!(post.status, 200);
    let after = fetch(http.get(proxy.url("/p"))).await;
    assert!(
        after.cache_status().contains("fwd=uri-miss"),
        "GET after POST was not a miss: {after:?}"
    );
    let methods: Vec<String> = origin
        .requests_to("/p")
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(methods, ["GET", "POST", "GET"]);
}

#[tokio::test]
async fn a_head_miss_is_filled_by_a_get_and_other_methods_are_not_served_from_cache() {
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("entity").header("cache-control", "max-age=60"))
            .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let head = fetch(http.head(proxy.url("/h"))).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""), "{head:?}");
    let get = fetch(http.get(proxy.url("/h"))).await;
    assert!(
        is_hit(&get),
        "the HEAD miss did not fill the entry: {get:?}"
    );
    assert_eq!(get.body, "entity");
    assert!(is_hit(&fetch(http.head(proxy.url("/h"))).await));
    for _ in 0..2 {
        let r = fetch(http.request(http::Method::OPTIONS, proxy.url("/h"))).await;
        assert!(!is_hit(&r), "{r:?}");
    }
    let methods: Vec<String> = origin
        .requests_to("/h")
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(methods, ["GET", "OPTIONS", "OPTIONS"]);
}
