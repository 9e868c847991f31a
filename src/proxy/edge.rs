//! The client edge: wraps pingora's HTTP proxy app in a [`ServerApp`] that admits connections
//! through the [`gate::Gate`] (`max_connections`), reads every HTTP/1.x request header itself
//! under `header_timeout` (the first request of a connection included), closes kept-alive
//! connections idle for `idle_timeout`, and only then hands the connection and the bytes
//! already read to pingora.

pub mod gate;
pub mod header;
pub mod hit;
pub mod limits;
pub mod memory;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::{Stream, ALPN};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::listening::Service;
use tokio::time::Instant;

use crate::config::model::ProxyConfig;
use crate::telemetry::connections::connections;
use gate::{Admission, Gate};
use header::{Head, HeaderLimits, Wait};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The proxy's [`ServerApp`]: `A` (pingora's `HttpProxy`) behind the gate and header deadline.
pub struct Edge<A> {
    app: Arc<A>,
    gate: Arc<Gate>,
    header_timeout: Duration,
    idle_timeout: Duration,
    limits: HeaderLimits,
    /// `proxy.h2c`: a cleartext connection may open with the HTTP/2 preface.
    h2c: bool,
    /// Fresh cache hits answered without pingora (None with the cache off).
    hits: Option<Arc<hit::HitPath>>,
}

impl<A> Edge<A> {
    /// Wraps `app` with the limits of `cfg`, admitting through `gate`.
    pub fn new(app: A, gate: Arc<Gate>, cfg: &ProxyConfig) -> Edge<A> {
        Edge {
            app: Arc::new(app),
            gate,
            header_timeout: cfg.header_timeout,
            idle_timeout: cfg.idle_timeout,
            limits: HeaderLimits {
                header_timeout: cfg.header_timeout,
                max_bytes: cfg.max_request_header_bytes.get(),
            },
            h2c: cfg.h2c,
            hits: None,
        }
    }

    /// Answers fresh plain cache hits through `hits` before pingora sees them.
    pub fn with_hits(mut self, hits: Option<Arc<hit::HitPath>>) -> Self {
        self.hits = hits;
        self
    }
}

/// A pingora service running `app` behind the edge; add listeners with `add_tcp` /
/// `add_tls_with_settings` on the result (all of them pass through the gate).
pub fn service<A>(
    name: &str,
    app: A,
    gate: Arc<Gate>,
    cfg: &ProxyConfig,
    hits: Option<Arc<hit::HitPath>>,
) -> Service<Edge<A>>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    let edge = Edge::new(app, gate.clone(), cfg).with_hits(hits);
    let mut service = Service::new(name.to_string(), edge);
    service.set_connection_filter(gate);
    service
}

impl<A> Edge<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    /// Serves HTTP/1.x requests on `stream` one header at a time until it closes.
    async fn serve_h1(
        &self,
        mut stream: Stream,
        mut adm: Admission,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut watch = shutdown.clone();
        let conn = hit::Conn::of(&stream);
        let mut settings: Option<HttpPersistentSettings> = None;
        // A request was answered on this connection (by pingora or the hit path): once the
        // server shuts down, the connection closes instead of waiting for another.
        let mut answered = false;
        let mut wait = Wait::Header(Instant::now() + self.header_timeout);
        loop {
            if *shutdown.borrow() && (answered || settings.is_some()) {
                return None;
            }
            let head =
                header::read_head(&mut stream, wait, self.limits, &mut adm, &mut watch).await;
            let bytes = match head {
                Head::Complete(bytes) => bytes,
                Head::TimedOut { partial } => {
                    connections().count_header_timeout();
                    if partial {
                        header::answer_and_close(&mut stream, 408).await;
                    }
                    return None;
                }
                Head::TooLarge => {
                    header::answer_and_close(&mut stream, 431).await;
                    return None;
                }
                Head::Idle => {
                    connections().count_idle_closed();
                    return None;
                }
                Head::Closed | Head::Shed | Head::Shutdown => return None,
            };
            adm.header_done();
            if let Some(hits) = &self.hits {
                let closing = *shutdown.borrow() || super::drain::handing_over();
                match hits.serve(&mut stream, &bytes, &conn, closing).await {
                    hit::Served::KeepAlive => {
                        answered = true;
                        wait = Wait::Idle(Instant::now() + self.idle_timeout);
                        continue;
                    }
                    hit::Served::Close => return None,
                    hit::Served::No => {}
                }
            }
            let mut session = ServerSession::new_http1(stream);
            match settings.take() {
                Some(s) => s.apply_to_session(&mut session),
                None => {
                    session.set_keepalive_reuses_remaining(
                        self.app
                            .server_options()
                            .and_then(|o| o.keepalive_request_limit),
                    );
                }
            }
            // sightline's request filter sets the keep-alive time again per request; this
            // covers responses pingora writes before it (400 for a malformed header).
            let keepalive = (!*shutdown.borrow()).then(|| self.idle_timeout.as_secs().max(1));
            session.set_keepalive(keepalive);
            session.set_pipelined_prefix(bytes);
            let reused = self.app.process_new_http(session, shutdown).await?;
            let (next, persistent) = reused.consume();
            stream = next;
            settings = persistent;
            wait = Wait::Idle(Instant::now() + self.idle_timeout);
        }
    }
}

#[async_trait]
impl<A> ServerApp for Edge<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut adm = self.gate.admit();
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // HTTP/2 over TLS: pingora's own h2 server (its handshake and idle timeouts).
            adm.header_done();
            return ServerApp::process_new(&self.app, stream, shutdown).await;
        }
        if self.h2c && stream.get_ssl_digest().is_none() {
            // h2c prior knowledge: peek the preface as pingora does, but under the header
            // deadline (pingora's own peek has none). The peeked bytes are put back.
            let mut preface = [0u8; H2_PREFACE.len()];
            match tokio::time::timeout(self.header_timeout, stream.try_peek(&mut preface)).await {
                Ok(Ok(true)) if preface == *H2_PREFACE => {
                    adm.header_done();
                    return ServerApp::process_new(&self.app, stream, shutdown).await;
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return None,
                Err(_) => {
                    connections().count_header_timeout();
                    return None;
                }
            }
        }
        self.serve_h1(stream, adm, shutdown).await
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}
