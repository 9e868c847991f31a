//! RFC 9111 §4.2.1 and §5.3 through the real binary: freshness from `Expires` is
//! `Expires − Date` of the response, so an origin whose clock is off still gets the lifetime
//! it meant; `Expires` before `Date`, or invalid, is stale.

use std::time::{Duration, Instant};

use crate::cache_rfc_support::{http_date, is_hit, proxy_for};
use crate::util::{client, fetch, poll_for, TestOrigin, TestResponse};

#[tokio::test]
async fn expires_counts_from_the_origins_date_when_its_clock_is_fast() {
    // The origin's clock is an hour fast and it means "fresh for 2 s": Expires − now would
    // keep the entry fresh for an hour and 2 s.
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("skewed")
            .header("date", &http_date(3600))
            .header("expires", &http_date(3602))
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let stored_at = Instant::now();
    let first = fetch(http.get(proxy.url("/skewed"))).await;
    assert_eq!(first.cache_status(), "sightline; fwd=uri-miss; stored");
    let second = fetch(http.get(proxy.url("/skewed"))).await;
    assert!(is_hit(&second), "fresh right after storing: {second:?}");
    assert_eq!(second.header("age"), Some("0"), "{second:?}");
    let stale = poll_for(Duration::from_secs(6), || async {
        let r = fetch(http.get(proxy.url("/skewed"))).await;
        (!is_hit(&r)).then_some(r)
    })
    .await
    .expect("an entry with Expires − Date = 2 s was still fresh after 6 s");
    let after = stored_at.elapsed();
    assert!(
        after >= Duration::from_millis(1500),
        "stale after only {after:?}"
    );
    assert_eq!((stale.status, stale.body.as_str()), (200, "skewed"));
    assert!(stale.cache_status().contains("fwd=stale"), "{stale:?}");
    assert_eq!(origin.hits("/skewed"), 2);
}

#[tokio::test]
async fn expires_earlier_than_date_or_invalid_is_stale() {
    let origin = TestOrigin::spawn(|req| {
        let expires = match req.path() {
            // Half an hour ahead of our clock, but before the origin's (fast) Date.
            "/before-date" => http_date(1800),
            "/zero" => "0".to_owned(),
            "/utc" => "Thu, 18 Aug 2050 02:01:18 UTC".to_owned(),
            _ => "Thu, 18 Aug 50 02:01:18 GMT".to_owned(),
        };
        let date = if req.path() == "/before-date" {
            http_date(3600)
        } else {
            http_date(0)
        };
        TestResponse::ok(req.path().to_owned())
            .header("date", &date)
            .header("expires", &expires)
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    for path in ["/before-date", "/zero", "/utc", "/two-digit-year"] {
        let first = fetch(http.get(proxy.url(path))).await;
        assert_eq!(first.status, 200, "{path}: {first:?}");
        let second = fetch(http.get(proxy.url(path))).await;
        assert_eq!(second.body, path);
        assert!(
            !is_hit(&second) && second.cache_status().contains("fwd=stale"),
            "{path}: a stale entry was served as fresh: {second:?}"
        );
        assert_eq!(origin.hits(path), 2, "{path}");
    }
}
