//! Header rewrites: forwarding headers to upstreams and the `Cache-Status` values sent back.

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

    #[test]
    fn header_size_counts_fields() {
        let mut r = req();
        let small = request_header_size(&r);
        r.insert_header("x-big", "a".repeat(1000)).unwrap();
        assert!(request_header_size(&r) >= small + 1000);
    }
}
