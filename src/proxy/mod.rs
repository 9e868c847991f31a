//! The request path: pingora's `ProxyHttp`, kept thin — each phase calls one helper.
//!
//! Phase order for one request: `new_ctx` → `early_request_filter` (limits, trace start) →
//! `request_cache_filter` / `cache_key_callback` (lookup) → `upstream_peer` (round robin,
//! retries) → `upstream_request_filter` (forwarding headers, `traceparent`) →
//! `upstream_response_filter` (hop-by-hop removal, invalidation) → `response_cache_filter`
//! (freshness) → `response_filter` (`Cache-Status`, `Age`, `Via`, `traceresponse`) →
//! `logging` (everything recorded once). The cache's part of each is in `cache_filters`.

mod admit;
pub mod balance;
pub mod cache;
mod cache_filters;
pub mod ctx;
pub mod directives;
pub mod drain;
pub mod edge;
mod errors;
mod finish;
pub mod framing;
pub mod freshness;
pub mod headers;
pub mod invalidate;
pub mod policy;
pub mod predict;
mod sf;
pub mod store;
pub mod stored;
pub mod tls;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::key::HashBinary;
use pingora_cache::{CacheKey, CacheMeta, CachePhase, RespCacheable};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::config::Config;
use crate::telemetry::outlier;
use crate::telemetry::Telemetry;
use balance::Balancer;
use cache::cache_status_of;
pub use cache::CacheParts;
use ctx::{CacheTrail, RequestCtx};
use errors::{classify, http_error};

/// The proxy: configuration, balancer, cache and telemetry shared by every request.
pub struct Sightline {
    cfg: Arc<Config>,
    /// Swapped whole by a config reload; one atomic load per upstream selection.
    balancer: Arc<arc_swap::ArcSwap<Balancer>>,
    cache: Option<CacheParts>,
    telemetry: Arc<Telemetry>,
    transport: tls::UpstreamTransport,
}

impl Sightline {
    /// Wires the request path.
    pub fn new(
        cfg: Arc<Config>,
        balancer: Arc<arc_swap::ArcSwap<Balancer>>,
        cache: Option<CacheParts>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        if cfg.cache.enabled {
            policy::set_default_ttl(cfg.cache.default_ttl);
        }
        let transport = tls::UpstreamTransport {
            tls: cfg.upstreams.tls.clone(),
            ca: None,
            http2: cfg.upstreams.http2,
        };
        Sightline {
            cfg,
            balancer,
            cache,
            telemetry,
            transport,
        }
    }

    /// Uses `transport` (with its loaded CA bundle) for upstream connections.
    pub fn with_upstream_transport(mut self, transport: tls::UpstreamTransport) -> Self {
        self.transport = transport;
        self
    }
}

/// The client's IP address (`None` on a non-IP socket).
fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

#[async_trait]
impl ProxyHttp for Sightline {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.telemetry.start();
        ctx.counted = true;
        let p = &self.cfg.proxy;
        // While the process shuts down (SIGTERM, or an upgrade handing the sockets over) pingora
        // has turned keep-alive off so clients move to the new process: do not turn it back on.
        if session.is_process_shutting_down() || drain::handing_over() {
            session.set_keepalive(None);
        } else {
            session.set_keepalive(Some(p.idle_timeout.as_secs().max(1)));
        }
        session.set_read_timeout(Some(p.header_timeout));
        ctx.trace = self.telemetry.tracer.start(session.req_header());
        if let Err(e) = admit::admit(session, &self.cfg.proxy.server_names) {
            ctx.rejected = true;
            return Err(e);
        }
        let req = session.req_header();
        let header_bytes = headers::request_header_size(req);
        ctx.header_bytes = header_bytes as u64;
        if header_bytes > p.max_request_header_bytes.get() {
            return Err(http_error(
                431,
                "request header exceeds max_request_header_bytes",
            ));
        }
        let declared = req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > p.max_body_bytes) {
            return Err(http_error(413, "request body exceeds max_body_bytes"));
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(b) = body {
            ctx.body_bytes += b.len() as u64;
            if ctx.body_bytes > self.cfg.proxy.max_body_bytes {
                return Err(http_error(413, "request body exceeds max_body_bytes"));
            }
        }
        Ok(())
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        cache_filters::enable(self.cache.as_ref(), session, ctx)
    }

    fn cache_key_callback(&self, session: &Session, ctx: &mut RequestCtx) -> Result<CacheKey> {
        cache_filters::key(session, ctx)
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        ctx: &mut RequestCtx,
        req: &RequestHeader,
    ) -> Option<HashBinary> {
        let key = policy::vary_key(meta, req);
        if key.is_some() {
            ctx.vary_mismatch = true;
        }
        key
    }

    async fn cache_hit_filter(
        &self,
        _session: &mut Session,
        _meta: &CacheMeta,
        _hit_handler: &mut pingora_cache::HitHandler,
        is_fresh: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<pingora_cache::ForcedFreshness>> {
        if let Some((_, end)) = ctx.cache_lookup.as_mut() {
            *end = Instant::now();
        }
        ctx.found_stale = !is_fresh;
        Ok(None)
    }

    fn cache_miss(&self, session: &mut Session, ctx: &mut RequestCtx) {
        if let Some((_, end)) = ctx.cache_lookup.as_mut() {
            *end = Instant::now();
        }
        session.cache.cache_miss();
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<RespCacheable> {
        Ok(cache_filters::response_cacheable(
            self.cache.as_ref(),
            session,
            resp,
            ctx,
        ))
    }

    fn should_serve_stale(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        error: Option<&Error>,
    ) -> bool {
        cache_filters::should_serve_stale(ctx, error)
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        if session.cache.phase() == CachePhase::Bypass {
            // Predicted uncacheable: pingora skipped the lookup (and the cache lock).
            ctx.cache_trail = CacheTrail::Bypass;
            ctx.cache_lookup = None;
        } else if let Some((start, end)) = ctx.cache_lookup.as_mut() {
            if end == start {
                *end = Instant::now();
            }
        }
        let board = &self.telemetry.upstreams;
        let balancer = self.balancer.load();
        let backend = balance::pick(&balancer, board, |id| ctx.was_tried(id));
        let Some(backend) = backend else {
            ctx.no_upstream = true;
            return Err(http_error(502, "no healthy upstream"));
        };
        let addr = *backend
            .addr
            .as_inet()
            .expect("upstreams are configured as inet socket addresses");
        let id = board
            .id_of(&addr)
            .expect("balancer backends come from the board's list");
        let span = self.telemetry.tracer.client_span(&ctx.trace);
        ctx.begin_attempt(board, id, addr, span);
        let u = &self.cfg.upstreams;
        let mut peer = self.transport.peer(addr);
        peer.options.connection_timeout = Some(u.connect_timeout);
        peer.options.read_timeout = Some(u.read_timeout);
        peer.options.write_timeout = Some(u.read_timeout);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.end_attempt(None, true);
        if let Some(a) = ctx.attempts.last() {
            finish::outlier_record(
                &self.telemetry,
                a.upstream,
                outlier::Outcome::ConnectFailure,
            );
            ctx.outlier_recorded = true;
        }
        let retries_used = ctx.attempts.len().saturating_sub(1) as u32;
        if session.req_header().method.is_idempotent() && retries_used < self.cfg.upstreams.retries
        {
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        _ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("upstream {peer}"));
        if !session.req_header().method.is_idempotent() {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client = client_ip(session);
        let authority = policy::request_authority(session.req_header());
        let hop = headers::Hop {
            client,
            trusted: client
                .is_some_and(|ip| headers::is_trusted(ip, &self.cfg.proxy.trusted_proxies)),
            scheme: headers::scheme_of(session),
            host: authority,
        };
        headers::set_forwarding(upstream, &hop);
        // Origins get origin-form targets; the authority travels in `Host` (framing made
        // sure an absolute-form target and `Host` agree).
        if upstream.uri.authority().is_some() {
            let pq = upstream
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
            upstream.set_uri(http::Uri::from(pq));
            if !authority.is_empty() {
                upstream.insert_header(http::header::HOST, authority)?;
            }
        }
        if let crate::config::UpstreamHost::Fixed(host) = &self.cfg.upstreams.host {
            upstream.insert_header(http::header::HOST, host.as_str())?;
        }
        upstream.append_header(http::header::VIA, headers::VIA)?;
        match ctx.traceparent.take() {
            Some(tp) => {
                upstream.insert_header(headers::wire::TRACEPARENT, tp)?;
                if let Some(ts) = &ctx.trace.tracestate {
                    upstream.insert_header(headers::wire::TRACESTATE, ts.clone())?;
                }
            }
            None => {
                upstream.remove_header(&headers::TRACEPARENT);
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if !resp.status.is_informational() {
            ctx.end_attempt(Some(resp.status.as_u16()), false);
        }
        cache_filters::upstream_response(self.cache.as_ref(), session, resp, ctx);
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let (outcome, value) = cache_status_of(session, ctx);
        ctx.cache = outcome;
        cache_filters::downstream(session, resp, ctx);
        resp.insert_header(headers::wire::CACHE_STATUS, value)?;
        resp.append_header(http::header::VIA, headers::VIA)?;
        if let Some(tr) = self.telemetry.tracer.traceresponse(&ctx.trace) {
            resp.insert_header(headers::wire::TRACERESPONSE, tr)?;
        }
        Ok(())
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _e: &Error) -> bool {
        // Client-caused refusals are counted in telemetry::reject, not logged.
        ctx.rejected
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let (code, kind) = classify(e);
        ctx.error = Some(kind);
        ctx.error_status = code;
        ctx.end_attempt(None, true);
        if code > 0 {
            let traceresponse = self.telemetry.tracer.traceresponse(&ctx.trace);
            errors::respond(session, code, traceresponse).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        finish::finish(&self.telemetry, session, e, ctx);
    }
}
