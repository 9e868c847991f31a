//! What of an upstream response header is forwarded and stored: hop-by-hop fields removed
//! (RFC 9110 §7.6.1), a `Date` added when the origin sent none (§6.6.1), and the update of a
//! stored header from a 304 (RFC 9111 §3.2, §4.3.4).

use http::header::{self, HeaderName};
use pingora_http::ResponseHeader;

/// Connection-specific fields a proxy removes even when `Connection` does not name them.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes the fields named in `Connection` and the standard hop-by-hop fields, so they are
/// neither stored nor forwarded. A 101 keeps them: its `Upgrade`/`Connection` are the answer.
/// Returns whether the response carries a targeted cache field (RFC 9213), which only this
/// cache may read and must not forward.
pub fn strip_hop_by_hop(resp: &mut ResponseHeader) -> bool {
    if resp.status == http::StatusCode::SWITCHING_PROTOCOLS {
        return false;
    }
    // One pass over the names (most responses carry at most `Connection: keep-alive`); the
    // map is only touched again for what is there.
    let mut found = [false; 6];
    let mut targeted = false;
    let mut listed = false;
    for name in resp.headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            found[i] = true;
        } else if name == super::directives::CDN_CACHE_CONTROL
            || name == super::directives::SIGHTLINE_CACHE_CONTROL
        {
            targeted = true;
        }
    }
    if found[0] {
        // `keep-alive` and `close` are connection options, not field names to remove.
        listed = resp.headers.get_all(header::CONNECTION).iter().any(|v| {
            !v.as_bytes().eq_ignore_ascii_case(b"keep-alive")
                && !v.as_bytes().eq_ignore_ascii_case(b"close")
        });
    }
    if listed {
        let names: Vec<HeaderName> = resp
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
            .collect();
        for name in &names {
            resp.remove_header(name);
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(found) {
        if present {
            resp.remove_header(name);
        }
    }
    targeted
}

/// A recipient with a clock appends `Date` to a response that lacks one before caching or
/// forwarding it (RFC 9110 §6.6.1), so later age arithmetic has a reference point.
pub fn ensure_date(resp: &mut ResponseHeader) {
    if !resp.headers.contains_key(header::DATE) {
        let now = httpdate::fmt_http_date(std::time::SystemTime::now());
        resp.insert_header(header::DATE, now)
            .expect("an HTTP-date is a valid header value");
    }
}

/// Gives a stored response that arrived without a length (chunked or close-delimited) its
/// `Content-Length`, now that the whole body is stored: pingora answers `Range` requests from
/// an entry only when its header has a length.
pub fn complete_length(stored: &mut ResponseHeader, body_len: usize) {
    let bodiless = matches!(stored.status.as_u16(), 100..=199 | 204 | 304);
    if !bodiless && !stored.headers.contains_key(header::CONTENT_LENGTH) {
        stored
            .insert_header(header::CONTENT_LENGTH, body_len)
            .expect("a number is a valid header value");
    }
}

/// The status line and fields of a stored response as a fresh hit sends them (RFC 9111 §4):
/// the stored fields as received (their case kept, hop-by-hop fields and `Age` were removed
/// before storing, `Date` is the origin's), without the targeted cache fields (RFC 9213), which
/// are never forwarded. Each line ends in CRLF; the caller adds `Age`, its own fields and the
/// blank line.
pub fn hit_head(stored: &ResponseHeader) -> bytes::Bytes {
    use super::directives::{CDN_CACHE_CONTROL, SIGHTLINE_CACHE_CONTROL};
    let mut buf = bytes::BytesMut::with_capacity(256);
    let status = stored.status;
    buf.extend_from_slice(b"HTTP/1.1 ");
    buf.extend_from_slice(status.as_str().as_bytes());
    buf.extend_from_slice(b" ");
    buf.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    buf.extend_from_slice(b"\r\n");
    let targeted = stored.headers.contains_key(&SIGHTLINE_CACHE_CONTROL)
        || stored.headers.contains_key(&CDN_CACHE_CONTROL);
    if targeted {
        let mut copy = stored.clone();
        copy.remove_header(&SIGHTLINE_CACHE_CONTROL);
        copy.remove_header(&CDN_CACHE_CONTROL);
        copy.header_to_h1_wire(&mut buf);
    } else {
        stored.header_to_h1_wire(&mut buf);
    }
    buf.freeze()
}

/// Fields a 304 never replaces in the stored header: they describe the stored body's framing
/// (`Content-Length`, `Content-Range`), were removed as hop-by-hop, or would change which
/// variant the entry is (`Vary`: pingora keeps the stored variance over a 304).
fn kept_over_304(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::CONTENT_RANGE
        || name == header::TRANSFER_ENCODING
        || name == header::VARY
        || HOP_BY_HOP.contains(name)
}

/// Updates a stored response header with a 304's fields (RFC 9111 §3.2): every field the 304
/// carries replaces the stored field of that name, except the framing fields, `Vary` and the
/// hop-by-hop fields.
///
/// pingora-cache's own merge (`revalidate_merge_header`) copies only `Cache-Control`,
/// `Expires`, `ETag`, `CDN-Cache-Control` and `Cache-Tag`, so a new `X-Test-Header`,
/// `Content-Type` or `Date` in the 304 would be lost; sightline applies this instead.
pub fn apply_304(stored: &mut ResponseHeader, not_modified: &ResponseHeader) {
    for name in not_modified.headers.keys() {
        if kept_over_304(name) {
            continue;
        }
        stored.remove_header(name);
        for value in not_modified.headers.get_all(name) {
            stored
                .append_header(name.clone(), value.clone())
                .expect("a received header name and value are valid");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn keep_alive_alone_is_removed_and_targeted_fields_are_reported() {
        let mut r = resp(
            200,
            &[
                ("connection", "keep-alive"),
                ("keep-alive", "timeout=5"),
                ("x-kept", "1"),
            ],
        );
        assert!(!strip_hop_by_hop(&mut r));
        let names: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
        let mut r = resp(200, &[("cdn-cache-control", "max-age=5")]);
        assert!(strip_hop_by_hop(&mut r));
        assert!(
            r.headers.contains_key("cdn-cache-control"),
            "read later, stripped downstream"
        );
    }

    #[test]
    fn connection_listed_and_standard_hop_by_hop_fields_go() {
        let mut r = resp(
            200,
            &[
                ("connection", "X-Secret, close"),
                ("connection", "x-other"),
                ("x-secret", "1"),
                ("x-other", "2"),
                ("keep-alive", "timeout=5"),
                ("transfer-encoding", "chunked"),
                ("x-kept", "3"),
            ],
        );
        strip_hop_by_hop(&mut r);
        let names: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn a_101_keeps_its_upgrade_fields() {
        let mut r = resp(101, &[("connection", "upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut r);
        assert_eq!(r.headers.len(), 2);
    }

    #[test]
    fn a_304_replaces_stored_fields_but_not_framing_or_vary() {
        let mut stored = resp(
            200,
            &[
                ("content-length", "10"),
                ("x-test-header", "A"),
                ("cache-control", "max-age=1"),
                ("vary", "accept"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ],
        );
        let nm = resp(
            304,
            &[
                ("content-length", "0"),
                ("x-test-header", "B"),
                ("content-foo", "new"),
                ("cache-control", "max-age=3600"),
                ("vary", "*"),
                ("set-cookie", "c=3"),
            ],
        );
        apply_304(&mut stored, &nm);
        let h = &stored.headers;
        assert_eq!(h["content-length"], "10");
        assert_eq!(h["x-test-header"], "B");
        assert_eq!(h["content-foo"], "new");
        assert_eq!(h["cache-control"], "max-age=3600");
        assert_eq!(h["vary"], "accept");
        assert_eq!(h.get_all("set-cookie").iter().count(), 1);
        assert_eq!(stored.status, 200);
    }

    #[test]
    fn a_stored_body_gets_its_length_unless_it_has_none() {
        let mut r = resp(200, &[]);
        complete_length(&mut r, 16);
        assert_eq!(r.headers["content-length"], "16");
        let mut r = resp(200, &[("content-length", "16")]);
        complete_length(&mut r, 3);
        assert_eq!(r.headers["content-length"], "16");
        let mut r = resp(204, &[]);
        complete_length(&mut r, 0);
        assert!(r.headers.get("content-length").is_none());
    }

    #[test]
    fn a_missing_date_is_added_once() {
        let mut r = resp(200, &[]);
        ensure_date(&mut r);
        let d = r.headers["date"].clone();
        assert!(httpdate::parse_http_date(d.to_str().unwrap()).is_ok());
        let mut r = resp(200, &[("date", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        ensure_date(&mut r);
        assert_eq!(r.headers["date"], "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
