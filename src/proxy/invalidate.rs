//! Invalidation by unsafe requests (RFC 9111 §4.4): which requests invalidate, and which
//! request targets they invalidate (the target URI, plus `Location` and `Content-Location`
//! when they share its origin), each as a request header the cache-key function accepts.

use http::header::{CONTENT_LOCATION, HOST, LOCATION};
use http::uri::{Authority, PathAndQuery, Uri};
use http::{Method, StatusCode};
use pingora_http::{RequestHeader, ResponseHeader};

/// Whether a method is known to be safe (RFC 9110 §9.2.1). Every other method, including
/// extension methods such as `M-SEARCH`, counts as unsafe for invalidation.
pub fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether a response to a request with `method` invalidates: an unsafe method answered with
/// a non-error status (2xx or 3xx).
pub fn invalidates(method: &Method, status: StatusCode) -> bool {
    !is_safe(method) && (status.is_success() || status.is_redirection())
}

/// The request targets a response to `req` invalidates: `req` itself, then the `Location` and
/// `Content-Location` targets that resolve to the same origin (`scheme` is the request's,
/// `"http"` or `"https"`). Each is `req` re-targeted, so the cache-key function sees the same
/// Host and scheme it sees on lookup.
pub fn targets(req: &RequestHeader, resp: &ResponseHeader, scheme: &str) -> Vec<RequestHeader> {
    let mut out = vec![req.clone()];
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(value) = resp.headers.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(path) = same_origin_path(req, value.trim(), scheme) {
            if let Some(t) = retarget(req, &path) {
                out.push(t);
            }
        }
    }
    out
}

/// The request's authority: the URI's, else `Host`.
fn authority_of(req: &RequestHeader) -> Option<Authority> {
    if let Some(a) = req.uri.authority() {
        return Some(a.clone());
    }
    req.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse().ok())
}

/// Host and port, the port made explicit (the scheme's default when absent) and the host
/// lower-cased.
fn host_port(a: &Authority, scheme: &str) -> (String, u16) {
    let default = if scheme == "https" { 443 } else { 80 };
    (
        a.host().to_ascii_lowercase(),
        a.port_u16().unwrap_or(default),
    )
}

/// The path-and-query `reference` names when it is on the request's origin (RFC 9111 §4.4:
/// a cache must not invalidate URIs of another origin); relative references are resolved
/// against the request target (RFC 3986 §5.2).
fn same_origin_path(req: &RequestHeader, reference: &str, scheme: &str) -> Option<String> {
    let reference = reference.split('#').next().unwrap_or("");
    if reference.is_empty() {
        return None;
    }
    let has_scheme = reference
        .split_once(':')
        .is_some_and(|(s, _)| !s.is_empty() && !s.contains('/') && !s.contains('?'));
    if has_scheme || reference.starts_with("//") {
        let full = if reference.starts_with("//") {
            format!("{scheme}:{reference}")
        } else {
            reference.to_owned()
        };
        let uri: Uri = full.parse().ok()?;
        if !uri.scheme_str()?.eq_ignore_ascii_case(scheme) {
            return None;
        }
        let theirs = host_port(uri.authority()?, scheme);
        let ours = host_port(&authority_of(req)?, scheme);
        if theirs != ours {
            return None;
        }
        return Some(uri.path_and_query().map_or("/", |p| p.as_str()).to_owned());
    }
    let base = req.uri.path();
    let (path, query) = match reference.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (reference, None),
    };
    let merged = if path.is_empty() {
        base.to_owned()
    } else if path.starts_with('/') {
        path.to_owned()
    } else {
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{path}")
    };
    let mut out = remove_dot_segments(&merged);
    if let Some(q) = query.or_else(|| path.is_empty().then(|| req.uri.query()).flatten()) {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// RFC 3986 §5.2.4, for paths that start with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match *seg {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

/// `req` with its target replaced by `path_and_query` (absolute-form kept when `req` used it).
fn retarget(req: &RequestHeader, path_and_query: &str) -> Option<RequestHeader> {
    let pq: PathAndQuery = path_and_query.parse().ok()?;
    let mut parts = req.uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    let uri = Uri::from_parts(parts).ok()?;
    let mut t = req.clone();
    t.set_uri(uri);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(target: &str) -> RequestHeader {
        let mut r = RequestHeader::build("POST", target.as_bytes(), None).unwrap();
        r.insert_header("host", "Example.com:80").unwrap();
        r
    }

    fn resp(headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(201, None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn paths(req: &RequestHeader, resp: &ResponseHeader) -> Vec<String> {
        targets(req, resp, "http")
            .iter()
            .map(|t| t.uri.path_and_query().unwrap().as_str().to_owned())
            .collect()
    }

    #[test]
    fn unknown_methods_are_unsafe_and_errors_do_not_invalidate() {
        let m_search = Method::from_bytes(b"M-SEARCH").unwrap();
        assert!(invalidates(&m_search, StatusCode::OK));
        assert!(invalidates(&Method::POST, StatusCode::SEE_OTHER));
        assert!(!invalidates(
            &Method::POST,
            StatusCode::INTERNAL_SERVER_ERROR
        ));
        assert!(!invalidates(&Method::DELETE, StatusCode::NOT_FOUND));
        assert!(!invalidates(&Method::GET, StatusCode::OK));
        assert!(!invalidates(&Method::OPTIONS, StatusCode::OK));
    }

    #[test]
    fn same_origin_locations_are_targets() {
        let req = post("/dir/items?x=1");
        let r = resp(&[
            ("location", "http://example.com/dir/items/7"),
            ("content-location", "../other?y=2#frag"),
        ]);
        assert_eq!(
            paths(&req, &r),
            ["/dir/items?x=1", "/dir/items/7", "/other?y=2"]
        );
        let r = resp(&[
            ("location", "new"),
            ("content-location", "//EXAMPLE.com/abs"),
        ]);
        assert_eq!(paths(&req, &r), ["/dir/items?x=1", "/dir/new", "/abs"]);
    }

    #[test]
    fn other_origins_are_not_targets() {
        let req = post("/a");
        let r = resp(&[
            ("location", "http://elsewhere.com/a"),
            ("content-location", "https://example.com/a"),
        ]);
        assert_eq!(paths(&req, &r), ["/a"]);
        let r = resp(&[("location", "http://example.com:8080/a")]);
        assert_eq!(paths(&req, &r), ["/a"]);
    }

    #[test]
    fn retargeting_keeps_the_host() {
        let req = post("/a");
        let t = &targets(&req, &resp(&[("location", "/b")]), "http")[1];
        assert_eq!(t.headers["host"], "Example.com:80");
        assert_eq!(t.uri.path(), "/b");
    }
}
