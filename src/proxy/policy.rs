//! Cache policy on top of pingora-cache's RFC 9111 filters: the guards it leaves to us
//! (`Set-Cookie`, `Vary: *`), the configured default TTL, the cache key and the Vary key.

use std::sync::OnceLock;
use std::time::Duration;

use http::{header, Method, StatusCode};
use pingora_cache::cache_control::CacheControl;
use pingora_cache::filters::resp_cacheable;
use pingora_cache::key::HashBinary;
use pingora_cache::{CacheMeta, CacheMetaDefaults, NoCacheReason, RespCacheable, VarianceBuilder};
use pingora_http::{RequestHeader, ResponseHeader};

/// `cache.default_ttl`, set once at start-up: pingora's defaults take a plain `fn`, not a
/// closure, so the configured value has to live somewhere static.
static DEFAULT_TTL: OnceLock<Duration> = OnceLock::new();

/// Sets `cache.default_ttl` (first call wins; later calls are ignored).
pub fn set_default_ttl(ttl: Duration) {
    let _ = DEFAULT_TTL.set(ttl);
}

/// Heuristic freshness for responses with no explicit freshness: `default_ttl` for the
/// statuses RFC 9110 §15.1 calls heuristically cacheable.
fn default_fresh(status: StatusCode) -> Option<Duration> {
    let ttl = *DEFAULT_TTL.get()?;
    if ttl.is_zero() {
        return None;
    }
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
    .then_some(ttl)
}

const DEFAULTS: CacheMetaDefaults = CacheMetaDefaults::new(default_fresh, 0, 0);

/// Whether a request may use the cache at all (lookup and fill).
pub fn request_cacheable(req: &RequestHeader) -> bool {
    matches!(req.method, Method::GET | Method::HEAD)
}

/// Whether a request method invalidates the stored entry of its URI (RFC 9111 §4.4).
pub fn invalidates(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    )
}

/// The cache key: the request target (path and query), like nginx's default
/// `$scheme$proxy_host$request_uri` with one upstream group.
pub fn cache_key_bytes(req: &RequestHeader) -> &[u8] {
    req.uri
        .path_and_query()
        .map_or(b"/".as_slice(), |p| p.as_str().as_bytes())
}

/// Decides whether a response may be stored, and for how long.
pub fn response_cacheable(req: &RequestHeader, resp: &ResponseHeader) -> RespCacheable {
    // pingora-cache's filter does not look at these two.
    if resp.headers.contains_key(header::SET_COOKIE) {
        return RespCacheable::Uncacheable(NoCacheReason::Custom("set-cookie"));
    }
    if vary_is_star(resp) {
        return RespCacheable::Uncacheable(NoCacheReason::Custom("vary-star"));
    }
    // `no-store` settles it without pingora's regex-based directive parser, which cost about
    // 1 µs per pass-through request.
    if says_no_store(resp) {
        return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
    }
    let cc = CacheControl::from_resp_headers(resp);
    let authorized = req.headers.contains_key(header::AUTHORIZATION);
    resp_cacheable(cc.as_ref(), resp.clone(), authorized, &DEFAULTS)
}

fn says_no_store(resp: &ResponseHeader) -> bool {
    resp.headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-store"))
    })
}

fn vary_is_star(resp: &ResponseHeader) -> bool {
    resp.headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|name| name.trim() == "*")
}

/// The variance key for a stored response's `Vary`, from the request's values of those headers.
pub fn vary_key(meta: &CacheMeta, req: &RequestHeader) -> Option<HashBinary> {
    let mut names: Vec<String> = meta
        .headers()
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort_unstable();
    names.dedup();
    let mut key = VarianceBuilder::new();
    for name in &names {
        let value = req
            .headers
            .get(name.as_str())
            .map_or(&[][..], |v| v.as_bytes());
        key.add_value(name, value);
    }
    key.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(200, None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn get() -> RequestHeader {
        RequestHeader::build("GET", b"/x?y=1", None).unwrap()
    }

    fn cacheable(r: RespCacheable) -> bool {
        matches!(r, RespCacheable::Cacheable(_))
    }

    #[test]
    fn max_age_is_cacheable_and_no_store_is_not() {
        assert!(cacheable(response_cacheable(
            &get(),
            &resp(&[("cache-control", "max-age=30")])
        )));
        assert!(!cacheable(response_cacheable(
            &get(),
            &resp(&[("cache-control", "no-store")])
        )));
        assert!(!cacheable(response_cacheable(
            &get(),
            &resp(&[("cache-control", "private, max-age=30")])
        )));
    }

    #[test]
    fn no_store_anywhere_in_the_directives_is_not_stored() {
        let h = [("cache-control", "public, max-age=60, NO-STORE")];
        assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
        let h = [
            ("cache-control", "max-age=60"),
            ("cache-control", "no-store"),
        ];
        assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
        let h = [("cache-control", "max-age=60, x-no-store-ext")];
        assert!(cacheable(response_cacheable(&get(), &resp(&h))));
    }

    #[test]
    fn set_cookie_and_vary_star_are_not_stored() {
        let h = [("cache-control", "max-age=30"), ("set-cookie", "a=b")];
        assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
        let h = [("cache-control", "max-age=30"), ("vary", "accept, *")];
        assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
    }

    #[test]
    fn authorization_needs_explicit_permission() {
        let mut req = get();
        req.insert_header("authorization", "Bearer x").unwrap();
        assert!(!cacheable(response_cacheable(
            &req,
            &resp(&[("cache-control", "max-age=30")])
        )));
        assert!(cacheable(response_cacheable(
            &req,
            &resp(&[("cache-control", "public, max-age=30")])
        )));
        assert!(cacheable(response_cacheable(
            &req,
            &resp(&[("cache-control", "s-maxage=30")])
        )));
    }

    #[test]
    fn key_is_the_request_target() {
        assert_eq!(cache_key_bytes(&get()), b"/x?y=1");
    }

    #[test]
    fn only_unsafe_methods_invalidate() {
        assert!(invalidates(&Method::POST));
        assert!(invalidates(&Method::DELETE));
        assert!(!invalidates(&Method::GET));
        assert!(!invalidates(&Method::OPTIONS));
    }
}
