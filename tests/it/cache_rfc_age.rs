//! RFC 9111 §4.2.3 and §5.1 through the real binary: a received `Age` and the apparent age
//! from `Date` make a response older; `Age` on hits counts on from there; malformed `Age`
//! values are ignored, lists use their first member, overflow is 2^31; and a hit's `Date`
//! and `Age` together date the response where the origin did.

use std::time::{Duration, Instant, SystemTime};

use crate::cache_rfc_support::{
    age, date, http_date, is_hit, proxy_for, proxy_to, secs_between, RawOrigin,
};
use crate::util::{client, fetch, poll_for, TestOrigin, TestResponse};

#[tokio::test]
async fn a_received_age_equal_to_max_age_is_already_stale() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("aged")
            .header("date", &http_date(0))
            .header("cache-control", "max-age=3600")
            .header("age", "3600")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let first = fetch(http.get(proxy.url("/aged"))).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.cache_status(), "sightline; fwd=uri-miss; stored");
    let second = fetch(http.get(proxy.url("/aged"))).await;
    assert_eq!((second.status, second.body.as_str()), (200, "aged"));
    assert!(
        !is_hit(&second) && second.cache_status().contains("fwd=stale"),
        "a response that arrived exactly as old as its max-age was served as fresh: {second:?}"
    );
    assert_eq!(origin.hits("/aged"), 2);
}

#[tokio::test]
async fn age_on_hits_counts_on_from_the_received_age() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("thirty")
            .header("date", &http_date(0))
            .header("cache-control", "max-age=600")
            .header("age", "30")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let stored_at = Instant::now();
    let first = fetch(http.get(proxy.url("/thirty"))).await;
    assert!(first.cache_status().contains("stored"), "{first:?}");
    assert_eq!(age(&first), Some(30), "{first:?}");
    // Every hit's Age is 30 plus the whole seconds since it was stored, until it reads 33.
    let last = poll_for(Duration::from_secs(8), || async {
        let r = fetch(http.get(proxy.url("/thirty"))).await;
        assert!(is_hit(&r), "{r:?}");
        let a = age(&r).unwrap_or_else(|| panic!("hit without a numeric Age: {r:?}"));
        let resident = stored_at.elapsed().as_secs_f64();
        assert!(
            // Age can trail the client's clock by the request's own round trips, never lead it.
            a as f64 >= 30.0 + resident - 2.5 && a as f64 <= 30.0 + resident + 0.5,
            "Age {a} after {resident:.2} s in the cache (stored with Age 30): {r:?}"
        );
        (a >= 33).then_some((r, stored_at.elapsed()))
    })
    .await;
    let (r, after) = last.expect("Age never reached 33");
    assert_eq!(age(&r), Some(33), "{r:?}");
    assert!(
        after >= Duration::from_secs(3),
        "Age 33 only {after:?} after storing"
    );
    assert_eq!(origin.hits("/thirty"), 1);
}

/// Path → the `Age` field lines it is sent with, and whether the entry should be reused.
const AGE_CASES: [(&str, &[&str], bool); 8] = [
    ("/float", &["1.5"], true),
    ("/negative", &["-1"], true),
    ("/suffix", &["1a"], true),
    ("/two-lines-fresh-first", &["0", "7200"], true),
    ("/two-lines-old-first", &["7200", "0"], false),
    ("/list-old-first", &["7200, 0"], false),
    ("/overflow", &["99999999999999999999"], false),
    ("/huge-float", &["7200.0"], true),
];

#[tokio::test]
async fn malformed_age_values_are_ignored_and_lists_use_the_first_member() {
    let origin = TestOrigin::spawn(|req| {
        let (_, ages, _) = AGE_CASES
            .iter()
            .find(|(p, _, _)| *p == req.path())
            .expect("a known path");
        let mut r = TestResponse::ok(req.path().to_owned())
            .header("date", &http_date(0))
            .header("cache-control", "max-age=3600");
        for a in *ages {
            r = r.header("age", a);
        }
        r
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let mut wrong = Vec::new();
    for (path, ages, reused) in AGE_CASES {
        fetch(http.get(proxy.url(path))).await;
        let r = fetch(http.get(proxy.url(path))).await;
        assert_eq!((r.status, r.body.as_str()), (200, path));
        let want_hits = if reused { 1 } else { 2 };
        let ok = is_hit(&r) == reused
            && origin.hits(path) == want_hits
            // An ignored Age leaves the entry young.
            && (!reused || age(&r).is_some_and(|a| a <= 1));
        if !ok {
            wrong.push(format!(
                "Age {ages:?}: want reused={reused}, got Cache-Status {:?}, Age {:?}, \
                 origin hit {}x",
                r.cache_status(),
                r.header("age"),
                origin.hits(path)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_hit_dates_the_response_where_the_origin_did() {
    // The origin's response is 100 s old by its Date (it came through another cache without
    // an Age). A fresh hit repeats the stored Date (RFC 9111 §4) with the whole current age in
    // Age. The response forwarded on the miss goes out through pingora-core, which writes the
    // send time into Date; Age then carries the 100 s, so Date − Age still names the time the
    // origin produced the response.
    let origin_date = http_date(-100);
    let sent = origin_date.clone();
    let origin = TestOrigin::spawn(move |_| {
        TestResponse::ok("dated")
            .header("date", &sent)
            .header("cache-control", "max-age=600")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let produced = httpdate::parse_http_date(&origin_date).expect("a valid HTTP-date");
    let first = fetch(http.get(proxy.url("/dated"))).await;
    let hit = fetch(http.get(proxy.url("/dated"))).await;
    assert!(is_hit(&hit), "{hit:?}");
    for r in [&first, &hit] {
        let a = age(r).unwrap_or_else(|| panic!("no Age on {r:?}"));
        assert!((100..=102).contains(&a), "Age {a}, want about 100: {r:?}");
    }
    let d = date(&first).unwrap_or_else(|| panic!("no valid Date on {first:?}"));
    let dated = d - Duration::from_secs(age(&first).unwrap());
    let off = secs_between(dated, produced);
    assert!(
        off.abs() <= 2.0,
        "Date − Age is {off:.1} s from the origin's Date: {first:?}"
    );
    assert_eq!(
        hit.header("date"),
        Some(origin_date.as_str()),
        "a hit carries the stored Date: {hit:?}"
    );
    assert_eq!(origin.hits("/dated"), 1);
}

#[tokio::test]
async fn a_response_without_date_is_dated_on_receipt() {
    let origin = RawOrigin::spawn(|_| {
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 7\r\n\r\nundated"
            .to_vec()
    })
    .await;
    let proxy = proxy_to(origin.addr()).await;
    let http = client();
    let received = SystemTime::now();
    fetch(http.get(proxy.url("/undated"))).await;
    let hit = fetch(http.get(proxy.url("/undated"))).await;
    assert!(is_hit(&hit), "{hit:?}");
    let stored = hit
        .header("date")
        .unwrap_or_else(|| panic!("a hit without Date: {hit:?}"))
        .to_owned();
    // A hit a second later repeats it: the Date was given once, when the response arrived.
    let later = poll_for(Duration::from_secs(5), || async {
        let r = fetch(http.get(proxy.url("/undated"))).await;
        assert!(is_hit(&r), "{r:?}");
        (age(&r) >= Some(1)).then_some(r)
    })
    .await
    .expect("Age never reached 1");
    assert_eq!(later.header("date"), Some(stored.as_str()), "{later:?}");
    let off = secs_between(date(&later).expect("a valid Date"), received);
    assert!(off.abs() <= 2.0, "Date is {off:.1} s from the receipt");
    assert_eq!(origin.hits("/undated"), 1);
}
