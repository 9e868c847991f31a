//! RFC 9111 §4.2.1, §4.2.2, §5.2 and §4.3.1 through the real binary: which field gives the
//! freshness lifetime and how its directives are read (s-maxage over max-age, invalid values
//! stale, the first of repeated directives, quoted values, overflow, repeated `Expires`, a
//! targeted field hiding `Expires`), heuristic freshness only from `cache.default_ttl`, and
//! `no-cache` / `Last-Modified` entries revalidated with a conditional request.

use crate::cache_rfc_support::{http_date, is_hit, proxy_for};
use crate::util::{client, fetch, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse};

/// A path, the response's cache fields (repeated names are sent as repeated lines), and
/// whether the second request is a hit.
type Case = (&'static str, Vec<(&'static str, String)>, bool);

fn lifetime_cases() -> Vec<Case> {
    let cc = |v: &str| ("cache-control", v.to_owned());
    vec![
        ("/s-maxage-0", vec![cc("max-age=600, s-maxage=0")], false),
        ("/s-maxage-600", vec![cc("max-age=0, s-maxage=600")], true),
        ("/float", vec![cc("max-age=1.5")], false),
        ("/single-quoted", vec![cc("max-age='60'")], false),
        ("/suffix", vec![cc("max-age=60a")], false),
        ("/first-short", vec![cc("max-age=0, max-age=600")], false),
        ("/first-long", vec![cc("max-age=600, max-age=0")], true),
        ("/lines", vec![cc("max-age=600"), cc("max-age=0")], true),
        ("/quoted", vec![cc("max-age=\"600\"")], true),
        ("/overflow", vec![cc("max-age=99999999999999999999")], true),
        ("/expires", vec![("expires", http_date(600))], true),
        (
            "/expires-twice",
            vec![("expires", http_date(600)), ("expires", http_date(600))],
            false,
        ),
        (
            "/cdn-hides-expires",
            vec![
                ("cdn-cache-control", "must-revalidate".to_owned()),
                ("expires", http_date(600)),
            ],
            false,
        ),
        (
            "/cdn-empty",
            vec![cc("max-age=600"), ("cdn-cache-control", String::new())],
            true,
        ),
    ]
}

#[tokio::test]
async fn the_lifetime_comes_from_the_right_directive_read_the_right_way() {
    let origin = TestOrigin::spawn(|req| {
        let (_, fields, _) = lifetime_cases()
            .into_iter()
            .find(|(p, ..)| *p == req.path())
            .expect("a known path");
        let mut r = TestResponse::ok(req.path().to_owned()).header("date", &http_date(0));
        for (k, v) in fields {
            r = r.header(k, &v);
        }
        r
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let mut wrong = Vec::new();
    for (path, fields, hit) in lifetime_cases() {
        fetch(http.get(proxy.url(path))).await;
        let r = fetch(http.get(proxy.url(path))).await;
        assert_eq!((r.status, r.body.as_str()), (200, path), "{r:?}");
        let want_hits = if hit { 1 } else { 2 };
        if is_hit(&r) != hit || origin.hits(path) != want_hits {
            wrong.push(format!(
                "{path} {fields:?}: want hit={hit}, got {:?} with {} origin requests",
                r.cache_status(),
                origin.hits(path)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn heuristic_freshness_only_from_default_ttl() {
    // No explicit lifetime anywhere; a Last-Modified an hour ago.
    let origin = TestOrigin::spawn(|req| {
        let status = if req.path().starts_with("/created") {
            201
        } else {
            200
        };
        let r = TestResponse::status(status)
            .body(req.path().to_owned())
            .header("last-modified", &http_date(-3600));
        if req.path().ends_with("-public") {
            r.header("cache-control", "public")
        } else {
            r
        }
    })
    .await;
    let off = proxy_for(&origin).await;
    let on = ProxyProcess::start(
        ConfigBuilder::new(&[origin.addr()])
            .set("upstreams.health_check.kind", "none")
            .set("cache.default_ttl", "60s"),
    )
    .await;
    let http = client();
    // (proxy, path, second request a hit)
    let cases = [
        (&off, "/off", false),
        (&on, "/plain", true),
        (&on, "/created", false),
        (&on, "/created-public", true),
    ];
    let mut wrong = Vec::new();
    for (proxy, path, hit) in cases {
        fetch(http.get(proxy.url(path))).await;
        let r = fetch(http.get(proxy.url(path))).await;
        assert_eq!(r.body, path, "{r:?}");
        let want_hits = if hit { 1 } else { 2 };
        if is_hit(&r) != hit || origin.hits(path) != want_hits {
            wrong.push(format!(
                "{path}: want hit={hit}, got {:?} with {} origin requests",
                r.cache_status(),
                origin.hits(path)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn no_cache_and_last_modified_entries_are_revalidated_before_every_use() {
    let modified = http_date(-3600);
    let lm = modified.clone();
    let origin = TestOrigin::spawn(move |req| {
        let (cc, validator, condition) = if req.path() == "/no-cache" {
            ("no-cache, max-age=600", ("etag", "\"v1\""), "if-none-match")
        } else {
            (
                "max-age=0",
                ("last-modified", lm.as_str()),
                "if-modified-since",
            )
        };
        // A full answer to a conditional request would not be the stored body.
        let r = match req.header(condition) {
            Some(v) if v == validator.1 => TestResponse::status(304),
            Some(_) => TestResponse::ok("refetched"),
            None => TestResponse::ok(format!("stored {}", req.path())),
        };
        r.header("cache-control", cc)
            .header(validator.0, validator.1)
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    for (path, condition, value) in [
        ("/no-cache", "if-none-match", "\"v1\""),
        ("/dated", "if-modified-since", modified.as_str()),
    ] {
        for _ in 0..3 {
            let r = fetch(http.get(proxy.url(path))).await;
            assert_eq!(
                (r.status, r.body.as_str()),
                (200, format!("stored {path}").as_str()),
                "{r:?}"
            );
        }
        let seen = origin.requests_to(path);
        assert_eq!(seen.len(), 3, "{path}: every use asks the origin");
        assert!(seen[0].header(condition).is_none(), "{path}: {:?}", seen[0]);
        for r in &seen[1..] {
            assert_eq!(
                r.header(condition),
                Some(value),
                "{path}: the stored entry was not revalidated: {:?}",
                r.headers
            );
        }
    }
}
