//! Cache policy on top of pingora-cache: whether a response may be stored and for how long
//! (RFC 9111 §3, §4.2, RFC 9213 targeted fields, RFC 5861 serve-stale windows), the guards
//! pingora leaves to us (`Set-Cookie`, `Vary: *`, partial content), the configured heuristic
//! TTL, the cache key and the Vary key.
//!
//! pingora-cache's `resp_cacheable` computes freshness as `now + max-age` and `Expires` as an
//! absolute deadline: it ignores `Age`, the apparent age from `Date`, and `Expires − Date`. The
//! meta built here carries the RFC 9111 §4.2.3 age instead (see [`super::freshness`]).

use std::sync::OnceLock;
use std::time::Duration;

use http::{header, Method, StatusCode};
use pingora_cache::key::HashBinary;
use pingora_cache::{CacheMeta, NoCacheReason, RespCacheable, VarianceBuilder};
use pingora_http::{RequestHeader, ResponseHeader};

use super::directives;
use super::freshness::{self, Arrival};

/// `cache.default_ttl`, set once at start-up.
static DEFAULT_TTL: OnceLock<Duration> = OnceLock::new();

/// Sets `cache.default_ttl` (first call wins; later calls are ignored).
pub fn set_default_ttl(ttl: Duration) {
    let _ = DEFAULT_TTL.set(ttl);
}

/// Heuristic freshness (RFC 9111 §4.2.2) for responses with no explicit freshness:
/// `default_ttl` for the statuses RFC 9110 §15.1 calls heuristically cacheable (206 excepted:
/// sightline stores only complete responses), or any status when the response is `public`.
fn heuristic(status: StatusCode, public: bool) -> Option<Duration> {
    let ttl = *DEFAULT_TTL.get()?;
    if ttl.is_zero() {
        return None;
    }
    (public
        || matches!(
            status.as_u16(),
            200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
        ))
    .then_some(ttl)
}

/// Whether a request may use the cache at all (lookup and fill).
pub fn request_cacheable(req: &RequestHeader) -> bool {
    matches!(req.method, Method::GET | Method::HEAD)
}

/// The cache key: the request target (path and query), like nginx's default
/// `$scheme$proxy_host$request_uri` with one upstream group.
pub fn cache_key_bytes(req: &RequestHeader) -> &[u8] {
    req.uri
        .path_and_query()
        .map_or(b"/".as_slice(), |p| p.as_str().as_bytes())
}

/// Decides whether a response received just now may be stored, and for how long.
pub fn response_cacheable(req: &RequestHeader, resp: &ResponseHeader) -> RespCacheable {
    response_cacheable_at(req, resp, Arrival::now())
}

/// Decides whether a response that arrived at `arrival` may be stored, and builds its meta:
/// freshness from the selected directives, age from `Age` and `Date` (RFC 9111 §4.2.3), the
/// serve-stale windows, and the stored header (without `Age`, which hits regenerate, and
/// without the fields a qualified `private` / `no-cache` names).
pub fn response_cacheable_at(
    req: &RequestHeader,
    resp: &ResponseHeader,
    arrival: Arrival,
) -> RespCacheable {
    use RespCacheable::Uncacheable;
    if resp.status == StatusCode::PARTIAL_CONTENT {
        // Stored as the full body it would answer later full requests with a fragment.
        return Uncacheable(NoCacheReason::Custom("partial-content"));
    }
    if resp.headers.contains_key(header::SET_COOKIE) {
        return Uncacheable(NoCacheReason::Custom("set-cookie"));
    }
    if vary_is_star(resp) {
        return Uncacheable(NoCacheReason::Custom("vary-star"));
    }
    // RFC 9111 §5.2.1.5: a request's `no-store` forbids storing the response to it.
    if req.headers.contains_key(header::CACHE_CONTROL)
        && directives::has_no_store(req.headers.get_all(header::CACHE_CONTROL))
    {
        return Uncacheable(NoCacheReason::Custom("request-no-store"));
    }
    let (d, source) = directives::for_response(&resp.headers);
    if d.no_store || d.private {
        return Uncacheable(NoCacheReason::OriginNotCache);
    }
    if req.headers.contains_key(header::AUTHORIZATION) && !d.allows_authorized() {
        return Uncacheable(NoCacheReason::Custom("authorization"));
    }
    let date = freshness::date_value(&resp.headers);
    let lifetime = match freshness::explicit_lifetime(&d, source, &resp.headers, date, arrival)
        .or_else(|| heuristic(resp.status, d.public))
    {
        Some(l) => l,
        // `no-cache` alone: store, revalidate before every use.
        None if d.no_cache => Duration::ZERO,
        None => return Uncacheable(NoCacheReason::OriginNotCache),
    };
    let age = freshness::corrected_initial_age(freshness::age_value(&resp.headers), date, arrival);
    let f = freshness::freshness(&d, lifetime, age, arrival);
    let mut stored = resp.clone();
    stored.remove_header(&header::AGE);
    for name in &d.strip_fields {
        stored.remove_header(name);
    }
    let mut meta = CacheMeta::new(
        f.fresh_until,
        arrival.at,
        f.stale_while_revalidate,
        f.stale_if_error,
        stored,
    );
    meta.set_epoch_override(f.epoch);
    RespCacheable::Cacheable(meta)
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
    fn partial_content_and_requests_with_no_store_are_not_stored() {
        let mut r = resp(&[
            ("cache-control", "max-age=60"),
            ("content-range", "bytes 0-1/9"),
        ]);
        r.set_status(206).unwrap();
        assert!(!cacheable(response_cacheable(&get(), &r)));
        let mut req = get();
        req.insert_header("cache-control", "no-store").unwrap();
        let h = [("cache-control", "max-age=60")];
        assert!(!cacheable(response_cacheable(&req, &resp(&h))));
    }

    #[test]
    fn the_meta_carries_the_received_age_and_drops_the_age_header() {
        let h = [("cache-control", "max-age=60"), ("age", "30")];
        let RespCacheable::Cacheable(meta) = response_cacheable(&get(), &resp(&h)) else {
            panic!("max-age=60 is cacheable");
        };
        assert_eq!(meta.age().as_secs(), 30);
        assert!(meta.headers().get("age").is_none());
        assert_eq!(meta.fresh_until(), meta.epoch() + Duration::from_secs(60));
    }

    #[test]
    fn qualified_private_fields_are_not_stored() {
        let h = [
            ("cache-control", "max-age=60, private=\"x-user\""),
            ("x-user", "alice"),
            ("x-other", "kept"),
        ];
        let RespCacheable::Cacheable(meta) = response_cacheable(&get(), &resp(&h)) else {
            panic!("a qualified private is cacheable");
        };
        assert!(meta.headers().get("x-user").is_none());
        assert_eq!(meta.headers()["x-other"], "kept");
    }

    #[test]
    fn key_is_the_request_target() {
        assert_eq!(cache_key_bytes(&get()), b"/x?y=1");
    }
}
