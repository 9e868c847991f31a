//! The per-request facts the proxy hands to telemetry, once, in pingora's `logging` phase.
//!
//! Everything is borrowed from the request context so building a record allocates nothing.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

/// Index of an upstream in `upstreams.servers` (the order of the config file).
pub type UpstreamId = usize;

/// What the cache did for a request (the `sightline.cache.status` span attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    /// Served from a fresh entry (including 304s answered from cache).
    Hit,
    /// Looked up, not found (or not usable); forwarded.
    Miss,
    /// Found stale; revalidated or refetched upstream.
    Stale,
    /// Not cacheable (method, headers, cache disabled); forwarded without a lookup.
    #[default]
    Bypass,
}

impl CacheOutcome {
    /// The lowercase name used in span attributes, metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Stale => "stale",
            CacheOutcome::Bypass => "bypass",
        }
    }
}

/// One attempt to get a response from an upstream (a CLIENT span each).
#[derive(Debug, Clone, Copy)]
pub struct UpstreamAttempt {
    /// Which upstream.
    pub upstream: UpstreamId,
    /// Its address.
    pub addr: std::net::SocketAddr,
    /// When the attempt started (peer selected).
    pub start: Instant,
    /// When the response header arrived or the attempt failed (None: still unknown).
    pub end: Option<Instant>,
    /// Upstream response status (None when none arrived).
    pub status: Option<u16>,
    /// The attempt failed (connect error, timeout, reset).
    pub failed: bool,
    /// The client span id sent upstream in `traceparent` (all zero when unsampled).
    pub span_id: [u8; 8],
}

/// Everything telemetry needs to know about one finished request.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    /// Monotonic start (request header received).
    pub start: Instant,
    /// Wall-clock start (for spans and the recent-requests log).
    pub start_time: SystemTime,
    /// Time from start until the response was completely sent (or the request failed).
    pub duration: Duration,
    /// HTTP method.
    pub method: &'a http::Method,
    /// URL path without the query.
    pub path: &'a str,
    /// `Host` header (server.address), if any.
    pub host: Option<&'a str>,
    /// Client address.
    pub client: Option<IpAddr>,
    /// `User-Agent`, if any.
    pub user_agent: Option<&'a str>,
    /// `1.0`, `1.1` or `2`.
    pub protocol_version: &'static str,
    /// Status sent downstream; 0 if the client went away before any response.
    pub status: u16,
    /// What the cache did.
    pub cache: CacheOutcome,
    /// Cache lookup start and end, when a lookup happened.
    pub cache_lookup: Option<(Instant, Instant)>,
    /// Upstream attempts in order (empty for cache hits and local answers).
    pub attempts: &'a [UpstreamAttempt],
    /// `error.type` for failed requests (e.g. `timeout`, `connect_error`, `500`).
    pub error: Option<&'static str>,
    /// Response body bytes sent downstream.
    pub bytes_sent: u64,
    /// Request bytes received from the client: the request head as sent plus its body.
    pub bytes_received: u64,
    /// The request's trace id (also for unsampled requests: it is propagated upstream).
    pub trace_id: [u8; 16],
    /// The SERVER span's id (what an exemplar points to; meaningful when sampled).
    pub span_id: [u8; 8],
    /// Whether the request's trace is sampled (its spans are exported).
    pub sampled: bool,
    /// `url.scheme`: `http` or `https` (the client connection's).
    pub scheme: &'static str,
}

impl RequestRecord<'_> {
    /// The upstream that produced the response (the last attempt), if any.
    pub fn upstream(&self) -> Option<&UpstreamAttempt> {
        self.attempts.last()
    }

    /// Whether the request counts as an error (5xx, or no response at all).
    pub fn is_error(&self) -> bool {
        self.status >= 500 || self.status == 0
    }
}
