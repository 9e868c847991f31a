//! Strict request framing through the real binary, as raw bytes over TCP: each ambiguous or
//! malformed request is answered 4xx, never reaches the origin, and (when sightline, not
//! pingora's parser, refused it) is counted in `/api/summary`'s `rejected`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::util::{
    client, fetch, poll_until, raw_exchange, ConfigBuilder, ProxyProcess, TestOrigin,
};

/// Each case: its path (unique, to check the origin), the raw request, and the `rejected`
/// reason sightline counts (`None`: pingora's parser refuses it before sightline sees it).
fn cases() -> Vec<(&'static str, String, Option<&'static str>)> {
    let req = |path: &str, head: &str| format!("POST {path} HTTP/1.1\r\nHost: t\r\n{head}\r\n");
    vec![
        (
            "/f-clte",
            req(
                "/f-clte",
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            ) + "0\r\n\r\n",
            Some("cl_and_te"),
        ),
        (
            "/f-cl2",
            req("/f-cl2", "Content-Length: 3\r\nContent-Length: 3\r\n") + "abc",
            Some("bad_content_length"),
        ),
        (
            "/f-cllist",
            req("/f-cllist", "Content-Length: 3, 3\r\n") + "abc",
            Some("bad_content_length"),
        ),
        (
            "/f-clx",
            req("/f-clx", "Content-Length: 3x\r\n") + "abc",
            None,
        ),
        (
            "/f-xchunked",
            req("/f-xchunked", "Transfer-Encoding: xchunked\r\n") + "0\r\n\r\n",
            None,
        ),
        (
            "/f-chid",
            req("/f-chid", "Transfer-Encoding: chunked, identity\r\n") + "0\r\n\r\n",
            None,
        ),
        (
            "/f-tespace",
            req("/f-tespace", "Transfer-Encoding : chunked\r\n") + "0\r\n\r\n",
            None,
        ),
        (
            "/f-nul",
            req("/f-nul", "X-A: a\0b\r\nContent-Length: 0\r\n"),
            None,
        ),
        (
            "/f-cr",
            req("/f-cr", "X-A: a\rb\r\nContent-Length: 0\r\n"),
            None,
        ),
        ("/f-09", "GET /f-09\r\n".to_string(), None),
        (
            "/f-abs",
            "GET http://other.example/f-abs HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
            None,
        ),
        (
            "/f-nohost",
            "GET /f-nohost HTTP/1.1\r\n\r\n".to_string(),
            Some("bad_host"),
        ),
        (
            "/f-2host",
            "GET /f-2host HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n".to_string(),
            None,
        ),
    ]
}

#[tokio::test]
async fn each_malformed_request_is_refused_uncounted_by_the_origin_and_counted() {
    let origin = TestOrigin::named("o").await;
    let proxy = ProxyProcess::start_with_admin(ConfigBuilder::new(&[origin.addr()])).await;
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (path, bytes, reason) in cases() {
        let answer =
            raw_exchange(proxy.proxy_addr(), bytes.as_bytes(), Duration::from_secs(3)).await;
        let status = answer.get(9..12).unwrap_or("");
        eprintln!("{path}: {:?}", answer.lines().next());
        if !(answer.starts_with("HTTP/1.") && status.starts_with('4')) {
            wrong.push(format!("{path}: answered {answer:?}"));
        }
        if origin.hits(path) != 0 {
            wrong.push(format!("{path}: reached the origin"));
        }
        if let Some(r) = reason {
            *expected.entry(r).or_default() += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let counted = poll_until(Duration::from_secs(5), || async {
        let rejected = &proxy.admin_json("/api/summary").await["rejected"];
        expected
            .iter()
            .all(|(r, n)| rejected[r].as_u64() == Some(*n))
    })
    .await;
    assert!(
        counted,
        "expected {expected:?}, summary has {}",
        proxy.admin_json("/api/summary").await["rejected"]
    );
    let metrics = client()
        .get(proxy.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sightline_http_rejected_total{reason=\"cl_and_te\"} 1"),
        "{metrics}"
    );
    // A well-formed request on a fresh connection still goes through.
    let r = fetch(client().post(proxy.url("/fine")).body("abc")).await;
    assert_eq!((r.status, origin.hits("/fine")), (200, 1), "{r:?}");
}
