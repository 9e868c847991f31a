//! Slow clients and the connection limit through the real binary over raw TCP: a trickled
//! first request header is cut at `header_timeout` (408), an idle keep-alive connection at
//! `idle_timeout`, and at `max_connections` half-open connections are shed before anything
//! else, then new connections are refused.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{client, poll_until, ConfigBuilder, ProxyProcess, TestOrigin};

/// Reads until the peer closes (or resets) or `limit` passes; returns the bytes and whether
/// the peer closed.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// Sends one GET on `stream` and reads its (short, `content-length`) answer.
async fn exchange(stream: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .expect("write request");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .or_else(|| {
                        head.lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                    })
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    return;
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "no complete answer to {path}");
    String::from_utf8_lossy(&out).into_owned()
}

/// A connection that has sent part of a request header.
async fn half_open(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n")
        .await
        .expect("write partial header");
    s
}

/// One figure of `/metrics` (0 when absent).
async fn metric(proxy: &ProxyProcess, name: &str) -> u64 {
    let text = match client().get(proxy.admin_url("/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn header_timeout_cuts_a_trickled_first_request_header() {
    let origin = TestOrigin::named("a").await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("proxy.header_timeout", "1s");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let mut s = half_open(proxy.proxy_addr()).await;
    let started = Instant::now();
    // One header line every 200 ms: each read is prompt, the whole header never completes.
    let trickle = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(format!("x-line-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), trickle).await;
    let waited = started.elapsed();
    let (answer, closed) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(closed, "the slow connection stayed open");
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "expected a 408, got {answer:?}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "cut after {waited:?}, not at header_timeout (1 s)"
    );
    assert!(metric(&proxy, "sightline_connections_header_timeouts_total").await >= 1);
    assert!(origin.requests_to("/slow").is_empty());
}

#[tokio::test]
async fn idle_timeout_closes_an_idle_keep_alive_connection() {
    let origin = TestOrigin::named("a").await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("proxy.idle_timeout", "1s");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let mut s = TcpStream::connect(proxy.proxy_addr())
        .await
        .expect("connect");
    let first = exchange(&mut s, "/one").await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Still open and reusable well inside the idle time.
    let second = exchange(&mut s, "/two").await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let idle_from = Instant::now();
    let (rest, closed) = read_to_close(&mut s, Duration::from_secs(10)).await;
    let idle = idle_from.elapsed();
    assert!(closed && rest.is_empty(), "not closed cleanly: {rest:?}");
    assert!(
        idle >= Duration::from_millis(900),
        "closed after {idle:?}, before idle_timeout"
    );
    assert!(metric(&proxy, "sightline_connections_idle_closed_total").await >= 1);
}

#[tokio::test]
async fn max_connections_sheds_half_open_connections_first_then_refuses() {
    let origin = TestOrigin::named("a").await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("proxy.max_connections", 8)
        .set("proxy.header_timeout", "30s");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let addr = proxy.proxy_addr();
    // Two kept-alive connections past their first request, then six half-open ones.
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert!(exchange(&mut s, "/kept").await.starts_with("HTTP/1.1 200"));
        kept.push(s);
    }
    let mut slow = Vec::new();
    for _ in 0..6 {
        slow.push(half_open(addr).await);
        // In order, so "oldest" is well defined.
        let n = slow.len() as u64 + 2;
        let admitted = poll_until(Duration::from_secs(5), || async {
            metric(&proxy, "sightline_connections_open").await == n
        })
        .await;
        assert!(admitted, "connection {n} was not admitted");
    }
    // Full: a new client is served, and the oldest half-open connection pays for it.
    let mut fresh = TcpStream::connect(addr).await.expect("connect");
    assert!(exchange(&mut fresh, "/fresh")
        .await
        .starts_with("HTTP/1.1 200"));
    let (_, closed) = read_to_close(&mut slow[0], Duration::from_secs(5)).await;
    assert!(closed, "the oldest half-open connection was not shed");
    assert_eq!(metric(&proxy, "sightline_connections_shed_total").await, 1);
    for s in &mut kept {
        assert!(exchange(s, "/kept").await.starts_with("HTTP/1.1 200"));
    }
    // Shed the remaining five half-open ones with five more kept-alive clients.
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert!(exchange(&mut s, "/more").await.starts_with("HTTP/1.1 200"));
        kept.push(s);
    }
    assert_eq!(metric(&proxy, "sightline_connections_shed_total").await, 6);
    // Nothing half-open is left: the next connection is refused, the kept ones still work.
    let mut refused = TcpStream::connect(addr)
        .await
        .expect("the kernel still accepts");
    let _ = refused
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await;
    let (answer, closed) = read_to_close(&mut refused, Duration::from_secs(5)).await;
    assert!(closed && answer.is_empty(), "not refused: {answer:?}");
    assert!(metric(&proxy, "sightline_connections_refused_total").await >= 1);
    assert!(exchange(&mut kept[0], "/kept")
        .await
        .starts_with("HTTP/1.1 200"));
    let health = client()
        .get(proxy.admin_url("/health"))
        .send()
        .await
        .expect("admin answers at the limit");
    assert_eq!(health.status(), 200);
}
