//! Header rewrites: forwarding headers to upstreams (`X-Forwarded-*`, RFC 7239 `Forwarded`;
//! client-sent ones trusted only from `proxy.trusted_proxies`) and the `Cache-Status` values
//! sent back.

use std::net::IpAddr;

use http::header::HeaderName;
use http::HeaderValue;
use ipnet::IpNet;
use pingora_http::RequestHeader;

/// `Via` added in both directions (RFC 9110 §7.6.3).
pub const VIA: HeaderValue = HeaderValue::from_static("1.1 sightline");

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Forwarded-Port`.
pub const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
/// `X-Real-IP`.
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// RFC 7239 `Forwarded`.
pub const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
/// RFC 9211 `Cache-Status`.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
/// W3C `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// W3C `tracestate`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// W3C Trace Context level 2 `traceresponse`.
pub const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

/// Names as written on the wire by sightline. pingora keeps a `&'static str` name's case and
/// borrows it, where a custom [`HeaderName`] is title-cased into a fresh copy per insert.
pub mod wire {
    /// RFC 9211 `Cache-Status`.
    pub const CACHE_STATUS: &str = "Cache-Status";
    /// W3C `traceparent`.
    pub const TRACEPARENT: &str = "traceparent";
    /// W3C `tracestate`.
    pub const TRACESTATE: &str = "tracestate";
    /// W3C Trace Context level 2 `traceresponse`.
    pub const TRACERESPONSE: &str = "traceresponse";
}

/// The `Cache-Status` values sightline sends (RFC 9211), pre-built so no request formats one.
pub mod cache_status {
    use http::HeaderValue;
    /// Served from a fresh entry.
    pub const HIT: HeaderValue = HeaderValue::from_static("sightline; hit");
    /// Nothing stored for the URI; the response was stored.
    pub const URI_MISS_STORED: HeaderValue =
        HeaderValue::from_static("sightline; fwd=uri-miss; stored");
    /// Nothing stored for the URI; the response was not cacheable.
    pub const URI_MISS: HeaderValue = HeaderValue::from_static("sightline; fwd=uri-miss");
    /// A stored variant did not match (Vary); the response was stored.
    pub const MISS_STORED: HeaderValue = HeaderValue::from_static("sightline; fwd=miss; stored");
    /// A stored variant did not match (Vary); not stored.
    pub const MISS: HeaderValue = HeaderValue::from_static("sightline; fwd=miss");
    /// The entry was stale and refetched; the new response was stored.
    pub const STALE_STORED: HeaderValue = HeaderValue::from_static("sightline; fwd=stale; stored");
    /// The entry was stale and the upstream confirmed it (304).
    pub const STALE_REVALIDATED: HeaderValue =
        HeaderValue::from_static("sightline; fwd=stale; fwd-status=304");
    /// The entry was stale; the new response was not cacheable.
    pub const STALE: HeaderValue = HeaderValue::from_static("sightline; fwd=stale");
    /// Not cacheable: no lookup.
    pub const BYPASS: HeaderValue = HeaderValue::from_static("sightline; fwd=bypass");
    /// Predicted uncacheable, so no lookup, but the response turned out storable and was stored.
    pub const BYPASS_STORED: HeaderValue =
        HeaderValue::from_static("sightline; fwd=bypass; stored");
}

/// The scheme the client connection uses: `"https"` over TLS, else `"http"`. Everything
/// that needs the request's scheme (cache key, forwarding headers, framing) asks this.
pub fn scheme_of(session: &pingora_proxy::Session) -> &'static str {
    if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
        "https"
    } else {
        "http"
    }
}

/// One hop as sightline sees it, for [`set_forwarding`].
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    /// The peer's address (`None` on a non-IP socket).
    pub client: Option<IpAddr>,
    /// Whether the peer is in `proxy.trusted_proxies`.
    pub trusted: bool,
    /// The connection's scheme ([`scheme_of`]).
    pub scheme: &'a str,
    /// The authority the client asked for (its `Host`, or the absolute-form target's).
    pub host: &'a str,
}

/// Wire names (the case sent upstream) of the forwarding headers, in [`FORWARDING_NAMES`]
/// order. Passing pingora a `&'static str` keeps this case on the wire and avoids the copy it
/// makes to title-case a custom `HeaderName`.
const WIRE: [&str; 6] = [
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Real-IP",
    "Forwarded",
];
const XFF: usize = 0;
const XFP: usize = 1;
const XFH: usize = 2;
const XFPORT: usize = 3;
const XRIP: usize = 4;
const FWD: usize = 5;

/// Which forwarding header a (lower-case) field name is, as an index into [`WIRE`].
fn forwarding_index(name: &HeaderName) -> Option<usize> {
    match name.as_str() {
        "x-forwarded-for" => Some(XFF),
        "x-forwarded-proto" => Some(XFP),
        "x-forwarded-host" => Some(XFH),
        "x-forwarded-port" => Some(XFPORT),
        "x-real-ip" => Some(XRIP),
        "forwarded" => Some(FWD),
        _ => None,
    }
}

/// `X-Forwarded-Proto` values, pre-built.
fn proto_value(scheme: &str) -> HeaderValue {
    match scheme {
        "https" => HeaderValue::from_static("https"),
        "http" => HeaderValue::from_static("http"),
        other => HeaderValue::from_str(other).unwrap_or(HeaderValue::from_static("http")),
    }
}

/// The `X-Forwarded-For` and `Forwarded` values sightline writes for one (client, scheme,
/// host), kept per thread: a keep-alive client sends many requests in a row with the same
/// three, so most requests reuse the last values (a reference-count bump each) instead of
/// formatting and copying them again.
struct OwnValues {
    client: Option<IpAddr>,
    scheme: &'static str,
    host: String,
    xff: Option<HeaderValue>,
    forwarded: Option<HeaderValue>,
}

thread_local! {
    static LAST: std::cell::RefCell<Option<OwnValues>> = const { std::cell::RefCell::new(None) };
}

/// sightline's own `X-Forwarded-For` (None without a client IP) and `Forwarded` values.
fn own_values(hop: &Hop<'_>) -> (Option<HeaderValue>, Option<HeaderValue>) {
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some(v) = last.as_ref() {
            if v.client == hop.client && v.scheme == hop.scheme && v.host == hop.host {
                return (v.xff.clone(), v.forwarded.clone());
            }
        }
        let xff = hop.client.map(|ip| {
            let mut buf = IpText::default();
            HeaderValue::from_str(buf.of(ip)).expect("IP text is a valid header value")
        });
        let forwarded = HeaderValue::from_str(&forwarded_element(hop)).ok();
        let scheme = match hop.scheme {
            "https" => "https",
            _ => "http",
        };
        let v = last.insert(OwnValues {
            client: hop.client,
            scheme,
            host: hop.host.to_owned(),
            xff,
            forwarded,
        });
        (v.xff.clone(), v.forwarded.clone())
    })
}

/// Inserts `value` under the forwarding header `i`, or removes it when there is none.
fn put(req: &mut RequestHeader, i: usize, value: Option<HeaderValue>, present: bool) {
    match value {
        Some(v) => {
            req.insert_header(WIRE[i], v)
                .expect("static header name is valid");
        }
        None if present => {
            req.remove_header(WIRE[i]);
        }
        None => {}
    }
}

/// Sets the forwarding headers on an upstream request. From an untrusted peer every
/// client-sent `X-Forwarded-*`, `X-Real-IP` and `Forwarded` is dropped and sightline's own
/// `X-Forwarded-For`/`-Proto`/`-Host` and `Forwarded: for=…;proto=…;host=…` are set; from a
/// trusted proxy `X-Forwarded-For` and `Forwarded` are appended to and the proxy's
/// `-Proto`/`-Host`/`-Port`/`X-Real-IP` are kept (set when it sent none).
pub fn set_forwarding(req: &mut RequestHeader, hop: &Hop<'_>) {
    let trusted = hop.trusted && hop.client.is_some();
    // One pass over the field names finds the client-sent ones (usually none).
    let mut present = [false; WIRE.len()];
    for name in req.headers.keys() {
        if let Some(i) = forwarding_index(name) {
            present[i] = true;
        }
    }
    if !trusted {
        for i in [XFH, XFPORT, XRIP] {
            if present[i] {
                req.remove_header(WIRE[i]);
            }
        }
    }
    let (xff, forwarded) = own_values(hop);
    let appended = |req: &RequestHeader, i: usize, own: Option<HeaderValue>| {
        let prev = req.headers.get(WIRE[i]).and_then(|v| v.to_str().ok());
        match (prev, own) {
            (Some(prev), Some(own)) => {
                let own = own.to_str().unwrap_or_default();
                HeaderValue::from_str(&format!("{prev}, {own}")).ok()
            }
            (_, own) => own,
        }
    };
    if trusted && present[XFF] {
        let v = appended(req, XFF, xff);
        put(req, XFF, v, true);
    } else {
        put(req, XFF, xff, present[XFF]);
    }
    if !(trusted && present[XFP]) {
        put(req, XFP, Some(proto_value(hop.scheme)), present[XFP]);
    }
    let keep_theirs = trusted && present[XFH];
    if !hop.host.is_empty() && !keep_theirs {
        // The client's own `Host` value when it is the authority (a reference-count bump).
        let v = match req.headers.get(http::header::HOST) {
            Some(h) if h.as_bytes() == hop.host.as_bytes() => Some(h.clone()),
            _ => HeaderValue::from_str(hop.host).ok(),
        };
        put(req, XFH, v, false);
    }
    if trusted && present[FWD] {
        let v = appended(req, FWD, forwarded);
        put(req, FWD, v, true);
    } else {
        put(req, FWD, forwarded, present[FWD]);
    }
}

/// An IP address written as text without allocating (v4-mapped v6 as plain v4, like nginx).
struct IpText {
    buf: [u8; 48],
}

impl Default for IpText {
    fn default() -> Self {
        IpText { buf: [0; 48] }
    }
}

impl IpText {
    fn of(&mut self, ip: IpAddr) -> &str {
        let v4 = match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        let len = match (v4, ip) {
            (Some(v4), _) => {
                let mut n = 0;
                for (k, octet) in v4.octets().into_iter().enumerate() {
                    if k > 0 {
                        self.buf[n] = b'.';
                        n += 1;
                    }
                    let (h, t, o) = (octet / 100, octet / 10 % 10, octet % 10);
                    if h > 0 {
                        self.buf[n] = b'0' + h;
                        n += 1;
                    }
                    if h > 0 || t > 0 {
                        self.buf[n] = b'0' + t;
                        n += 1;
                    }
                    self.buf[n] = b'0' + o;
                    n += 1;
                }
                n
            }
            (None, IpAddr::V6(v6)) => {
                use std::io::Write;
                let mut w = &mut self.buf[..];
                let _ = write!(w, "{v6}");
                48 - w.len()
            }
            (None, IpAddr::V4(_)) => unreachable!("a v4 address has its octets"),
        };
        std::str::from_utf8(&self.buf[..len]).expect("digits, dots, hex and colons")
    }
}

/// One RFC 7239 forwarded-element for `hop`: `for=…;proto=…;host=…`.
pub fn forwarded_element(hop: &Hop<'_>) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("for=");
    match hop.client {
        None => out.push_str("unknown"),
        Some(ip) => match itoa_ip(ip) {
            // RFC 7239 §6: an IPv6 address is bracketed, and so quoted.
            s if s.contains(':') => {
                out.push_str("\"[");
                out.push_str(&s);
                out.push_str("]\"");
            }
            s => out.push_str(&s),
        },
    }
    out.push_str(";proto=");
    out.push_str(hop.scheme);
    if !hop.host.is_empty() {
        out.push_str(";host=");
        push_token_or_quoted(&mut out, hop.host);
    }
    out
}

/// RFC 7230 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn push_token_or_quoted(out: &mut String, v: &str) {
    if !v.is_empty() && v.bytes().all(is_tchar) {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// One `Cache-Status` parameter: key and value (`None` for a flag).
pub type CacheStatusParam<'a> = (&'a str, Option<&'a str>);

/// Parses one RFC 9211 `Cache-Status` member (`sightline; fwd=stale; ttl=-3`) into the cache
/// name and its parameters (value `None` for a bare flag such as `hit`); `None` when a part is
/// empty or a key is not a token.
pub fn parse_cache_status(v: &str) -> Option<(&str, Vec<CacheStatusParam<'_>>)> {
    let mut parts = v.split(';').map(str::trim);
    let name = parts.next().filter(|n| !n.is_empty())?;
    let mut params = Vec::new();
    for p in parts {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (p, None),
        };
        if key.is_empty() || !key.bytes().all(is_tchar) || value.is_some_and(str::is_empty) {
            return None;
        }
        params.push((key, value));
    }
    Some((name, params))
}

/// Whether `ip` is inside one of the trusted proxy networks.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

fn itoa_ip(ip: IpAddr) -> String {
    IpText::default().of(ip).to_owned()
}

/// Size of a request header as it arrived on the wire (request line + fields), for the
/// `max_request_header_bytes` limit.
pub fn request_header_size(req: &RequestHeader) -> usize {
    let line =
        req.method.as_str().len() + req.uri.path_and_query().map_or(1, |p| p.as_str().len()) + 12;
    req.headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

#[cfg(test)]
mod tests;
