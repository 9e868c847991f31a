//! Fresh cache hits answered at the edge, before pingora builds a session.
//!
//! Every HTTP/1.1 request header passes through the edge anyway (it reads it under
//! `header_timeout`). For the commonest request a cache sees — a plain `GET` whose stored
//! response is fresh and has no `Vary` — everything pingora would do (a session, the proxy
//! phases, pingora-cache's lookup, hit handler and header rebuild) comes down to writing the
//! stored response with an `Age`. Doing that here costs a fraction of it. Whatever is not that
//! plain goes to pingora unchanged: other methods and versions, a body, conditional and range
//! requests, request `Cache-Control`/`Pragma`, `Authorization`, `Expect`, `Upgrade`, connection
//! options, pipelined bytes, an absolute-form target, a missing or odd `Host`, a host outside
//! `proxy.server_names`, and stored responses that are stale, invalidated or `Vary` variants
//! (freshness, revalidation, Vary and ranges stay with pingora-cache).
//!
//! What the client gets is what pingora's hit path sends, plus the stored `Date` (RFC 9111 §4:
//! pingora-core writes the send time over it): the stored status and fields, `Age`,
//! `Cache-Status: sightline; hit`, `Via`, and `traceresponse` for a sampled request. The
//! request is recorded like any other (figures, recent requests, metrics, a SERVER span with
//! its `cache lookup` child).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use pingora_core::protocols::Stream;
use tokio::io::AsyncWriteExt;

use crate::proxy::headers;
use crate::proxy::policy;
use crate::proxy::store::MokaStore;
use crate::telemetry::{CacheOutcome, RequestRecord, Telemetry};

/// Headers parsed at most; a request with more goes to pingora.
const MAX_FIELDS: usize = 48;
/// Bodies up to this size go out in the same write as the header.
const COALESCE: usize = 16 * 1024;

/// What the hit path did with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Served {
    /// Not a fresh plain hit: pingora takes the request (the bytes are untouched).
    No,
    /// Answered; the connection stays open for the next request.
    KeepAlive,
    /// Answered (or the write failed); close the connection.
    Close,
}

/// The edge's fresh-hit server.
pub struct HitPath {
    store: &'static MokaStore,
    telemetry: Arc<Telemetry>,
    server_names: Vec<String>,
    /// Bound on writing one response to a client that stops reading.
    write_timeout: Duration,
}

impl std::fmt::Debug for HitPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HitPath").finish_non_exhaustive()
    }
}

/// The parts of a plain `GET` the hit path needs, borrowed from the header bytes.
#[derive(Debug, Default)]
struct Plain<'a> {
    target: &'a str,
    host: &'a str,
    user_agent: Option<&'a str>,
    traceparent: Option<&'a [u8]>,
    traceparents: usize,
    tracestate: Option<&'a [u8]>,
}

/// Whether a field forbids the hit path (it changes what may be served, or how).
fn disqualifies(name: &str, value: &[u8]) -> bool {
    let n = name.len();
    // Cheap length gate first: most fields of a browser request are none of these.
    if !(5..=19).contains(&n) && n != 2 {
        return false;
    }
    name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("transfer-encoding")
        || name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("cache-control")
        || name.eq_ignore_ascii_case("pragma")
        || name.eq_ignore_ascii_case("range")
        || name.eq_ignore_ascii_case("if-range")
        || name.eq_ignore_ascii_case("if-match")
        || name.eq_ignore_ascii_case("if-none-match")
        || name.eq_ignore_ascii_case("if-modified-since")
        || name.eq_ignore_ascii_case("if-unmodified-since")
        || name.eq_ignore_ascii_case("expect")
        || name.eq_ignore_ascii_case("upgrade")
        || name.eq_ignore_ascii_case("te")
        || (name.eq_ignore_ascii_case("connection") && !value.eq_ignore_ascii_case(b"keep-alive"))
}

/// A first look at `head` without parsing it: the target and `Host` of a `GET`, enough to
/// ask whether the key may be stored at all (most requests a proxy sees are not).
fn glance(head: &[u8]) -> Option<(&str, &str)> {
    let line_end = memchr::memchr(b'\n', head)?;
    let line = head[..line_end].strip_prefix(b"GET ")?;
    let target = &line[..memchr::memchr(b' ', line)?];
    let mut at = line_end + 1;
    while let Some(end) = memchr::memchr(b'\n', &head[at..]) {
        let field = &head[at..at + end];
        if field.len() > 5 && field[..5].eq_ignore_ascii_case(b"host:") {
            let host = field[5..].trim_ascii();
            return Some((
                std::str::from_utf8(target).ok()?,
                std::str::from_utf8(host).ok()?,
            ));
        }
        at += end + 1;
    }
    None
}

/// The plain `GET` in `head`, or None when pingora must handle it.
fn plain(head: &[u8]) -> Option<Plain<'_>> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(head) {
        // Anything after the header (a pipelined request) is pingora's to handle.
        Ok(httparse::Status::Complete(len)) if len == head.len() => {}
        _ => return None,
    }
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let mut p = Plain {
        target: req.path.filter(|t| t.starts_with('/'))?,
        ..Plain::default()
    };
    let mut hosts = 0;
    for f in req.headers.iter() {
        let v = f.value;
        if f.name.eq_ignore_ascii_case("host") {
            hosts += 1;
            p.host = std::str::from_utf8(v).ok()?;
        } else if f.name.eq_ignore_ascii_case("user-agent") {
            p.user_agent = std::str::from_utf8(v).ok();
        } else if f.name.eq_ignore_ascii_case("traceparent") {
            p.traceparents += 1;
            p.traceparent = Some(v);
        } else if f.name.eq_ignore_ascii_case("tracestate") {
            p.tracestate = Some(v);
        } else if disqualifies(f.name, v) {
            return None;
        }
    }
    // Exactly one Host, a plain authority (the framing rules pingora's path applies).
    let valid_host = hosts == 1
        && !p.host.is_empty()
        && !p.host.contains('@')
        && p.host.parse::<http::uri::Authority>().is_ok();
    valid_host.then_some(p)
}

fn push_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

impl HitPath {
    /// A hit path over `store`, recording into `telemetry`; `server_names` as configured;
    /// a response that cannot be written within `write_timeout` closes the connection.
    pub fn new(
        store: &'static MokaStore,
        telemetry: Arc<Telemetry>,
        server_names: Vec<String>,
        write_timeout: Duration,
    ) -> Self {
        HitPath {
            store,
            telemetry,
            server_names,
            write_timeout,
        }
    }

    /// Answers the request in `head` from the store when it is a plain `GET` of a fresh,
    /// non-variant entry; `closing` asks for `Connection: close` (shutdown or hand-over).
    pub async fn serve(
        &self,
        stream: &mut Stream,
        head: &[u8],
        conn: &Conn,
        closing: bool,
    ) -> Served {
        let start = Instant::now();
        let stored = glance(head).is_some_and(|(target, host)| {
            self.store
                .may_hold(policy::key_hash(conn.scheme, host, target))
        });
        if !stored {
            return Served::No;
        }
        let start_time = SystemTime::now();
        let Some(req) = plain(head) else {
            return Served::No;
        };
        if !self.server_names.is_empty() {
            let authority = policy::normalise_authority(conn.scheme, req.host);
            if !super::super::admit::server_name_matches(
                &self.server_names,
                policy::host_of(&authority),
            ) {
                return Served::No;
            }
        }
        let key = policy::cache_key_for(conn.scheme, req.host, req.target);
        let Some(hit) = self.store.fresh_hit(&key, start_time) else {
            return Served::No;
        };
        let looked_up = Instant::now();

        let tel = &self.telemetry;
        tel.start();
        let traceparent = (req.traceparents == 1).then_some(req.traceparent).flatten();
        let trace = tel.tracer.start_with(traceparent, || {
            req.tracestate
                .and_then(|v| http::HeaderValue::from_bytes(v).ok())
        });

        let mut out = BytesMut::with_capacity(hit.head.len() + 160 + hit.body.len().min(COALESCE));
        out.extend_from_slice(&hit.head);
        out.extend_from_slice(b"Age: ");
        push_decimal(&mut out, hit.age_s);
        out.extend_from_slice(b"\r\nCache-Status: ");
        out.extend_from_slice(headers::cache_status::HIT.as_bytes());
        out.extend_from_slice(b"\r\nVia: ");
        out.extend_from_slice(headers::VIA.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(tr) = tel.tracer.traceresponse(&trace) {
            out.extend_from_slice(headers::wire::TRACERESPONSE.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(tr.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if closing {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        let separate = hit.body.len() > COALESCE;
        if !separate {
            out.extend_from_slice(&hit.body);
        }
        let write = async {
            stream.write_all(&out).await?;
            if separate {
                stream.write_all(&hit.body).await?;
            }
            stream.flush().await
        };
        let written = matches!(
            tokio::time::timeout(self.write_timeout, write).await,
            Ok(Ok(()))
        );

        let rec = RequestRecord {
            start,
            start_time,
            duration: start.elapsed(),
            method: &http::Method::GET,
            path: req.target.split('?').next().unwrap_or("/"),
            host: Some(req.host),
            client: conn.client,
            user_agent: req.user_agent,
            protocol_version: "1.1",
            status: if written { hit.status } else { 0 },
            cache: CacheOutcome::Hit,
            cache_lookup: Some((start, looked_up)),
            attempts: &[],
            error: (!written).then_some("client_closed"),
            bytes_sent: if written { hit.body.len() as u64 } else { 0 },
            bytes_received: head.len() as u64,
            trace_id: trace.trace_id,
            span_id: trace.span_id,
            sampled: trace.sampled,
            scheme: conn.scheme,
        };
        tel.finish(&trace, &rec);
        if written && !closing {
            Served::KeepAlive
        } else {
            Served::Close
        }
    }
}

/// What the hit path knows of a client connection.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// `https` over TLS, else `http` (the cache key's scheme).
    pub scheme: &'static str,
    /// The peer's address.
    pub client: Option<IpAddr>,
}

impl Conn {
    /// The facts of `stream`, read once per connection.
    pub fn of(stream: &Stream) -> Conn {
        let scheme = if stream.get_ssl_digest().is_some() {
            "https"
        } else {
            "http"
        };
        let client = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        Conn { scheme, client }
    }
}

#[cfg(test)]
mod tests;
