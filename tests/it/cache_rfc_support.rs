//! Helpers for the RFC 9111 conformance suites (`cache_rfc_*`): a proxy in front of one
//! origin, HTTP-dates relative to now, `Age`/`Date` readers, and a raw origin that writes
//! exactly the bytes a test gives it (chunked bodies, `Connection` lists), which a hyper
//! origin would normalise.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::util::{ConfigBuilder, Fetched, ProxyProcess, TestOrigin};

/// Response header fields a table-driven test sends, name then value.
pub type Fields = &'static [(&'static str, &'static str)];

/// A proxy in front of `addr` without health checks (their requests would count as origin
/// hits).
pub async fn proxy_to(addr: SocketAddr) -> ProxyProcess {
    ProxyProcess::start(ConfigBuilder::new(&[addr]).set("upstreams.health_check.kind", "none"))
        .await
}

/// [`proxy_to`] the origin.
pub async fn proxy_for(origin: &TestOrigin) -> ProxyProcess {
    proxy_to(origin.addr()).await
}

/// Whether `Cache-Status` says `hit`.
pub fn is_hit(r: &Fetched) -> bool {
    r.cache_status().split(';').any(|p| p.trim() == "hit")
}

/// The `Age` header as a number.
pub fn age(r: &Fetched) -> Option<u64> {
    r.header("age").and_then(|a| a.parse().ok())
}

/// The `Date` header as a time.
pub fn date(r: &Fetched) -> Option<SystemTime> {
    r.header("date")
        .and_then(|d| httpdate::parse_http_date(d).ok())
}

/// Now plus `offset` seconds (negative: in the past) as an HTTP-date.
pub fn http_date(offset: i64) -> String {
    let now = SystemTime::now();
    let t = if offset >= 0 {
        now + Duration::from_secs(offset as u64)
    } else {
        now - Duration::from_secs(offset.unsigned_abs())
    };
    httpdate::fmt_http_date(t)
}

/// Seconds between two times (`a − b`, negative when `a` is earlier).
pub fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// One request as the raw origin read it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// `GET /x HTTP/1.1`.
    pub line: String,
}

impl RawRequest {
    /// The request target's path (query removed).
    pub fn path(&self) -> &str {
        let target = self.line.split(' ').nth(1).unwrap_or("");
        target.split('?').next().unwrap_or(target)
    }
}

type RawHandler = Arc<dyn Fn(&RawRequest) -> Vec<u8> + Send + Sync>;

/// An HTTP/1.1 origin on 127.0.0.1 that answers each request with the exact bytes its handler
/// returns (status line, headers and body included); keeps connections alive.
pub struct RawOrigin {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<RawRequest>>>,
    accept: JoinHandle<()>,
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl RawOrigin {
    /// Starts the origin on a free port.
    pub async fn spawn(handler: impl Fn(&RawRequest) -> Vec<u8> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a raw origin on 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: RawHandler = Arc::new(handler);
        let accept_log = log.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, handler.clone(), accept_log.clone()));
            }
        });
        RawOrigin { addr, log, accept }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        let log = self.log.lock().expect("raw origin log");
        log.iter().filter(|r| r.path() == path).count()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    handler: RawHandler,
    log: Arc<Mutex<Vec<RawRequest>>>,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or("").to_owned();
        let body_len: usize = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        let need = head_end + 4 + body_len;
        while buf.len() < need {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..need);
        let request = RawRequest { line };
        let response = handler(&request);
        log.lock().expect("raw origin log").push(request);
        if stream.write_all(&response).await.is_err() {
            return;
        }
    }
}
