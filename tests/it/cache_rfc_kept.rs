//! What the cache already did right and must keep doing, through the real binary:
//! `Set-Cookie` responses are not stored (sightline's documented choice), requests with
//! `Authorization` are answered from the cache only when the response allows it (RFC 9111
//! §3.5), `Vary: *` is never served from the cache (§4.1), and `must-understand` does not
//! override `no-store` (§5.2.2.3, README).

use crate::cache_rfc_support::{is_hit, proxy_for, Fields};
use crate::util::{client, fetch, ProxyProcess, TestOrigin, TestResponse};

/// Path → (response fields, send `Authorization`, may the second request be a hit).
const KEPT: [(&str, Fields, bool, bool); 9] = [
    (
        "/cookie",
        &[("cache-control", "max-age=60"), ("set-cookie", "a=b")],
        false,
        false,
    ),
    (
        "/vary-star",
        &[("cache-control", "max-age=60"), ("vary", "*")],
        false,
        false,
    ),
    (
        "/vary-star-list",
        &[("cache-control", "max-age=60"), ("vary", "accept, *")],
        false,
        false,
    ),
    (
        "/auth-plain",
        &[("cache-control", "max-age=60")],
        true,
        false,
    ),
    (
        "/auth-public",
        &[("cache-control", "public, max-age=60")],
        true,
        true,
    ),
    (
        "/auth-s-maxage",
        &[("cache-control", "s-maxage=60")],
        true,
        true,
    ),
    (
        "/auth-must-revalidate",
        &[("cache-control", "max-age=60, must-revalidate")],
        true,
        true,
    ),
    (
        "/cdn-public",
        &[("cdn-cache-control", "public, max-age=60")],
        true,
        true,
    ),
    (
        // No status is treated as understood, so no-store still applies (README).
        "/must-understand",
        &[("cache-control", "must-understand, no-store, max-age=60")],
        false,
        false,
    ),
];

#[tokio::test]
async fn set_cookie_authorization_vary_star_and_must_understand_rules_hold() {
    let origin = TestOrigin::spawn(|req| {
        let (_, fields, _, _) = KEPT
            .iter()
            .find(|(p, ..)| *p == req.path())
            .expect("a known path");
        let mut r = TestResponse::ok(req.path().to_owned());
        for (k, v) in *fields {
            r = r.header(k, v);
        }
        r
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let mut wrong = Vec::new();
    for (path, _, auth, reusable) in KEPT {
        let mut last = None;
        for _ in 0..2 {
            let mut req = http.get(proxy.url(path));
            if auth {
                req = req.header("authorization", "Bearer secret");
            }
            let r = fetch(req).await;
            assert_eq!((r.status, r.body.as_str()), (200, path), "{r:?}");
            last = Some(r);
        }
        let last = last.expect("two requests were sent");
        let want_hits = if reusable { 1 } else { 2 };
        if is_hit(&last) != reusable || origin.hits(path) != want_hits {
            wrong.push(format!(
                "{path} (authorization: {auth}): want reusable={reusable}, got {:?} with {} \
                 origin requests",
                last.cache_status(),
                origin.hits(path)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A request carrying `name: value` to a cacheable URL is forwarded and its answer not stored;
/// the refusal stays that request's own (nothing remembers the URL as uncacheable), so the next
/// plain request is a miss that is stored and says so, and the one after it a hit.
async fn a_refusal_stays_the_requests_own(name: &str, value: &str) -> (TestOrigin, ProxyProcess) {
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("entry").header("cache-control", "max-age=600"))
            .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let r = fetch(http.get(proxy.url("/req")).header(name, value)).await;
    assert_eq!((r.status, r.body.as_str()), (200, "entry"));
    assert!(!r.cache_status().contains("stored"), "{name}: {r:?}");
    let r = fetch(http.get(proxy.url("/req"))).await;
    assert!(
        !is_hit(&r) && origin.hits("/req") == 2,
        "the answer to the {name} request was stored: {r:?}"
    );
    assert_eq!(r.cache_status(), "sightline; fwd=uri-miss; stored", "{r:?}");
    assert!(is_hit(&fetch(http.get(proxy.url("/req"))).await));
    (origin, proxy)
}

#[tokio::test]
async fn request_no_store_is_not_stored_and_other_request_directives_are_ignored() {
    let (origin, proxy) = a_refusal_stays_the_requests_own("cache-control", "no-store").await;
    let http = client();
    // Request directives a client could use to force origin fetches are ignored (README).
    for (name, value) in [
        ("cache-control", "max-age=0"),
        ("cache-control", "no-cache"),
        ("cache-control", "min-fresh=3600"),
        ("pragma", "no-cache"),
    ] {
        let r = fetch(http.get(proxy.url("/req")).header(name, value)).await;
        assert!(is_hit(&r), "{name}: {value}: {r:?}");
    }
    assert_eq!(origin.hits("/req"), 2);
}

#[tokio::test]
async fn an_authorized_request_leaves_the_url_cacheable_for_plain_requests() {
    let (origin, _proxy) = a_refusal_stays_the_requests_own("authorization", "Bearer x").await;
    assert_eq!(origin.hits("/req"), 2);
}

#[tokio::test]
async fn a_url_remembered_uncacheable_that_turns_cacheable_is_stored_and_says_so() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = AtomicUsize::new(0);
    // The first answer forbids storing; every later one allows it.
    let origin = TestOrigin::spawn(move |_| {
        let cc = match served.fetch_add(1, Ordering::SeqCst) {
            0 => "no-store",
            _ => "max-age=600",
        };
        TestResponse::ok("entry").header("cache-control", cc)
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    // A HEAD teaches pingora's predictor that the URL is uncacheable.
    let r = fetch(http.head(proxy.url("/turn"))).await;
    assert!(!r.cache_status().contains("stored"), "{r:?}");
    // The next GET skips the lookup, but its response is storable: stored, and said so.
    let r = fetch(http.get(proxy.url("/turn"))).await;
    assert_eq!(r.cache_status(), "sightline; fwd=bypass; stored", "{r:?}");
    assert!(is_hit(&fetch(http.get(proxy.url("/turn"))).await));
    assert_eq!(origin.hits("/turn"), 2);
}
