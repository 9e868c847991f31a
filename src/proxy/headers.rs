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

/// Sets the forwarding headers on an upstream request. From an untrusted peer every
/// client-sent `X-Forwarded-*`, `X-Real-IP` and `Forwarded` is dropped and sightline's own
/// `X-Forwarded-For`/`-Proto`/`-Host` and `Forwarded: for=…;proto=…;host=…` are set; from a
/// trusted proxy `X-Forwarded-For` and `Forwarded` are appended to and the proxy's
/// `-Proto`/`-Host`/`-Port`/`X-Real-IP` are kept (set when it sent none).
pub fn set_forwarding(req: &mut RequestHeader, hop: &Hop<'_>) {
    let trusted = hop.trusted && hop.client.is_some();
    if !trusted {
        for name in [
            &X_FORWARDED_HOST,
            &X_FORWARDED_PORT,
            &X_FORWARDED_PROTO,
            &X_REAL_IP,
            &FORWARDED,
            &X_FORWARDED_FOR,
        ] {
            req.remove_header(name);
        }
    }
    match hop.client {
        // `trusted` was decided by the caller: the peer's own network makes it append.
        Some(ip) if trusted => set_forwarded_for(req, Some(ip), &[IpNet::from(ip)]),
        other => set_forwarded_for(req, other, &[]),
    }
    let mut set_if_absent = |name: HeaderName, value: &str| {
        if trusted && req.headers.contains_key(&name) {
            return;
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            req.insert_header(name, v)
                .expect("static header name is valid");
        } else {
            req.remove_header(&name);
        }
    };
    set_if_absent(X_FORWARDED_PROTO, hop.scheme);
    if !hop.host.is_empty() {
        set_if_absent(X_FORWARDED_HOST, hop.host);
    }
    let element = forwarded_element(hop);
    let value = match req.headers.get(&FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prev) if trusted => format!("{prev}, {element}"),
        _ => element,
    };
    match HeaderValue::from_str(&value) {
        Ok(v) => {
            req.insert_header(FORWARDED, v)
                .expect("static header name is valid");
        }
        Err(_) => {
            req.remove_header(&FORWARDED);
        }
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

/// Sets `X-Forwarded-For`: appended to when the peer is a trusted proxy, replaced otherwise
/// (an untrusted client could otherwise forge the chain).
pub fn set_forwarded_for(req: &mut RequestHeader, client: Option<IpAddr>, trusted: &[IpNet]) {
    let Some(ip) = client else {
        req.remove_header(&X_FORWARDED_FOR);
        return;
    };
    let mut buf = itoa_ip(ip);
    if is_trusted(ip, trusted) {
        if let Some(prev) = req
            .headers
            .get(&X_FORWARDED_FOR)
            .and_then(|v| v.to_str().ok())
        {
            buf = format!("{prev}, {buf}");
        }
    }
    // An IP's text form is always a valid header value.
    let value = HeaderValue::from_str(&buf).expect("IP text is a valid header value");
    req.insert_header(X_FORWARDED_FOR, value)
        .expect("static header name is valid");
}

fn itoa_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        // A v4-mapped v6 peer is reported as plain v4, like nginx does.
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_else(|| v6.to_string()),
    }
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
mod tests {
    use super::*;

    fn req() -> RequestHeader {
        RequestHeader::build("GET", b"/x", None).unwrap()
    }

    #[test]
    fn untrusted_client_replaces_forwarded_for() {
        let mut r = req();
        r.insert_header("x-forwarded-for", "6.6.6.6").unwrap();
        set_forwarded_for(&mut r, Some("10.0.0.1".parse().unwrap()), &[]);
        assert_eq!(r.headers.get("x-forwarded-for").unwrap(), "10.0.0.1");
    }

    #[test]
    fn trusted_proxy_appends_to_forwarded_for() {
        let mut r = req();
        r.insert_header("x-forwarded-for", "1.2.3.4").unwrap();
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        set_forwarded_for(&mut r, Some("10.0.0.1".parse().unwrap()), &trusted);
        assert_eq!(
            r.headers.get("x-forwarded-for").unwrap(),
            "1.2.3.4, 10.0.0.1"
        );
    }

    #[test]
    fn mapped_v6_is_reported_as_v4() {
        let mut r = req();
        set_forwarded_for(&mut r, Some("::ffff:127.0.0.1".parse().unwrap()), &[]);
        assert_eq!(r.headers.get("x-forwarded-for").unwrap(), "127.0.0.1");
    }

    fn hop(client: &str, trusted: bool) -> Hop<'static> {
        Hop {
            client: Some(client.parse().unwrap()),
            trusted,
            scheme: "http",
            host: "a.example:8080",
        }
    }

    fn spoofed() -> RequestHeader {
        let mut r = req();
        for (k, v) in [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-port", "1"),
            ("x-forwarded-proto", "https"),
            ("x-real-ip", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6;host=evil.example"),
        ] {
            r.insert_header(k, v).unwrap();
        }
        r
    }

    #[test]
    fn untrusted_peers_get_sightlines_own_headers() {
        let mut r = spoofed();
        set_forwarding(&mut r, &hop("10.0.0.1", false));
        let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h("x-forwarded-for").as_deref(), Some("10.0.0.1"));
        assert_eq!(h("x-forwarded-host").as_deref(), Some("a.example:8080"));
        assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
        assert_eq!(h("x-forwarded-port"), None);
        assert_eq!(h("x-real-ip"), None);
        assert_eq!(
            h("forwarded").as_deref(),
            Some("for=10.0.0.1;proto=http;host=\"a.example:8080\"")
        );
    }

    #[test]
    fn trusted_peers_are_appended_to() {
        let mut r = spoofed();
        set_forwarding(&mut r, &hop("::1", true));
        let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h("x-forwarded-for").as_deref(), Some("6.6.6.6, ::1"));
        assert_eq!(h("x-forwarded-host").as_deref(), Some("evil.example"));
        assert_eq!(h("x-real-ip").as_deref(), Some("6.6.6.6"));
        assert_eq!(
            h("forwarded").as_deref(),
            Some("for=6.6.6.6;host=evil.example, for=\"[::1]\";proto=http;host=\"a.example:8080\"")
        );
    }

    #[test]
    fn cache_status_values_parse() {
        let v = cache_status::STALE_REVALIDATED;
        let (name, params) = parse_cache_status(v.to_str().unwrap()).unwrap();
        assert_eq!(name, "sightline");
        assert_eq!(
            params,
            [("fwd", Some("stale")), ("fwd-status", Some("304"))]
        );
        assert_eq!(parse_cache_status("x; a b"), None);
    }

    #[test]
    fn header_size_counts_fields() {
        let mut r = req();
        let small = request_header_size(&r);
        r.insert_header("x-big", "a".repeat(1000)).unwrap();
        assert!(request_header_size(&r) >= small + 1000);
    }
}
