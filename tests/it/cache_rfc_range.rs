//! Ranges through the real binary (RFC 9110 §14, RFC 9111 §3.3): a `Range` request on a
//! fully stored response is answered 206 from the cache with the right `Content-Range` (416
//! when unsatisfiable, multipart for several ranges, the whole entry when `If-Range` names an
//! old validator), whether the origin sent a length or a chunked body; a 206 from the origin is
//! never stored as if it were the whole response.

use crate::cache_rfc_support::{is_hit, proxy_for, proxy_to, RawOrigin};
use crate::util::{client, fetch, ProxyProcess, TestOrigin, TestResponse};

const BODY: &str = "0123456789abcdef";

/// A 200 of [`BODY`] in two chunks, with no `Content-Length`.
fn chunked_response() -> Vec<u8> {
    let (a, b) = BODY.split_at(7);
    format!(
        "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    )
    .into_bytes()
}

/// A full GET, then ranged GETs, all through `proxy`: every range comes from the entry.
async fn assert_ranges_from_cache(name: &str, proxy: &ProxyProcess) {
    let http = client();
    let full = fetch(http.get(proxy.url("/r"))).await;
    assert_eq!((full.status, full.body.as_str()), (200, BODY), "{name}");
    let cases = [
        ("bytes=2-5", 206, "2345", Some("bytes 2-5/16")),
        ("bytes=-3", 206, "def", Some("bytes 13-15/16")),
        ("bytes=10-", 206, "abcdef", Some("bytes 10-15/16")),
        ("bytes=100-200", 416, "", Some("bytes */16")),
    ];
    for (range, status, body, content_range) in cases {
        let r = fetch(http.get(proxy.url("/r")).header("range", range)).await;
        assert_eq!(
            (r.status, r.body.as_str(), r.header("content-range")),
            (status, body, content_range),
            "{name} {range}: {r:?}"
        );
        assert!(is_hit(&r), "{name} {range} not from cache: {r:?}");
    }
}

#[tokio::test]
async fn range_requests_on_a_stored_response_are_answered_from_cache() {
    let sized =
        TestOrigin::spawn(|_| TestResponse::ok(BODY).header("cache-control", "max-age=600")).await;
    assert_ranges_from_cache("content-length", &proxy_for(&sized).await).await;
    assert_eq!(sized.hits("/r"), 1, "the origin was asked for a range");
    let chunked = RawOrigin::spawn(|_| chunked_response()).await;
    assert_ranges_from_cache("chunked", &proxy_to(chunked.addr()).await).await;
    assert_eq!(chunked.hits("/r"), 1, "the origin was asked for a range");
}

#[tokio::test]
async fn a_206_from_the_origin_is_not_stored() {
    // An origin that answers every request with a fragment, even the full GET the cache sends.
    let origin = TestOrigin::spawn(|_| {
        TestResponse::status(206)
            .body("0123")
            .header("content-range", "bytes 0-3/16")
            .header("cache-control", "max-age=600")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    for _ in 0..2 {
        let r = fetch(http.get(proxy.url("/part")).header("range", "bytes=0-3")).await;
        assert_eq!((r.status, r.body.as_str()), (206, "0123"), "{r:?}");
        assert!(!is_hit(&r), "{r:?}");
    }
    let full = fetch(http.get(proxy.url("/part"))).await;
    assert!(
        !is_hit(&full),
        "a fragment was served as the whole response: {full:?}"
    );
    assert_eq!(origin.hits("/part"), 3);
}

#[tokio::test]
async fn several_ranges_get_a_multipart_answer_and_if_range_guards_the_entry() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok(BODY)
            .header("cache-control", "max-age=600")
            .header("etag", "\"v1\"")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    assert_eq!(fetch(http.get(proxy.url("/m"))).await.body, BODY);

    let multi = fetch(http.get(proxy.url("/m")).header("range", "bytes=0-1,4-5")).await;
    assert_eq!(multi.status, 206, "{multi:?}");
    assert!(is_hit(&multi), "{multi:?}");
    let ctype = multi.header("content-type").unwrap_or_default().to_string();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {multi:?}"));
    let parts: Vec<&str> = multi
        .body
        .split(&format!("--{boundary}"))
        .filter(|p| p.contains("Content-Range"))
        .collect();
    assert_eq!(parts.len(), 2, "{multi:?}");
    assert!(parts[0].contains("bytes 0-1/16") && parts[0].trim_end().ends_with("01"));
    assert!(parts[1].contains("bytes 4-5/16") && parts[1].trim_end().ends_with("45"));

    // If-Range with the current validator: the range; with an old one: the whole entry.
    let same = fetch(
        http.get(proxy.url("/m"))
            .header("range", "bytes=2-5")
            .header("if-range", "\"v1\""),
    )
    .await;
    assert_eq!((same.status, same.body.as_str()), (206, "2345"), "{same:?}");
    let old = fetch(
        http.get(proxy.url("/m"))
            .header("range", "bytes=2-5")
            .header("if-range", "\"v0\""),
    )
    .await;
    assert_eq!((old.status, old.body.as_str()), (200, BODY), "{old:?}");
    assert!(is_hit(&same) && is_hit(&old), "{same:?} {old:?}");
    assert_eq!(origin.hits("/m"), 1);
}
