//! Error answers and forwarding headers through the real binary: 502 with no healthy upstream,
//! 504 on a slow origin, 431/413 limits, malformed requests over raw TCP, and the headers the
//! origin and the client see.

use std::time::Duration;

use crate::util::{
    assert_marked, client, fetch, free_addr, poll_until, raw_exchange, with_healthz, ConfigBuilder,
    Fetched, ProxyProcess, TestOrigin, TestResponse,
};

/// Asserts a short plain-text error answer with `status`.
fn assert_short_text_error(r: &Fetched, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "error is not text/plain: {r:?}"
    );
    assert!(
        !r.body.is_empty() && r.body.len() < 256,
        "error body not short text: {:?}",
        r.body
    );
    assert_marked(r);
}

#[tokio::test]
async fn no_healthy_upstream_is_a_502_with_a_short_text_body() {
    let dead = free_addr();
    let cfg = ConfigBuilder::new(&[dead]).set("upstreams.health_check.unhealthy_after", 1);
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();
    // Before the first check the refused connect answers; after it, the empty rotation does.
    let r = fetch(http.get(proxy.url("/x"))).await;
    assert_short_text_error(&r, 502);
    let out = poll_until(Duration::from_secs(5), || async {
        proxy
            .stderr_text()
            .lines()
            .any(|l| l.contains("out of rotation"))
    })
    .await;
    assert!(
        out,
        "the dead upstream never left the rotation\n{}",
        proxy.output()
    );
    let r = fetch(http.get(proxy.url("/x"))).await;
    assert_short_text_error(&r, 502);
}

#[tokio::test]
async fn origin_slower_than_read_timeout_is_a_504() {
    let origin = TestOrigin::spawn(with_healthz(|_| {
        TestResponse::ok("late").delay(Duration::from_secs(3))
    }))
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.read_timeout", "300ms");
    let proxy = ProxyProcess::start(cfg).await;
    let r = fetch(client().get(proxy.url("/slow"))).await;
    assert_short_text_error(&r, 504);
    assert!(
        r.elapsed < Duration::from_millis(2500),
        "504 only after {:?}: the read timeout did not cut the wait",
        r.elapsed
    );
}

#[tokio::test]
async fn oversized_header_is_431_and_oversized_body_is_413() {
    let origin = TestOrigin::named("o").await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("proxy.max_body_bytes", "1KiB");
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();

    let r = fetch(
        http.get(proxy.url("/big-header"))
            .header("x-big", "a".repeat(70 * 1024)),
    )
    .await;
    assert_eq!(r.status, 431, "70 KB header: {r:?}");
    assert_marked(&r);
    assert_eq!(
        origin.hits("/big-header"),
        0,
        "the oversized request reached the origin"
    );

    let r = fetch(http.post(proxy.url("/big-body")).body(vec![b'x'; 4096])).await;
    assert_eq!(r.status, 413, "4 KiB body over a 1 KiB limit: {r:?}");
    assert_marked(&r);
    assert_eq!(
        origin.hits("/big-body"),
        0,
        "the oversized body reached the origin"
    );

    let r = fetch(http.post(proxy.url("/small-body")).body(vec![b'x'; 512])).await;
    assert_eq!(r.status, 200, "512 B body under the limit: {r:?}");
    assert_eq!(origin.requests_to("/small-body")[0].body.len(), 512);
}

#[tokio::test]
async fn oversized_chunked_body_is_413() {
    let origin = TestOrigin::named("o").await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("proxy.max_body_bytes", "1KiB");
    let proxy = ProxyProcess::start(cfg).await;
    // No Content-Length: the limit can only be enforced while the body streams.
    let chunk = "x".repeat(1024);
    let request = format!(
        "POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         400\r\n{chunk}\r\n400\r\n{chunk}\r\n400\r\n{chunk}\r\n0\r\n\r\n"
    );
    let answer = raw_exchange(
        proxy.proxy_addr(),
        request.as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "3 KiB chunked body over a 1 KiB limit answered {answer:?}"
    );
    assert!(
        origin
            .requests_to("/chunked")
            .iter()
            .all(|r| r.body.len() <= 1024),
        "the origin received more than max_body_bytes"
    );
}

#[tokio::test]
async fn malformed_request_line_is_a_4xx_and_the_proxy_keeps_serving() {
    let origin = TestOrigin::named("o").await;
    let proxy = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()])).await;
    for garbage in [
        &b"THIS IS NOT HTTP\r\n\r\n"[..],
        b"GET /x HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: t\r\nbad header line\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    ] {
        let answer = raw_exchange(proxy.proxy_addr(), garbage, Duration::from_secs(5)).await;
        let status = answer.get(9..12).unwrap_or("");
        assert!(
            answer.starts_with("HTTP/1.") && status.starts_with('4'),
            "{:?} answered {answer:?}",
            String::from_utf8_lossy(garbage)
        );
    }
    let r = fetch(client().get(proxy.url("/after"))).await;
    assert_eq!(
        r.status, 200,
        "the proxy stopped serving after malformed input: {r:?}"
    );
    assert_eq!(origin.hits("/after"), 1);
    assert_eq!(
        origin.hits("/x"),
        0,
        "a malformed request reached the origin"
    );
}

#[tokio::test]
async fn forwarding_headers_reach_the_origin_and_marks_reach_the_client() {
    let origin = TestOrigin::named("o").await;
    let proxy = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()])).await;
    // An untrusted client's X-Forwarded-For is replaced, not appended to.
    let r = fetch(
        client()
            .get(proxy.url("/fwd"))
            .header("x-forwarded-for", "6.6.6.6"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_marked(&r);
    let seen = &origin.requests_to("/fwd")[0];
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("127.0.0.1"),
        "{seen:?}"
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"), "{seen:?}");
    assert_eq!(seen.header("via"), Some("1.1 sightline"), "{seen:?}");
}
