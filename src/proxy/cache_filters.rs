//! sightline's cache work in pingora's response phases, where pingora-cache leaves RFC 9111
//! undone: hop-by-hop removal before storing, invalidation after unsafe requests, the full 304
//! header update, the freshness computation, the serve-stale decision, and the headers a
//! client must (not) see on responses the cache produced.
//!
//! What a fast path for fresh hits must reproduce, should one bypass pingora's hit path: the
//! stored header as is (hop-by-hop fields and `Age` were removed before storing), `Age =
//! floor(now − epoch)` with the stored epoch override (not `now − stored_at`), the targeted
//! fields (`Sightline-Cache-Control`, `CDN-Cache-Control`) removed, `Cache-Status:
//! sightline; hit`, `Via`, and pingora's conditional (304) and `Range` (206/416) handling.
//! `Date` is rewritten to the send time by pingora-core on every response (h1 and h2 servers
//! alike), so a hit cannot carry the stored `Date`; `Age` carries the whole age instead.

use std::time::{Duration, Instant, SystemTime};

use http::header::AGE;
use http::StatusCode;
use pingora_cache::key::CacheHashKey;
use pingora_cache::{CacheKey, CacheOptionOverrides, CachePhase, NoCacheReason, RespCacheable};
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::ctx::{CacheTrail, RequestCtx};
use super::directives::{CDN_CACHE_CONTROL, SIGHTLINE_CACHE_CONTROL};
use super::freshness::Arrival;
use super::{headers, invalidate, policy, store, stored, CacheParts};
/// `request_cache_filter`: enables pingora-cache for a cacheable request, unless its URL was
/// answered uncacheable moments ago.
pub(super) fn enable(
    cache: Option<&CacheParts>,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora_error::Result<()> {
    let Some(cache) = cache else {
        return Ok(());
    };
    if !policy::request_cacheable(session.req_header()) {
        return Ok(());
    }
    let req = session.req_header();
    let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let hash = policy::key_hash(
        headers::scheme_of(session),
        policy::request_authority(req),
        target,
    );
    ctx.key_hash = Some(hash);
    if cache.uncacheable.is_uncacheable(hash) {
        // Answered uncacheable moments ago: no key, lookup, lock or freshness work.
        return Ok(());
    }
    // A HEAD miss never writes a body, so as a lock holder it would leave GETs waiting for
    // a fill that never comes: HEADs look up without taking the lock.
    let is_head = session.req_header().method == http::Method::HEAD;
    let lock = (!is_head).then_some(cache.lock);
    let mut overrides = CacheOptionOverrides::default();
    overrides.wait_timeout = Some(Duration::from_secs(3));
    session.cache.enable(
        cache.store,
        None,
        Some(cache.predictor),
        lock,
        Some(overrides),
    );
    session.cache.set_max_file_size_bytes(cache.max_object_size);
    Ok(())
}

/// `cache_key_callback`: the cache key (scheme, authority, target), its primary hash computed once.
pub(super) fn key(session: &Session, ctx: &mut RequestCtx) -> pingora_error::Result<CacheKey> {
    ctx.cache_trail = CacheTrail::LookedUp;
    let now = Instant::now();
    ctx.cache_lookup = Some((now, now));
    let scheme = headers::scheme_of(session);
    let mut key = CacheKey::new(policy::cache_key_bytes(session.req_header(), scheme), "");
    // pingora asks for the primary hash several times per request (predictor, lookup,
    // lock); hash once.
    let primary = key.primary_bin();
    key.set_primary_bin_override(primary);
    Ok(key)
}

/// `upstream_response_filter`: runs on every upstream response header before pingora caches
/// or forwards it (on a revalidation's 304 too).
pub(super) fn upstream_response(
    cache: Option<&CacheParts>,
    session: &Session,
    resp: &mut ResponseHeader,
    ctx: &mut RequestCtx,
) {
    if resp.status.is_informational() && resp.status != StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    ctx.targeted = stored::strip_hop_by_hop(resp);
    stored::ensure_date(resp);
    let Some(cache) = cache else {
        return;
    };
    let req = session.req_header();
    if invalidate::invalidates(&req.method, resp.status) {
        let scheme = headers::scheme_of(session);
        for target in invalidate::targets(req, resp, scheme) {
            let key = policy::cache_key_bytes(&target, scheme);
            cache.store.invalidate_primary(store::primary_of(&key));
        }
    }
    if resp.status == StatusCode::NOT_MODIFIED && session.cache.phase() == CachePhase::Stale {
        ctx.not_modified = Some(Box::new(resp.clone()));
    }
}

/// `response_cache_filter`: whether and how long to store. On a revalidation pingora passes
/// its own merge of the 304 into the stored header, which drops most of the 304's fields;
/// sightline applies the whole 304 (RFC 9111 §3.2) so the updated entry is what is stored.
pub(super) fn response_cacheable(
    cache: Option<&CacheParts>,
    session: &Session,
    resp: &ResponseHeader,
    ctx: &RequestCtx,
) -> RespCacheable {
    let verdict = storable(session, resp, ctx);
    if let (Some(cache), Some(hash)) = (cache, ctx.key_hash) {
        match &verdict {
            // The origin's own say (not this request's): later requests can skip the cache.
            RespCacheable::Uncacheable(
                NoCacheReason::OriginNotCache | NoCacheReason::Custom("set-cookie" | "vary-star"),
            ) if session.req_header().method == http::Method::GET => {
                cache.uncacheable.mark(hash);
            }
            RespCacheable::Cacheable(_) => cache.uncacheable.unmark(hash),
            RespCacheable::Uncacheable(_) => {}
        }
    }
    verdict
}

fn storable(session: &Session, resp: &ResponseHeader, ctx: &RequestCtx) -> RespCacheable {
    let now = Instant::now();
    let delay = ctx
        .attempts
        .last()
        .map(|a| a.end.unwrap_or(now).saturating_duration_since(a.start))
        .unwrap_or_default();
    let arrival = Arrival {
        at: SystemTime::now(),
        delay,
    };
    let req = session.req_header();
    match ctx.not_modified.as_deref() {
        Some(not_modified) => {
            let mut merged = resp.clone();
            stored::apply_304(&mut merged, not_modified);
            policy::response_cacheable_at(req, &merged, arrival)
        }
        None => policy::response_cacheable_at(req, resp, arrival),
    }
}

/// `response_filter`, cache part: what the client sees of a response the cache touched.
pub(super) fn downstream(session: &mut Session, resp: &mut ResponseHeader, ctx: &RequestCtx) {
    if ctx.cache_trail != CacheTrail::LookedUp {
        // Straight from the upstream: `upstream_response` saw whether it has targeted fields.
        if ctx.targeted {
            strip_targeted(resp);
        }
        return;
    }
    // From the cache, or stored on its way: stored headers keep their targeted fields.
    strip_targeted(resp);
    match session.cache.phase() {
        CachePhase::Revalidated => {
            // pingora writes no Age after a revalidation; the entry's age restarted at the 304's.
            let age = session.cache.cache_meta().age().as_secs();
            let _ = resp.insert_header(AGE, age);
        }
        CachePhase::RevalidatedNoCache(_) => {
            // pingora serves its partial merge here; the client gets the whole 304's update.
            if let Some(not_modified) = ctx.not_modified.as_deref() {
                stored::apply_304(resp, not_modified);
                strip_targeted(resp);
            }
            resp.remove_header(&AGE);
        }
        CachePhase::Stale if ctx.attempts.last().is_some_and(|a| a.status.is_none()) => {
            // Served stale because the origin could not be reached: pingora then closes the
            // client connection after the response (its proxy loop keeps the failed attempt's
            // "not reusable"), yet would announce keep-alive, and a client reusing the
            // connection meets a reset. Say `Connection: close` instead.
            session.set_keepalive(None);
        }
        CachePhase::Miss | CachePhase::Expired => {
            // pingora-core replaces the origin's Date with the send time, so a stored
            // response forwarded now says its age in Age (RFC 9111 §4.2.3's current age).
            if let Some(meta) = session.cache.maybe_cache_meta() {
                let age = meta.age().as_secs();
                if age > 0 {
                    let _ = resp.insert_header(AGE, age);
                }
            }
        }
        _ => {}
    }
}

/// Targeted fields are for this cache (RFC 9213), cacheable or not: never forwarded. (A lookup
/// first: they are rare, and pingora's remove also updates its header-case map.)
fn strip_targeted(resp: &mut ResponseHeader) {
    for name in [&SIGHTLINE_CACHE_CONTROL, &CDN_CACHE_CONTROL] {
        if resp.headers.contains_key(name) {
            resp.remove_header(name);
        }
    }
}

/// `should_serve_stale`. pingora asks only when the entry's window is open; the window is 0
/// when the stored directives forbid serving stale (RFC 9111 §4.2.4), so:
/// - during revalidation (`error` is `None`): always, the background refresh runs meanwhile
///   (pingora's default refuses, which makes `stale-while-revalidate` a no-op);
/// - on an error: when the origin failed (RFC 5861 §4: 500, 502, 503, 504, a connect failure
///   or timeout, or no healthy upstream left).
pub(super) fn should_serve_stale(ctx: &mut RequestCtx, error: Option<&Error>) -> bool {
    let Some(e) = error else {
        return true;
    };
    let from_origin = *e.esource() == ErrorSource::Upstream || ctx.no_upstream;
    match e.etype() {
        ErrorType::HTTPStatus(code) => {
            if *e.esource() == ErrorSource::Upstream {
                // The upstream's status header arrived: the attempt is over.
                ctx.end_attempt(Some(*code), false);
            }
            from_origin && matches!(code, 500 | 502 | 503 | 504)
        }
        _ => from_origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(etype: ErrorType) -> Box<Error> {
        Error::create(etype, ErrorSource::Upstream, None, None)
    }

    #[test]
    fn stale_is_served_while_revalidating_and_on_origin_failures_only() {
        let mut ctx = RequestCtx::new();
        assert!(should_serve_stale(&mut ctx, None));
        for code in [500, 502, 503, 504] {
            let e = upstream(ErrorType::HTTPStatus(code));
            assert!(should_serve_stale(&mut ctx, Some(&e)), "{code}");
        }
        for code in [501, 505, 507] {
            let e = upstream(ErrorType::HTTPStatus(code));
            assert!(!should_serve_stale(&mut ctx, Some(&e)), "{code}");
        }
        for etype in [ErrorType::ConnectRefused, ErrorType::ReadTimedout] {
            assert!(should_serve_stale(&mut ctx, Some(&upstream(etype))));
        }
        let client_gone = Error::create(ErrorType::ReadError, ErrorSource::Downstream, None, None);
        assert!(!should_serve_stale(&mut ctx, Some(&client_gone)));
        // sightline's own "no healthy upstream" 502.
        let none_left = Error::explain(ErrorType::HTTPStatus(502), "no healthy upstream");
        assert!(!should_serve_stale(&mut ctx, Some(&none_left)));
        ctx.no_upstream = true;
        assert!(should_serve_stale(&mut ctx, Some(&none_left)));
    }
}
