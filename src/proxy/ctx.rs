//! Per-request state: the facts collected across pingora's phases and recorded once in
//! `logging`.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use http::HeaderValue;
use pingora_http::ResponseHeader;

use crate::telemetry::trace::TraceState;
use crate::telemetry::upstreams::UpstreamBoard;
use crate::telemetry::{CacheOutcome, UpstreamAttempt, UpstreamId};

/// What the cache did, as far as the response headers need to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheTrail {
    /// No lookup: not cacheable, or cache disabled.
    #[default]
    Bypass,
    /// Looked up (pingora decides hit, miss or stale from here on).
    LookedUp,
}

/// Everything one request collects on its way through the proxy.
#[derive(Debug)]
pub struct RequestCtx {
    /// When the request header was complete.
    pub start: Instant,
    /// Wall-clock time of `start`.
    pub start_time: SystemTime,
    /// Counted in the in-flight gauge (so `logging` decrements exactly once).
    pub counted: bool,
    /// Trace ids and sampling decision.
    pub trace: TraceState,
    /// Whether a cache lookup ran.
    pub cache_trail: CacheTrail,
    /// Outcome for telemetry, settled in `response_filter`.
    pub cache: CacheOutcome,
    /// Cache lookup start and end.
    pub cache_lookup: Option<(Instant, Instant)>,
    /// A stored entry for this key existed but its Vary did not match.
    pub vary_mismatch: bool,
    /// The lookup found a stored entry that was stale.
    pub found_stale: bool,
    /// The upstream's 304 to a revalidation (hop-by-hop fields removed), merged into the
    /// stored header by `response_cache_filter` and `response_filter`.
    pub not_modified: Option<Box<ResponseHeader>>,
    /// No healthy upstream was left to try (a stale entry may still be served, RFC 5861 §4).
    pub no_upstream: bool,
    /// Upstream attempts in order.
    pub attempts: Vec<UpstreamAttempt>,
    /// Bitmask of upstreams already tried (first 64), so a retry goes elsewhere.
    pub tried: u64,
    /// Upstream currently counted as in flight.
    pub in_flight_upstream: Option<UpstreamId>,
    /// `traceparent` for the attempt being sent.
    pub traceparent: Option<HeaderValue>,
    /// `error.type` when the request failed.
    pub error: Option<&'static str>,
    /// Status of an error response written by `fail_to_proxy`.
    pub error_status: u16,
    /// Request body bytes received so far (for `max_body_bytes`).
    pub body_bytes: u64,
    /// Size of the request head (line and headers) as received.
    pub header_bytes: u64,
    /// The current attempt's outcome was already given to outlier detection.
    pub outlier_recorded: bool,
    /// Refused by framing or `server_names` (counted; pingora must not log it at ERROR).
    pub rejected: bool,
    /// [`crate::proxy::policy::key_hash`] of the request's cache key, once computed.
    pub key_hash: Option<u64>,
    /// The upstream response carries targeted cache fields (RFC 9213) to strip downstream.
    pub targeted: bool,
}

impl RequestCtx {
    /// A fresh context for a request whose header just arrived.
    pub fn new() -> Self {
        RequestCtx {
            start: Instant::now(),
            start_time: SystemTime::now(),
            counted: false,
            trace: TraceState::default(),
            cache_trail: CacheTrail::Bypass,
            cache: CacheOutcome::Bypass,
            cache_lookup: None,
            vary_mismatch: false,
            found_stale: false,
            not_modified: None,
            no_upstream: false,
            attempts: Vec::new(),
            tried: 0,
            in_flight_upstream: None,
            traceparent: None,
            error: None,
            error_status: 0,
            body_bytes: 0,
            header_bytes: 0,
            outlier_recorded: false,
            rejected: false,
            key_hash: None,
            targeted: false,
        }
    }

    /// Marks an upstream as tried.
    pub fn mark_tried(&mut self, id: UpstreamId) {
        if id < 64 {
            self.tried |= 1 << id;
        }
    }

    /// Whether an upstream was already tried for this request.
    pub fn was_tried(&self, id: UpstreamId) -> bool {
        id < 64 && self.tried & (1 << id) != 0
    }

    /// Starts an attempt on upstream `id`: marked tried, counted in flight on `board` (ending
    /// the previous attempt's count), with its CLIENT span id and `traceparent` when traced.
    pub fn begin_attempt(
        &mut self,
        board: &UpstreamBoard,
        id: UpstreamId,
        addr: SocketAddr,
        span: Option<([u8; 8], HeaderValue)>,
    ) {
        self.mark_tried(id);
        self.outlier_recorded = false;
        board.begin_request(id);
        if let Some(prev) = self.in_flight_upstream.replace(id) {
            board.end_request(prev);
        }
        let (span_id, traceparent) = match span {
            Some((id, tp)) => (id, Some(tp)),
            None => ([0; 8], None),
        };
        self.traceparent = traceparent;
        self.attempts.push(UpstreamAttempt {
            upstream: id,
            addr,
            start: Instant::now(),
            end: None,
            status: None,
            failed: false,
            span_id,
        });
    }

    /// Ends the current attempt (status None and `failed` on errors).
    pub fn end_attempt(&mut self, status: Option<u16>, failed: bool) {
        if let Some(a) = self.attempts.last_mut() {
            if a.end.is_none() {
                a.end = Some(Instant::now());
                a.status = status;
                a.failed = failed;
            }
        }
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}
