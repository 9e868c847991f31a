//! Helpers shared by the integration tests: programmable origins ([`origin`]), the real
//! `sightline` binary under a generated config ([`proxy`]), an HTTP client that ignores proxy
//! environment variables, polling and free ports.

// Each test module uses a different subset of the helpers.
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod origin;
pub mod proxy;

pub use browser::Browser;
pub use origin::{RecordedRequest, TestOrigin, TestResponse};
pub use proxy::{ConfigBuilder, ProxyProcess};

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// How often pollers look again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The `sightline` binary cargo built for these tests.
pub const SIGHTLINE_BIN: &str = env!("CARGO_BIN_EXE_sightline");

/// A client builder that never goes through an `HTTP_PROXY` from the environment, with
/// timeouts so a stuck proxy fails the test instead of hanging it.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
}

/// A client from [`client_builder`].
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .expect("a plain HTTP client builds")
}

/// A client that opens a new connection for every request (no idle pooling).
pub fn fresh_connection_client() -> reqwest::Client {
    client_builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a plain HTTP client builds")
}

/// Calls `check` every [`POLL_INTERVAL`] until it yields true or `timeout` passes; returns
/// whether it did.
pub async fn poll_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_for(timeout, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await
    .is_some()
}

/// Calls `probe` every [`POLL_INTERVAL`] until it yields `Some` or `timeout` passes.
pub async fn poll_for<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A port on 127.0.0.1 that was free a moment ago (bound, then let go).
///
/// Ports come from below the kernel's ephemeral range (32768–60999 by default), where neither
/// `bind(:0)` (the test origins) nor outgoing connections pick theirs, and never twice in this
/// process: a freed ephemeral port handed to one test's proxy could otherwise be taken by
/// another test's listener before the proxy binds it (seen in CI: a proxy "ready" on a port
/// another test's admin API answered).
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = rand::random_range(12_000..32_000u16);
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port below the ephemeral range after 1000 tries");
}

/// `127.0.0.1:` + [`free_port`].
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// An upstream address that refuses every connection for as long as it lives: the port is
/// bound but never listened on, so (unlike a freed [`free_addr`]) no parallel test can take it.
pub struct Refusing {
    _socket: tokio::net::TcpSocket,
    /// The refusing address.
    pub addr: SocketAddr,
}

impl Refusing {
    /// Binds 127.0.0.1:0 without listening.
    pub fn new() -> Refusing {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("bound address");
        Refusing {
            _socket: socket,
            addr,
        }
    }
}

/// Whether a TCP connect to `addr` succeeds now.
pub async fn accepts_tcp(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_ok()
}

/// A command running the `sightline` binary with `args`, its environment freed of the
/// `OTEL_*` variables that would override a test's config.
pub fn sightline_command<I, S>(args: I) -> std::process::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    // SIGHTLINE_TEST_BIN runs the measurements (ignored tests) against another build, e.g.
    // target/release/sightline.
    let bin = std::env::var_os("SIGHTLINE_TEST_BIN").unwrap_or_else(|| SIGHTLINE_BIN.into());
    let mut command = std::process::Command::new(bin);
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    command
}

/// A response read in one go: status, headers, body and how long the exchange took.
#[derive(Debug)]
pub struct Fetched {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The body as text (lossy).
    pub body: String,
    /// From sending the request to the end of the body.
    pub elapsed: Duration,
}

impl Fetched {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Cache-Status` value, or `""` when there is none.
    pub fn cache_status(&self) -> &str {
        self.header("cache-status").unwrap_or("")
    }
}

/// Asserts the marks every proxy response carries, errors included: `Via: 1.1 sightline`
/// and a `Cache-Status` from sightline.
pub fn assert_marked(r: &Fetched) {
    assert!(
        r.header("via").is_some_and(|v| v.contains("1.1 sightline")),
        "no `Via: 1.1 sightline` on {r:?}"
    );
    assert!(
        r.cache_status().starts_with("sightline"),
        "no `Cache-Status: sightline...` on {r:?}"
    );
}

/// Sends `request` and reads the whole response; panics on a transport error.
pub async fn fetch(request: reqwest::RequestBuilder) -> Fetched {
    try_fetch(request)
        .await
        .unwrap_or_else(|e| panic!("request failed: {e:?}"))
}

/// Sends `request` and reads the whole response.
pub async fn try_fetch(request: reqwest::RequestBuilder) -> reqwest::Result<Fetched> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await?;
    Ok(Fetched {
        status,
        headers,
        body,
        elapsed: started.elapsed(),
    })
}

/// Writes `bytes` on a fresh TCP connection to `addr`, then reads until the peer closes or
/// `timeout` passes; returns what was read (lossy text).
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    // The peer may answer and close before reading everything: a failed write is not an error.
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A handler that answers the health-check path `/healthz` with 200 `ok` and everything else
/// with `handler`, so origins with slow or odd answers still pass health checks.
pub fn with_healthz(
    handler: impl Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
) -> impl Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static {
    move |req| {
        if req.path() == "/healthz" {
            TestResponse::ok("ok")
        } else {
            handler(req)
        }
    }
}
