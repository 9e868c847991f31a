//! The cache's shared parts (store, lock, predictor) and what the cache did for a request,
//! read from pingora's cache phase for `Cache-Status` and telemetry.

use std::time::{Duration, SystemTime};

use http::HeaderValue;
use pingora_cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora_cache::predictor::Predictor;
use pingora_cache::CachePhase;
use pingora_proxy::Session;

use super::ctx::{CacheTrail, RequestCtx};
use super::headers::cache_status;
use super::store;
use crate::telemetry::CacheOutcome;

/// The shared cache machinery: pingora-cache needs `'static` references, so these are leaked
/// once at start-up and live for the process.
pub struct CacheParts {
    /// The response store.
    pub store: &'static store::MokaStore,
    pub(super) lock: &'static CacheKeyLockImpl,
    pub(super) predictor: &'static Predictor<32>,
    /// URLs lately answered uncacheable: their requests skip pingora-cache (see `predict`).
    pub(super) uncacheable: &'static super::predict::RecentlyUncacheable,
    pub(super) max_object_size: usize,
}

impl CacheParts {
    /// Builds (and leaks) the store, the cache lock and the uncacheable-URL predictor.
    pub fn new(max_size: u64, max_object_size: u64) -> Self {
        CacheParts {
            store: Box::leak(Box::new(store::MokaStore::new(max_size))),
            // Waiters give up after 3 s and go upstream themselves.
            lock: Box::leak(CacheLock::new_boxed(Duration::from_secs(3))),
            // Remembers uncacheable URLs so they skip the lookup and the lock next time.
            predictor: Box::leak(Box::new(Predictor::new(1024, Some(request_specific)))),
            uncacheable: Box::leak(Box::default()),
            max_object_size: max_object_size.min(usize::MAX as u64) as usize,
        }
    }

    /// Another handle on the same leaked store, lock and predictor.
    pub fn clone_handles(&self) -> CacheParts {
        CacheParts {
            store: self.store,
            lock: self.lock,
            predictor: self.predictor,
            uncacheable: self.uncacheable,
            max_object_size: self.max_object_size,
        }
    }

    /// Purges a request target (a bare path covers its query strings and `Vary` variants);
    /// returns entries removed.
    pub fn purge_path(&self, target: &str) -> usize {
        self.store.purge_target(target)
    }
}

/// What the cache did, for `Cache-Status` and telemetry, read from pingora's cache phase.
pub(super) fn cache_status_of(session: &Session, ctx: &RequestCtx) -> (CacheOutcome, HeaderValue) {
    if ctx.cache_trail == CacheTrail::Bypass {
        // pingora's predictor skipped the lookup; when the response turned out storable it
        // turns the request into a miss that fills the cache, and RFC 9211 says `stored`.
        let value = if session.cache.phase() == CachePhase::Miss {
            cache_status::BYPASS_STORED
        } else {
            cache_status::BYPASS
        };
        return (CacheOutcome::Bypass, value);
    }
    let storing = session.cache.enabled();
    match session.cache.phase() {
        CachePhase::Hit => (CacheOutcome::Hit, cache_status::HIT),
        // Served stale while one background request refreshes the entry (RFC 5861 §3).
        CachePhase::StaleUpdating => (
            CacheOutcome::Hit,
            served_stale(session, "hit", "stale-while-revalidate"),
        ),
        // Still `Stale` once the response is written: the origin failed and the stored
        // response was served instead (RFC 5861 §4).
        CachePhase::Stale => {
            let fwd = match ctx.attempts.last().and_then(|a| a.status) {
                Some(code) => format!("fwd=stale; fwd-status={code}"),
                None => "fwd=stale".to_owned(),
            };
            (
                CacheOutcome::Stale,
                served_stale(session, &fwd, "stale-if-error"),
            )
        }
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => {
            (CacheOutcome::Stale, cache_status::STALE_REVALIDATED)
        }
        CachePhase::Expired => (
            CacheOutcome::Stale,
            if storing {
                cache_status::STALE_STORED
            } else {
                cache_status::STALE
            },
        ),
        CachePhase::Miss => (
            CacheOutcome::Miss,
            match (ctx.vary_mismatch, storing) {
                (true, true) => cache_status::MISS_STORED,
                (true, false) => cache_status::MISS,
                (false, true) => cache_status::URI_MISS_STORED,
                (false, false) => cache_status::URI_MISS,
            },
        ),
        // The lookup was skipped (predicted uncacheable) or the response turned out not storable.
        CachePhase::Bypass => (CacheOutcome::Bypass, cache_status::BYPASS),
        // A stale entry was found, and what came back was not storable.
        CachePhase::Disabled(_) if ctx.found_stale => (CacheOutcome::Stale, cache_status::STALE),
        CachePhase::Disabled(_) | CachePhase::Uninit | CachePhase::CacheKey => (
            CacheOutcome::Miss,
            if ctx.vary_mismatch {
                cache_status::MISS
            } else {
                cache_status::URI_MISS
            },
        ),
    }
}

/// `Cache-Status` for a stale response served from the cache, with its (negative) remaining
/// freshness as RFC 9211's `ttl` and why it was allowed as `detail`. Stale responses are rare,
/// so formatting one here costs fresh hits nothing.
fn served_stale(session: &Session, how: &str, why: &str) -> HeaderValue {
    let fresh_until = session.cache.cache_meta().fresh_until();
    let stale_for = SystemTime::now()
        .duration_since(fresh_until)
        .unwrap_or_default();
    let ttl = -(stale_for.as_secs_f64().ceil() as i64);
    HeaderValue::from_str(&format!("sightline; {how}; ttl={ttl}; detail={why}"))
        .expect("ASCII Cache-Status value")
}

/// Refusals that came from the request, not the origin: the predictor must not remember them,
/// or the next plain request for the URL would skip the cache (and say `fwd=bypass` for a
/// response that is in fact stored).
fn request_specific(reason: &'static str) -> bool {
    matches!(
        reason,
        "request-no-store" | "authorization" | "partial-content"
    )
}
