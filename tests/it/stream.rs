//! `GET /api/stream` through the real binary: 1,000 clients connected at once all receive each
//! second's message; clients that stop reading are dropped without growing the proxy's memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::load::{measuring_alone, Load};
use crate::util::{
    poll_until, with_healthz, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

/// What one stream client has seen: the event ids after the hello, and the last data line.
#[derive(Default)]
struct Seen {
    hello: Option<u64>,
    ids: Vec<u64>,
    last_data: String,
}

type Shared = Arc<Mutex<Seen>>;

/// Lets this process (and the proxy it starts) hold a few thousand sockets.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < 8192 {
            lim.rlim_cur = lim.rlim_max.min(16_384);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The proxy's resident memory, bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

const REQUEST: &[u8] =
    b"GET /api/stream HTTP/1.1\r\nHost: admin\r\nAccept: text/event-stream\r\n\r\n";

/// Reads a stream forever, recording ids (complete lines only; chunk-size lines are skipped).
async fn follow(mut s: TcpStream, seen: Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = String::new();
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let mut seen = seen.lock().unwrap();
            if let Some(id) = line.strip_prefix("id: ") {
                let id: u64 = id.trim().parse().unwrap_or(0);
                if seen.hello.is_none() {
                    seen.hello = Some(id);
                } else {
                    seen.ids.push(id);
                }
            } else if let Some(data) = line.strip_prefix("data: ") {
                seen.last_data = data.trim_end().to_owned();
            }
        }
    }
}

/// Connects a client that reads (and records) everything.
async fn reader(admin: std::net::SocketAddr) -> Shared {
    let mut s = TcpStream::connect(admin)
        .await
        .expect("connect to the admin");
    s.write_all(REQUEST).await.unwrap();
    let seen = Shared::default();
    tokio::spawn(follow(s, seen.clone()));
    seen
}

/// `"clients":N` from a message's stream figures.
fn clients_in(data: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    v["stream"]["clients"].as_u64()
}

fn fast_origin_config(origin: &TestOrigin) -> ConfigBuilder {
    ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none")
}

#[tokio::test]
async fn a_thousand_clients_each_get_every_message() {
    const CLIENTS: usize = 1000;
    let _alone = measuring_alone().await;
    raise_fd_limit();
    let origin = TestOrigin::spawn(with_healthz(|_| TestResponse::ok("x"))).await;
    let proxy = ProxyProcess::start_with_admin(fast_origin_config(&origin)).await;
    let load = Load::paced(proxy.url("/item"), Duration::from_millis(50));
    let admin = proxy.admin_addr();
    // Let the proxy settle, then measure its memory before the clients.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss(proxy.pid());
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let gate = gate.clone();
        tasks.spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            let seen = reader(admin).await;
            // Holding the turn until the hello arrived keeps the accept backlog short.
            let got_hello = poll_until(Duration::from_secs(30), || {
                let seen = seen.clone();
                async move { seen.lock().unwrap().hello.is_some() }
            })
            .await;
            assert!(got_hello, "a client got no hello");
            seen
        });
    }
    let mut clients = Vec::new();
    while let Some(c) = tasks.join_next().await {
        clients.push(c.unwrap());
    }
    let connected_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss(proxy.pid());

    // The next three messages after every client is in: each must reach all 1,000.
    let from = clients[0].lock().unwrap().ids.len();
    let three = crate::util::poll_for(Duration::from_secs(15), || {
        let c = clients[0].clone();
        async move {
            let seen = c.lock().unwrap();
            (seen.ids.len() >= from + 3).then(|| seen.ids[from..from + 3].to_vec())
        }
    })
    .await
    .expect("client 0 got three more messages");
    let all = poll_until(Duration::from_secs(15), || {
        let clients = &clients;
        let three = &three;
        async move {
            clients
                .iter()
                .all(|c| three.iter().all(|id| c.lock().unwrap().ids.contains(id)))
        }
    })
    .await;
    let missing = clients
        .iter()
        .filter(|c| !three.iter().all(|id| c.lock().unwrap().ids.contains(id)))
        .count();
    let held = clients_in(&clients[0].lock().unwrap().last_data);
    let per_client = after.saturating_sub(before) / CLIENTS as u64;
    eprintln!(
        "stream: {CLIENTS} clients connected in {connected_in:.1?}; the stream says {held:?} \
         clients; messages {three:?} reached {} of them; proxy RSS {} -> {} KiB \
         ({} KiB per client)",
        CLIENTS - missing,
        before / 1024,
        after / 1024,
        per_client / 1024
    );
    assert!(
        all,
        "{missing} of {CLIENTS} clients missed one of {three:?}"
    );
    assert!(
        held >= Some(CLIENTS as u64),
        "the stream counts {held:?} clients"
    );
    assert!(
        per_client <= 128 * 1024,
        "{per_client} bytes per stream client"
    );
    drop(load.stop().await);
}

#[tokio::test]
async fn clients_that_stop_reading_are_dropped_without_growing_memory() {
    const STUCK: usize = 100;
    let _alone = measuring_alone().await;
    raise_fd_limit();
    let origin = TestOrigin::spawn(with_healthz(|_| TestResponse::ok("x"))).await;
    let proxy = ProxyProcess::start_with_admin(fast_origin_config(&origin)).await;
    // Long paths at 100 requests a second: every message carries 50 requests, about 20 KB.
    let long = format!("/{}", "p".repeat(120));
    let load = Load::paced(proxy.url(&long), Duration::from_millis(10));
    let admin = proxy.admin_addr();
    let watcher = reader(admin).await;
    let clients_now = || clients_in(&watcher.lock().unwrap().last_data).unwrap_or(0);
    assert!(
        poll_until(Duration::from_secs(10), || async { clients_now() == 1 }).await,
        "the watcher never saw itself counted"
    );
    // Let the load's connections and buffers reach their steady size first.
    let warm = || watcher.lock().unwrap().ids.len() >= 6;
    assert!(poll_until(Duration::from_secs(20), || async { warm() }).await);
    let idle = rss(proxy.pid());
    let mut stuck = Vec::new();
    for _ in 0..STUCK {
        let socket = TcpSocket::new_v4().unwrap();
        // A tiny receive window: the proxy's send buffer fills after a few messages.
        socket.set_recv_buffer_size(2048).unwrap();
        let mut s = socket.connect(admin).await.unwrap();
        s.write_all(REQUEST).await.unwrap();
        stuck.push(s);
    }
    assert!(
        poll_until(Duration::from_secs(10), || async {
            clients_now() == 1 + STUCK as u64
        })
        .await,
        "the stuck clients never connected (stream says {})",
        clients_now()
    );
    // Their memory once connected (each got its hello): stalling must add nothing to it.
    let stuck_at = Instant::now();
    let message_bytes = watcher.lock().unwrap().last_data.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss(proxy.pid());
    let mut peak = before;
    let dropped = loop {
        peak = peak.max(rss(proxy.pid()));
        if clients_now() == 1 {
            break true;
        }
        if stuck_at.elapsed() > Duration::from_secs(90) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let dropped_after = stuck_at.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let end = rss(proxy.pid());
    eprintln!(
        "stream: {STUCK} clients stopped reading ({message_bytes}-byte messages): dropped after \
         {dropped_after:.1?}; proxy RSS \
         {} KiB without them, {} KiB once they connected, peak while they stalled {} KiB, \
         {} KiB after; watcher still reading: {} messages",
        idle / 1024,
        before / 1024,
        peak / 1024,
        end / 1024,
        watcher.lock().unwrap().ids.len()
    );
    assert!(
        dropped,
        "stuck clients still held after 90 s ({} left)",
        clients_now() - 1
    );
    assert!(
        peak.saturating_sub(before) <= 8 << 20,
        "RSS grew {} KiB while {STUCK} clients stalled",
        peak.saturating_sub(before) / 1024
    );
    // The proxy closed them: what was buffered drains, then the connection ends.
    let mut s = stuck.pop().unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a dropped client's connection is still open"
    );
    let before_end = watcher.lock().unwrap().ids.len();
    assert!(
        poll_until(Duration::from_secs(5), || async {
            watcher.lock().unwrap().ids.len() > before_end
        })
        .await,
        "the reading client kept getting messages"
    );
    drop(load.stop().await);
}
