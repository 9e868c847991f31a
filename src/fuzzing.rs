//! Entry points for the cargo-fuzz targets in `fuzz/` (not a stable API): each takes raw
//! fuzzer bytes, drives one piece of input handling sightline writes itself, and panics only
//! when a property that must always hold is broken.

use std::net::IpAddr;

use pingora_http::RequestHeader;

use crate::proxy::{framing, headers, policy};

/// Splits fuzzer bytes into a request header: first line `METHOD TARGET`, then `name: value`
/// lines. Lines the `http` crate refuses are skipped, as a parser would have refused them.
fn request_of(data: &[u8]) -> Option<RequestHeader> {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next()?;
    let mut words = first.splitn(2, |&b| b == b' ');
    let method = std::str::from_utf8(words.next()?).ok()?;
    let target = words.next().unwrap_or(b"/");
    let mut req = RequestHeader::build(method, b"/", None).ok()?;
    req.set_uri(http::Uri::try_from(target).ok()?);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value.trim_ascii()),
        ) else {
            continue;
        };
        let _ = req.append_header(name, value);
    }
    Some(req)
}

/// The config parser and validator on arbitrary text (no environment overrides).
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::parse(text, &|_| None);
    }
}

/// Framing checks on an arbitrary request header; an accepted request must have at most one
/// `Host` and must give a cache key whose target part round-trips.
pub fn framing(data: &[u8]) {
    let Some(req) = request_of(data) else {
        return;
    };
    if framing::check(&req, Some(data), "http").is_ok() {
        assert!(req.headers.get_all(http::header::HOST).iter().count() <= 1);
        let key = policy::cache_key_bytes(&req, "http");
        assert!(key.starts_with(b"http://"));
    }
}

/// Cache keys: different (authority, target) pairs never collide into one key's parts, and the
/// key's target part is the percent-normalised target.
pub fn cache_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (scheme, rest) = match text.split_once('\n') {
        Some((s, r)) if s.len() % 2 == 0 => ("http", r),
        Some((_, r)) => ("https", r),
        None => ("http", text),
    };
    let (authority, target) = rest.split_once('\n').unwrap_or((rest, "/"));
    let key = policy::cache_key_for(scheme, authority, target);
    let part = policy::target_of_key(&key);
    let t = if target.is_empty() { "/" } else { target };
    let expected = if t.starts_with('/') {
        t.to_owned()
    } else {
        format!("/{t}")
    };
    // Only percent-escapes change (upper-cased), so the part equals the target but for case.
    assert!(
        part.eq_ignore_ascii_case(expected.as_bytes()),
        "{key:?} does not end in {expected:?}"
    );
    // The streamed hash the edge and the predictor use agrees with the built key's.
    assert_eq!(
        policy::key_hash(scheme, authority, target),
        policy::key_hash_of(&key),
        "{key:?}"
    );
}

/// Forwarding headers from an untrusted peer never keep a client-sent value.
pub fn forwarding(data: &[u8]) {
    let (ip_bytes, rest) = data.split_at(data.len().min(16));
    let mut octets = [0u8; 16];
    octets[..ip_bytes.len()].copy_from_slice(ip_bytes);
    let client = if ip_bytes.first().is_some_and(|b| b % 2 == 0) {
        IpAddr::from([octets[1], octets[2], octets[3], octets[4]])
    } else {
        IpAddr::from(octets)
    };
    let Some(mut req) = request_of(rest) else {
        return;
    };
    let host = policy::request_authority(&req).to_owned();
    let trusted = ip_bytes.last().is_some_and(|b| b % 3 == 0);
    let hop = headers::Hop {
        client: Some(client),
        trusted,
        scheme: "http",
        host: &host,
    };
    headers::set_forwarding(&mut req, &hop);
    let forwarded = req
        .headers
        .get(headers::FORWARDED)
        .map(|v| v.as_bytes().to_vec());
    if !trusted {
        assert!(req.headers.get(headers::X_REAL_IP).is_none());
        assert!(req.headers.get(headers::X_FORWARDED_PORT).is_none());
        assert_eq!(
            req.headers.get_all(headers::X_FORWARDED_FOR).iter().count(),
            1
        );
        if let Some(f) = forwarded {
            assert!(f.starts_with(b"for="));
        }
    }
}

/// `Cache-Status` parsing never panics, and every value sightline sends parses back.
pub fn cache_status(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((name, params)) = headers::parse_cache_status(text) {
            assert!(!name.is_empty());
            assert!(params.iter().all(|(k, _)| !k.is_empty()));
        }
    }
    use headers::cache_status::*;
    for v in [
        HIT,
        URI_MISS_STORED,
        URI_MISS,
        MISS_STORED,
        MISS,
        STALE_STORED,
        STALE_REVALIDATED,
        STALE,
        BYPASS,
        BYPASS_STORED,
    ] {
        let (name, _) =
            headers::parse_cache_status(v.to_str().unwrap_or("")).expect("sent values parse");
        assert_eq!(name, "sightline");
    }
}

/// `traceparent` parsing never panics, and what it accepts formats back to a value that parses
/// to the same trace context.
pub fn traceparent(data: &[u8]) {
    if let Some(tp) = crate::telemetry::w3c::parse_traceparent(data) {
        let again = crate::telemetry::w3c::format_context(&tp.trace_id, &tp.parent_id, tp.flags);
        let back = crate::telemetry::w3c::parse_traceparent(again.as_bytes()).expect("round trip");
        assert_eq!(back, tp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_accept_sample_inputs() {
        config(b"[proxy]\nlisten = \"127.0.0.1:1\"\n");
        framing(b"POST /x\nhost: a.example\ncontent-length: 3\ntransfer-encoding: chunked");
        cache_key(b"\nA.example:80\n/x?%2f");
        cache_key(b"\nA.example:80\n");
        cache_key(b"\na/b\nrel");
        forwarding(
            b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0fGET /\nx-real-ip: 1",
        );
        cache_status(b"sightline; fwd=stale; ttl=-3");
        traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    }
}
