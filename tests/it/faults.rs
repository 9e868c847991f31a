//! Upstream faults through the real binary, with raw sockets as the faulty upstreams: a hung
//! upstream (accepts, never answers) costs a client `read_timeout` then 504 and is not asked
//! twice; a POST to an upstream that drops the connection or refuses it fails fast with 502 and
//! is sent at most once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::util::{client, fetch, free_addr, ConfigBuilder, ProxyProcess};

/// A listener on 127.0.0.1 that counts the connections it accepts and the requests that
/// arrive on them, then either holds them open silently or closes them at once.
struct Faulty {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Faulty {
    async fn start(hang: bool) -> Faulty {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (a, r) = (accepted.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    // Read the request head before deciding, so a request sent is counted.
                    if let Ok(n) = sock.read(&mut buf).await {
                        if n > 0 {
                            r.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    if hang {
                        // Never answer; hold the socket until the proxy gives up.
                        while let Ok(n) = sock.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }
                });
            }
        });
        Faulty {
            addr,
            accepted,
            requests,
            task,
        }
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn hung_upstream_costs_read_timeout_then_504_and_is_asked_once() {
    let hung = Faulty::start(true).await;
    let read_timeout = Duration::from_millis(800);
    let cfg = ConfigBuilder::new(&[hung.addr])
        .set("upstreams.health_check.kind", "none")
        .set("upstreams.read_timeout", "800ms");
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();
    for method in ["GET", "POST"] {
        let before = hung.requests.load(Ordering::SeqCst);
        let started = Instant::now();
        let req = match method {
            "GET" => http.get(proxy.url("/hang")),
            _ => http.post(proxy.url("/hang")).body("x"),
        };
        let r = fetch(req).await;
        let took = started.elapsed();
        assert_eq!(r.status, 504, "{method}: {r:?}\n{}", proxy.output());
        assert!(
            took >= read_timeout,
            "{method}: 504 after {took:?}, before read_timeout"
        );
        // The bound is read_timeout (not a multiple of it): generous slack for a loaded machine.
        assert!(
            took < read_timeout * 2 + Duration::from_millis(700),
            "{method}: the client waited {took:?} for an upstream that never answers"
        );
        assert_eq!(
            hung.requests.load(Ordering::SeqCst) - before,
            1,
            "{method}: a timed-out request was sent again"
        );
        eprintln!(
            "faults: hung upstream, {method} -> 504 after {took:?} (read_timeout {read_timeout:?})"
        );
    }
}

#[tokio::test]
async fn post_to_an_upstream_that_drops_connections_is_one_attempt_and_a_502() {
    let dropping = Faulty::start(false).await;
    let cfg = ConfigBuilder::new(&[dropping.addr])
        .set("upstreams.health_check.kind", "none")
        .set("upstreams.read_timeout", "10s");
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();
    for i in 0..5 {
        let before = dropping.requests.load(Ordering::SeqCst);
        let started = Instant::now();
        let r = fetch(http.post(proxy.url("/submit")).body("order=1")).await;
        assert_eq!(r.status, 502, "POST #{i}: {r:?}\n{}", proxy.output());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "POST #{i}: 502 only after {:?}: waited on a closed connection",
            started.elapsed()
        );
        assert_eq!(
            dropping.requests.load(Ordering::SeqCst) - before,
            1,
            "POST #{i} was sent {} times",
            dropping.requests.load(Ordering::SeqCst) - before
        );
    }
    assert_eq!(dropping.accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn post_to_a_closed_port_fails_fast_with_502() {
    let dead = free_addr();
    let cfg = ConfigBuilder::new(&[dead]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start(cfg).await;
    let http = client();
    let started = Instant::now();
    let r = fetch(http.post(proxy.url("/submit")).body("order=1")).await;
    assert_eq!(r.status, 502, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a refused connection took {:?} (connect_timeout is 1s)",
        started.elapsed()
    );
}
