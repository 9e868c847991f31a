//! Header handling of the cache through the real binary: hop-by-hop fields (RFC 9110 §7.6.1)
//! are neither stored nor forwarded, except a 101's `Upgrade`/`Connection`; a 304 updates the
//! stored header (RFC 9111 §3.2, §4.3.4), but not its `Vary` (README);
//! targeted cache fields (RFC 9213: `Sightline-Cache-Control`, `CDN-Cache-Control`) take
//! precedence over `Cache-Control` and are never forwarded.

use std::time::Duration;

use crate::cache_rfc_support::{is_hit, proxy_for, proxy_to, Fields, RawOrigin};
use crate::util::{client, fetch, poll_for, with_healthz, TestOrigin, TestResponse};

/// Serves `response` (a 200 of body `hop` with `X-Kept: 3`) through the proxy twice: the stored
/// miss and the hit both lack every field in `dropped` and keep `X-Kept`, from one origin request.
async fn hop_fields_never_reach_the_client(response: &'static [u8], dropped: &[&str]) {
    let origin = RawOrigin::spawn(move |_| response.to_vec()).await;
    let proxy = proxy_to(origin.addr()).await;
    let http = client();
    let miss = fetch(http.get(proxy.url("/hop"))).await;
    let hit = fetch(http.get(proxy.url("/hop"))).await;
    assert!(miss.cache_status().contains("stored"), "{miss:?}");
    assert!(is_hit(&hit), "{hit:?}");
    for r in [&miss, &hit] {
        assert_eq!((r.status, r.body.as_str()), (200, "hop"));
        for name in dropped {
            assert!(r.header(name).is_none(), "{name} reached the client: {r:?}");
        }
        assert_eq!(r.header("x-kept"), Some("3"), "{r:?}");
    }
    assert_eq!(origin.hits("/hop"), 1);
}

#[tokio::test]
async fn connection_listed_fields_are_neither_stored_nor_forwarded() {
    hop_fields_never_reach_the_client(
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nConnection: X-Hop, x-other\r\n\
          X-Hop: secret\r\nX-Other: 2\r\nKeep-Alive: timeout=5\r\nX-Kept: 3\r\n\
          Content-Length: 3\r\n\r\nhop",
        &["x-hop", "x-other", "keep-alive"],
    )
    .await;
}

#[tokio::test]
async fn a_304_updates_the_stored_headers() {
    let origin = TestOrigin::spawn(with_healthz(|req| {
        if req.header("if-none-match") == Some("\"v1\"") {
            TestResponse::status(304)
                .header("etag", "\"v1\"")
                .header("cache-control", "max-age=3600")
                .header("x-test-header", "B")
                .header("content-foo", "b")
        } else {
            TestResponse::ok("body v1")
                .header("etag", "\"v1\"")
                .header("cache-control", "max-age=1")
                .header("x-test-header", "A")
                .header("content-foo", "a")
        }
    }))
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let first = fetch(http.get(proxy.url("/u"))).await;
    assert_eq!(first.header("x-test-header"), Some("A"));
    let revalidated = poll_for(Duration::from_secs(5), || async {
        let r = fetch(http.get(proxy.url("/u"))).await;
        (!is_hit(&r)).then_some(r)
    })
    .await
    .expect("the max-age=1 entry never went stale");
    assert_eq!(
        revalidated.cache_status(),
        "sightline; fwd=stale; fwd-status=304"
    );
    let after = fetch(http.get(proxy.url("/u"))).await;
    assert!(
        is_hit(&after),
        "the updated entry (max-age=3600) is not fresh: {after:?}"
    );
    for r in [&revalidated, &after] {
        assert_eq!((r.status, r.body.as_str()), (200, "body v1"), "{r:?}");
        assert_eq!(r.header("x-test-header"), Some("B"), "{r:?}");
        assert_eq!(r.header("content-foo"), Some("b"), "{r:?}");
        assert_eq!(r.header("cache-control"), Some("max-age=3600"), "{r:?}");
    }
    let seen = origin.requests_to("/u");
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[1].header("if-none-match"), Some("\"v1\""));
}

/// Path → (the response's cache fields, whether the second request is a hit, origin hits).
const TARGETED: [(&str, Fields, bool, usize); 8] = [
    (
        "/cdn-over-cc",
        &[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60"),
        ],
        true,
        1,
    ),
    (
        "/cdn-private",
        &[
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "private"),
        ],
        false,
        2,
    ),
    (
        "/cdn-no-store",
        &[
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "no-store"),
        ],
        false,
        2,
    ),
    (
        "/cdn-no-cache",
        &[
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "no-cache"),
        ],
        false,
        2,
    ),
    (
        "/cdn-s-maxage",
        &[
            ("cache-control", "private"),
            ("cdn-cache-control", "s-maxage=60"),
        ],
        true,
        1,
    ),
    (
        "/sightline-first",
        &[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "no-store"),
            ("sightline-cache-control", "max-age=60"),
        ],
        true,
        1,
    ),
    (
        "/sightline-short",
        &[
            ("cdn-cache-control", "max-age=60"),
            ("sightline-cache-control", "max-age=0"),
        ],
        false,
        2,
    ),
    (
        // Not a valid Structured Field: ignored, so Cache-Control's no-store applies.
        "/cdn-invalid",
        &[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=\"60\""),
        ],
        false,
        2,
    ),
];

#[tokio::test]
async fn targeted_cache_fields_take_precedence_and_are_not_forwarded() {
    let origin = TestOrigin::spawn(|req| {
        let (_, fields, _, _) = TARGETED
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
    for (path, _, hit, hits) in TARGETED {
        let first = fetch(http.get(proxy.url(path))).await;
        let second = fetch(http.get(proxy.url(path))).await;
        for r in [&first, &second] {
            assert_eq!((r.status, r.body.as_str()), (200, path));
            for name in ["cdn-cache-control", "sightline-cache-control"] {
                if r.header(name).is_some() {
                    wrong.push(format!("{path}: {name} forwarded to the client"));
                }
            }
        }
        if is_hit(&second) != hit || origin.hits(path) != hits {
            wrong.push(format!(
                "{path}: want hit={hit} and {hits} origin requests, got {:?} and {}",
                second.cache_status(),
                origin.hits(path)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn proxy_connection_te_and_upgrade_are_neither_stored_nor_forwarded() {
    hop_fields_never_reach_the_client(
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nProxy-Connection: keep-alive\r\n\
          TE: trailers\r\nUpgrade: h2c\r\nX-Kept: 3\r\nContent-Length: 3\r\n\r\nhop",
        &["proxy-connection", "te", "upgrade"],
    )
    .await;
}

#[tokio::test]
async fn fields_named_by_private_and_no_cache_are_not_stored() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("named")
            .header(
                "cache-control",
                "max-age=600, private=\"x-secret\", no-cache=\"x-other\"",
            )
            .header("x-secret", "s")
            .header("x-other", "o")
            .header("x-kept", "k")
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    fetch(http.get(proxy.url("/named"))).await;
    let hit = fetch(http.get(proxy.url("/named"))).await;
    assert!(is_hit(&hit), "the rest of the response is stored: {hit:?}");
    assert_eq!(
        (hit.body.as_str(), hit.header("x-kept")),
        ("named", Some("k"))
    );
    for name in ["x-secret", "x-other"] {
        assert!(hit.header(name).is_none(), "{name} was stored: {hit:?}");
    }
    assert_eq!(origin.hits("/named"), 1);
}

#[tokio::test]
async fn a_304_never_updates_content_length_content_range_or_vary() {
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let origin = RawOrigin::spawn(move |_| {
        if answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            // Stale at once, so the next request revalidates.
            b"HTTP/1.1 200 OK\r\nCache-Control: max-age=0\r\nETag: \"v1\"\r\n\
              Content-Length: 10\r\n\r\n0123456789"
                .to_vec()
        } else {
            b"HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=600\r\nETag: \"v1\"\r\n\
              X-Updated: yes\r\nContent-Length: 0\r\nContent-Range: bytes 0-1/2\r\n\
              Vary: accept\r\n\r\n"
                .to_vec()
        }
    })
    .await;
    let proxy = proxy_to(origin.addr()).await;
    let http = client();
    fetch(http.get(proxy.url("/len"))).await;
    let revalidated = fetch(http.get(proxy.url("/len"))).await;
    assert!(
        revalidated.cache_status().contains("fwd-status=304"),
        "{revalidated:?}"
    );
    let hit = fetch(http.get(proxy.url("/len"))).await;
    assert!(
        is_hit(&hit),
        "the 304's max-age=600 was not applied: {hit:?}"
    );
    for r in [&revalidated, &hit] {
        assert_eq!((r.status, r.body.as_str()), (200, "0123456789"), "{r:?}");
        assert_eq!(r.header("x-updated"), Some("yes"), "{r:?}");
        assert_eq!(r.header("content-length"), Some("10"), "{r:?}");
        assert!(r.header("content-range").is_none(), "{r:?}");
        assert!(r.header("vary").is_none(), "{r:?}");
    }
    assert_eq!(origin.hits("/len"), 2);
}

/// Only the 101's head: the tunnel after it is not asserted, because pingora 0.9.1 tears it
/// down when the 101 is read before the upgrade request's empty body (cloudflare/pingora#946).
#[tokio::test]
async fn a_101_keeps_its_upgrade_and_connection_fields() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Reads from `s` until the end of a message head; panics on close or after 10 s (a
    /// guard against a hang, not a timed assertion).
    async fn read_head(s: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut chunk = [0u8; 1024];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => panic!("closed after {:?}", String::from_utf8_lossy(&buf)),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("stuck after {:?}", String::from_utf8_lossy(&buf)));
        String::from_utf8_lossy(&buf).to_ascii_lowercase()
    }

    // An origin that switches protocols, then holds the connection until the proxy closes it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound address");
    let origin = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let head = read_head(&mut s).await;
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .await
        .expect("write the 101");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        head
    });
    let proxy = proxy_to(addr).await;
    let mut client = TcpStream::connect(proxy.proxy_addr())
        .await
        .expect("connect");
    client
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: sightline.test\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .expect("write the request");
    let head = read_head(&mut client).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    for field in ["\r\nconnection: upgrade\r\n", "\r\nupgrade: websocket\r\n"] {
        assert!(
            head.contains(field),
            "{field:?} missing from the 101: {head}"
        );
    }
    drop(client);
    let seen = origin.await.expect("origin task");
    assert!(seen.contains("\r\nupgrade: websocket\r\n"), "{seen}");
}

#[tokio::test]
async fn a_vary_changed_by_a_304_is_ignored_and_the_stored_vary_still_selects() {
    let origin = TestOrigin::spawn(|req| {
        let lang = req.header("accept-language").unwrap_or("none").to_owned();
        if req.header("if-none-match").is_some() {
            // The 304 names another field; the stored Vary (accept-language) must stay.
            TestResponse::status(304)
                .header("etag", &format!("\"{lang}\""))
                .header("cache-control", "max-age=600")
                .header("vary", "x-other")
        } else {
            // Stale at once, so the next request revalidates.
            TestResponse::ok(lang.clone())
                .header("etag", &format!("\"{lang}\""))
                .header("cache-control", "max-age=0")
                .header("vary", "accept-language")
        }
    })
    .await;
    let proxy = proxy_for(&origin).await;
    let http = client();
    let get = |lang: &str, other: &str| {
        fetch(
            http.get(proxy.url("/v"))
                .header("accept-language", lang)
                .header("x-other", other),
        )
    };
    assert_eq!(get("en", "1").await.body, "en");
    let revalidated = get("en", "1").await;
    assert!(
        revalidated.cache_status().contains("fwd-status=304"),
        "{revalidated:?}"
    );
    // Matched by accept-language: another x-other is the same variant...
    let same = get("en", "2").await;
    assert!(is_hit(&same), "matched by the 304's Vary: {same:?}");
    // ...and another accept-language is not, even with the same x-other.
    let other = get("fr", "1").await;
    assert_eq!(other.body, "fr", "matched by the 304's Vary: {other:?}");
    assert!(!is_hit(&other), "{other:?}");
    for r in [&revalidated, &same] {
        assert_eq!(r.body, "en", "{r:?}");
        assert_eq!(r.header("vary"), Some("accept-language"), "{r:?}");
    }
    assert_eq!(origin.hits("/v"), 3);
}

/// The whole tunnel: ignored because pingora 0.9.1 tears it down in about one run in ten on
/// loopback, when the origin's 101 is read before the upgrade request's own empty body end
/// (cloudflare/pingora#946, fixes proposed in #947 and #1016). Run it again once pingora has the fix.
#[tokio::test]
#[ignore = "cloudflare/pingora#946: an upgraded tunnel is sometimes closed right after the 101"]
async fn a_101_keeps_upgrade_and_connection_and_the_tunnel_carries_bytes_both_ways() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Reads from `s` into `buf` until `done(buf)`; panics on close or after 10 s (a guard
    /// against a hang, not a timed assertion).
    async fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !done(buf) {
                let mut chunk = [0u8; 1024];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => panic!("closed after {:?}", String::from_utf8_lossy(buf)),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("stuck after {:?}", String::from_utf8_lossy(buf)));
    }
    let head_done = |b: &[u8]| b.windows(4).any(|w| w == b"\r\n\r\n");

    // An origin that switches protocols, then answers every chunk it reads with "echo:" + it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound address");
    let origin = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        read_until(&mut s, &mut head, head_done).await;
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .await
        .expect("write the 101");
        let mut chunk = [0u8; 1024];
        while let Ok(n @ 1..) = s.read(&mut chunk).await {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&chunk[..n]);
            if s.write_all(&reply).await.is_err() {
                break;
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    });
    let proxy = proxy_to(addr).await;
    let mut client = TcpStream::connect(proxy.proxy_addr())
        .await
        .expect("connect");
    client
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: sightline.test\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .expect("write the request");
    let mut buf = Vec::new();
    read_until(&mut client, &mut buf, head_done).await;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    for field in ["\r\nconnection: upgrade\r\n", "\r\nupgrade: websocket\r\n"] {
        assert!(
            head.contains(field),
            "{field:?} missing from the 101: {head}"
        );
    }
    let mut tunnel = buf.split_off(end);
    client.write_all(b"ping").await.expect("write through");
    read_until(&mut client, &mut tunnel, |b| b.len() >= 9).await;
    assert_eq!(tunnel, b"echo:ping");
    drop(client);
    let seen = origin.await.expect("origin task").to_ascii_lowercase();
    assert!(seen.contains("\r\nupgrade: websocket"), "{seen}");
}
