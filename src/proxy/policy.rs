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

/// The request's authority as sent: the absolute-form target's, else the `Host` field
/// (framing checks, run before any lookup, make sure the two agree when both are present).
pub fn request_authority(req: &RequestHeader) -> &str {
    if let Some(a) = req.uri.authority() {
        return a.as_str();
    }
    req.headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

/// An authority as the cache key and `server_names` compare it: lower-cased, userinfo
/// dropped, the scheme's default port (or an empty port) removed.
pub fn normalise_authority(scheme: &str, authority: &str) -> String {
    authority_part(scheme, authority).to_ascii_lowercase()
}

/// [`normalise_authority`] before lower-casing: a slice of `authority`.
fn authority_part<'a>(scheme: &str, authority: &'a str) -> &'a str {
    // Userinfo ends at the last '@' (ASCII, so the byte after it starts a character).
    let start = memchr::memrchr(b'@', authority.as_bytes()).map_or(0, |i| i + 1);
    let a = authority[start..].trim();
    let default = if scheme == "https" { ":443" } else { ":80" };
    // Compared as bytes: the end of `a` may be inside a multi-byte character; when the ASCII
    // suffix matches, its start is a character boundary.
    let cut = a.len().saturating_sub(default.len());
    if a.len() >= default.len() && a.as_bytes()[cut..].eq_ignore_ascii_case(default.as_bytes()) {
        &a[..cut]
    } else {
        a.strip_suffix(':').unwrap_or(a)
    }
}

/// The host part of a normalised authority (no port, IPv6 brackets kept).
pub fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// The cache key for a request: `scheme://authority` + path and query, the authority
/// normalised by [`normalise_authority`] and the target's percent-escapes upper-cased
/// (RFC 3986 §6.2.2.1; nothing else is rewritten, as the origin sees the target as sent).
/// A `/` in `authority` is escaped, so the key's target part always starts at its first `/`
/// after `://` and different (authority, target) pairs never share a key.
pub fn cache_key_for(scheme: &str, authority: &str, target: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(scheme.len() + authority.len() + target.len() + 8);
    key_bytes(scheme, authority, target, |b| key.extend_from_slice(b));
    key
}

/// Hands the bytes of [`cache_key_for`]'s key to `out` in order, without building it.
fn key_bytes(scheme: &str, authority: &str, target: &str, mut out: impl FnMut(&[u8])) {
    let auth = authority_part(scheme, authority);
    let target = if target.is_empty() { "/" } else { target };
    out(scheme.as_bytes());
    out(b"://");
    // Lower-cased through a small buffer, handed over in pieces rather than byte by byte.
    let mut buf = [0u8; 64];
    let mut n = 0;
    for b in auth.bytes() {
        let piece: &[u8] = match b {
            b'/' => b"%2F",
            b'%' => b"%25",
            _ => {
                buf[n] = b.to_ascii_lowercase();
                n += 1;
                if n == buf.len() {
                    out(&buf);
                    n = 0;
                }
                continue;
            }
        };
        out(&buf[..n]);
        n = 0;
        out(piece);
    }
    out(&buf[..n]);
    if !target.starts_with('/') {
        out(b"/");
    }
    let t = target.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'%'
            && i + 2 < t.len()
            && t[i + 1].is_ascii_hexdigit()
            && t[i + 2].is_ascii_hexdigit()
        {
            out(&t[run..=i]);
            out(&[t[i + 1].to_ascii_uppercase(), t[i + 2].to_ascii_uppercase()]);
            i += 3;
            run = i;
        } else {
            i += 1;
        }
    }
    out(&t[run..]);
}

/// A cheap 64-bit hash of a cache key (not the store's key hash): what the edge's "may be
/// stored" filter and the uncacheable predictor index by. Equal to
/// [`key_hash_of`]`(&cache_key_for(scheme, authority, target))`, computed without building
/// the key in the common case (an authority of plain characters, a target without `%`).
pub fn key_hash(scheme: &str, authority: &str, target: &str) -> u64 {
    let auth = authority_part(scheme, authority).as_bytes();
    let mut buf = [0u8; 128];
    let plain = auth.len() <= buf.len()
        && target.starts_with('/')
        && memchr::memchr(b'%', target.as_bytes()).is_none()
        && memchr::memchr2(b'/', b'%', auth).is_none();
    if !plain {
        return key_hash_of(&cache_key_for(scheme, authority, target));
    }
    for (d, s) in buf.iter_mut().zip(auth) {
        *d = s.to_ascii_lowercase();
    }
    hash_parts(scheme.as_bytes(), &buf[..auth.len()], target.as_bytes())
}

/// [`key_hash`] of key bytes made by [`cache_key_for`]: the same three parts, read back
/// (the authority's `/` is escaped, so its end is the first `/` after `://`).
pub fn key_hash_of(key: &[u8]) -> u64 {
    let Some(sep) = key.windows(3).position(|w| w == b"://") else {
        return hash_parts(b"", b"", key);
    };
    let rest = &key[sep + 3..];
    let (auth, target) = rest.split_at(memchr::memchr(b'/', rest).unwrap_or(rest.len()));
    hash_parts(&key[..sep], auth, target)
}

fn hash_parts(scheme: &[u8], authority: &[u8], target: &[u8]) -> u64 {
    // Seeded per process: a client cannot aim one URL's hash at another's slot in the
    // uncacheable table (which would make that URL skip the cache for a while).
    static SEED: std::sync::LazyLock<u64> = std::sync::LazyLock::new(rand::random);
    let h = mix_bytes(*SEED, scheme);
    let h = mix_bytes(h ^ 0x13, authority);
    mix_bytes(h ^ 0x31, target)
}

/// A multiply-rotate hash over 8-byte words (FxHash's step), seeded by the caller: fast, and
/// good enough to spread keys over the filter and the table.
fn mix_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    (h.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(K)
}

/// The cache key of `req` received over `scheme` ([`cache_key_for`] of its authority and
/// path and query). Lookup and invalidation both use it, so they always agree.
pub fn cache_key_bytes(req: &RequestHeader, scheme: &str) -> Vec<u8> {
    let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
    cache_key_for(scheme, request_authority(req), target)
}

/// The path-and-query part of a key made by [`cache_key_for`] (a key without `://` is
/// taken to be a bare target).
pub fn target_of_key(key: &[u8]) -> &[u8] {
    let Some(at) = key.windows(3).position(|w| w == b"://") else {
        return key;
    };
    let rest = &key[at + 3..];
    rest.iter()
        .position(|&b| b == b'/')
        .map_or(b"/", |i| &rest[i..])
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
mod tests;
