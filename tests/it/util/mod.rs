//! Helpers shared by the integration tests: programmable origins ([`origin`]), the real
//! `sightline` binary under a generated config ([`proxy`]), an HTTP client that ignores proxy
//! environment variables, polling and free ports.

// Each test module uses a different subset of the helpers.
#![allow(dead_code, unused_imports)]

pub mod origin;
pub mod proxy;

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

/// A port on 127.0.0.1 that was free a moment ago (bind port 0, read it, let it go).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `127.0.0.1:` + [`free_port`].
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
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
    let mut command = std::process::Command::new(SIGHTLINE_BIN);
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    command
}
