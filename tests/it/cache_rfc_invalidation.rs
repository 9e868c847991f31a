//! RFC 9111 §4.4 through the real binary: a non-error response to any method not known to be
//! safe (extension methods included) invalidates the target URI, and the `Location` and
//! `Content-Location` targets on the same origin; an error response invalidates nothing.

use crate::cache_rfc_support::{is_hit, proxy_for};
use crate::util::{client, fetch, TestOrigin, TestResponse};

fn cached(body: String) -> TestResponse {
    TestResponse::ok(body).header("cache-control", "max-age=600")
}

#[tokio::test]
async fn unsafe_and_unknown_methods_invalidate_on_success_only() {
    let origin = TestOrigin::spawn(|req| {
        if req.method == http::Method::GET {
            cached(format!("GET {}", req.path()))
        } else if req.path() == "/failed" {
            TestResponse::status(500).body("no")
        } else {
            TestResponse::ok("done")
        }
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let cases = [
        ("POST", "/post", true),
        ("PUT", "/put", true),
        ("DELETE", "/delete", true),
        ("PATCH", "/patch", true),
        ("M-SEARCH", "/m-search", true),
        ("BREW", "/brew", true),
        ("OPTIONS", "/options", false),
        ("POST", "/failed", false),
    ];
    let mut wrong = Vec::new();
    for (method, path, invalidates) in cases {
        fetch(http.get(proxy.url(path))).await;
        assert!(is_hit(&fetch(http.get(proxy.url(path))).await), "{path}");
        let m = http::Method::from_bytes(method.as_bytes()).expect("a valid method token");
        let answer = fetch(http.request(m, proxy.url(path)).body("x")).await;
        let after = fetch(http.get(proxy.url(path))).await;
        assert_eq!(after.body, format!("GET {path}"));
        let gets = origin
            .requests_to(path)
            .iter()
            .filter(|r| r.method == http::Method::GET)
            .count();
        let (want_status, want_gets) = if invalidates {
            ("sightline; fwd=uri-miss; stored", 2)
        } else {
            ("sightline; hit", 1)
        };
        if after.cache_status() != want_status || gets != want_gets {
            wrong.push(format!(
                "{method} {path} answered {}: the next GET says {:?} (want {want_status:?}), \
                 origin saw {gets} GETs (want {want_gets})",
                answer.status,
                after.cache_status()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn location_and_content_location_on_the_same_origin_are_invalidated() {
    let origin = TestOrigin::spawn(|req| {
        if req.method == http::Method::GET {
            return cached(format!("GET {}", req.path()));
        }
        let host = req.header("host").unwrap_or("").to_owned();
        match req.path() {
            "/dir/submit" => TestResponse::status(201)
                .header("location", "target-relative")
                .header(
                    "content-location",
                    &format!("http://{host}/dir/target-absolute"),
                ),
            _ => TestResponse::status(202)
                .header("location", "http://elsewhere.example/dir/target-foreign")
                .header(
                    "content-location",
                    &format!("http://{host}:1/dir/target-port"),
                ),
        }
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let targets = [
        ("/dir/target-relative", true),
        ("/dir/target-absolute", true),
        ("/dir/target-foreign", false),
        ("/dir/target-port", false),
    ];
    for (path, _) in targets {
        fetch(http.get(proxy.url(path))).await;
        assert!(is_hit(&fetch(http.get(proxy.url(path))).await), "{path}");
    }
    let created = fetch(http.post(proxy.url("/dir/submit")).body("new")).await;
    assert_eq!(created.status, 201, "{created:?}");
    let moved = fetch(http.post(proxy.url("/dir/elsewhere")).body("new")).await;
    assert_eq!(moved.status, 202, "{moved:?}");
    let mut wrong = Vec::new();
    for (path, invalidated) in targets {
        let r = fetch(http.get(proxy.url(path))).await;
        let want_gets = if invalidated { 2 } else { 1 };
        if is_hit(&r) == invalidated || origin.hits(path) != want_gets {
            wrong.push(format!(
                "{path}: want invalidated={invalidated}, got {:?} with {} origin requests",
                r.cache_status(),
                origin.hits(path)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
