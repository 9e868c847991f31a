//! `TestOrigin`: a programmable HTTP/1.1 origin on 127.0.0.1 that records every request and
//! answers through a replaceable handler closure; it can be stopped (listener closed, live
//! connections cut) and restarted on the same port, to play an upstream that dies and returns.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Request method.
    pub method: Method,
    /// Path and query, as sent on the request line.
    pub uri: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
    /// The client's address (the proxy's side of the upstream connection).
    pub peer: SocketAddr,
    /// When the request head arrived.
    pub at: Instant,
}

impl RecordedRequest {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.split_once('?').map_or(&self.uri, |(p, _)| p)
    }

    /// The raw query, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// A header's value as text (the first one, if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the handler tells the origin to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResponse {
    /// Status code.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Bytes,
    /// Wait before sending the response head.
    pub delay: Duration,
}

impl TestResponse {
    /// 200 with `body`.
    pub fn ok(body: impl Into<Bytes>) -> TestResponse {
        TestResponse::status(200).body(body)
    }

    /// An empty response with `status`.
    pub fn status(status: u16) -> TestResponse {
        TestResponse {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> TestResponse {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> TestResponse {
        self.body = body.into();
        self
    }

    /// Waits `delay` before answering.
    pub fn delay(mut self, delay: Duration) -> TestResponse {
        self.delay = delay;
        self
    }
}

/// The handler closure every request goes through.
pub type Handler = Arc<dyn Fn(&RecordedRequest) -> TestResponse + Send + Sync>;

/// What the origin's tasks share with the test.
struct Shared {
    handler: Mutex<Handler>,
    log: Mutex<Vec<RecordedRequest>>,
}

/// The accept loop and the connection tasks of a running origin.
struct Running {
    accept: JoinHandle<()>,
    conns: Arc<Mutex<JoinSet<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.accept.abort();
        self.conns.lock().expect("conns lock").abort_all();
    }
}

/// A programmable origin server on 127.0.0.1; stops when dropped.
pub struct TestOrigin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<Running>,
}

impl TestOrigin {
    /// Starts an origin on a free port answering every request with `handler`.
    pub async fn spawn(
        handler: impl Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
    ) -> TestOrigin {
        let listener = bind("127.0.0.1:0".parse().expect("literal address"))
            .expect("bind an origin on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            handler: Mutex::new(Arc::new(handler)),
            log: Mutex::new(Vec::new()),
        });
        let running = Some(serve(listener, shared.clone()));
        TestOrigin {
            addr,
            shared,
            running,
        }
    }

    /// An origin answering `/healthz` with 200 `ok` and anything else with 200, body `name`
    /// and `x-origin: name`.
    pub async fn named(name: &str) -> TestOrigin {
        let name = name.to_owned();
        TestOrigin::spawn(move |req| {
            if req.path() == "/healthz" {
                TestResponse::ok("ok")
            } else {
                TestResponse::ok(name.clone()).header("x-origin", &name)
            }
        })
        .await
    }

    /// The address it listens on (the same across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Replaces the handler; requests already being handled keep the old one.
    pub fn set_handler(
        &self,
        handler: impl Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
    ) {
        *self.shared.handler.lock().expect("handler lock") = Arc::new(handler);
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.lock().expect("log lock").clone()
    }

    /// The requests received for `path` (query ignored), oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        let log = self.shared.log.lock().expect("log lock");
        log.iter().filter(|r| r.path() == path).cloned().collect()
    }

    /// How many requests arrived for `path` (query ignored).
    pub fn hits(&self, path: &str) -> usize {
        let log = self.shared.log.lock().expect("log lock");
        log.iter().filter(|r| r.path() == path).count()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.shared.log.lock().expect("log lock").clear();
    }

    /// Whether it is currently listening.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Closes the listener (connects are refused from now on) and cuts every open connection,
    /// like a killed process. Recorded requests are kept.
    pub async fn stop(&mut self) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        running.accept.abort();
        // Awaiting the aborted task guarantees its listener has been dropped.
        let _ = (&mut running.accept).await;
        let mut conns = std::mem::take(&mut *running.conns.lock().expect("conns lock"));
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }

    /// Listens again on the same port, retrying for up to 5 s while the port is still in use.
    pub async fn restart(&mut self) {
        self.stop().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("restarting the origin on {}: {e}", self.addr),
            }
        };
        self.running = Some(serve(listener, self.shared.clone()));
    }
}

/// Binds with `SO_REUSEADDR`, so a restart is not refused over connections in TIME_WAIT.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

fn serve(listener: TcpListener, shared: Arc<Shared>) -> Running {
    let conns = Arc::new(Mutex::new(JoinSet::new()));
    let accept_conns = conns.clone();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                // Out of descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let shared = shared.clone();
            let service = service_fn(move |req| answer(shared.clone(), peer, req));
            let mut set = accept_conns.lock().expect("conns lock");
            while set.try_join_next().is_some() {}
            set.spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                // Clients hanging up mid-request are part of the game here.
                let _ = conn.await;
            });
        }
    });
    Running { accept, conns }
}

async fn answer(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let (head, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let recorded = RecordedRequest {
        method: head.method,
        uri: head
            .uri
            .path_and_query()
            .map_or_else(|| head.uri.to_string(), |pq| pq.to_string()),
        headers: head.headers,
        body,
        peer,
        at,
    };
    let handler = shared.handler.lock().expect("handler lock").clone();
    let planned = handler(&recorded);
    shared.log.lock().expect("log lock").push(recorded);
    if !planned.delay.is_zero() {
        tokio::time::sleep(planned.delay).await;
    }
    let status = StatusCode::from_u16(planned.status).expect("TestResponse status is valid");
    let mut response = Response::builder().status(status);
    for (name, value) in &planned.headers {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(planned.body))
        .expect("TestResponse headers are valid"))
}
