//! The response store behind pingora-cache: a moka cache bounded by bytes.
//!
//! pingora-cache does the HTTP caching (freshness, revalidation, Vary, cache lock); this module
//! only keeps bodies and the metadata needed to rebuild a `CacheMeta` cheaply. Entries keep the
//! parsed response header and timestamps (not the serialized, compressed form pingora's own
//! stores use), so a hit costs a header clone instead of a decompress and re-parse.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use pingora_cache::key::{CacheHashKey, HashBinary};
use pingora_cache::storage::{
    HitHandler, MissHandler, PurgeOutcome, PurgeTarget, PurgeType, Storage,
};
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheKey, CacheMeta};
use pingora_error::Result;
use pingora_http::ResponseHeader;

use super::policy;

mod handlers;
use handlers::{Hit, Miss};

/// Fixed per-entry overhead counted against `max_size` (key, Arc, moka node, meta fields).
const ENTRY_OVERHEAD: usize = 256;

/// What is kept of a `CacheMeta`: enough to rebuild it without parsing.
#[derive(Debug, Clone)]
struct StoredMeta {
    fresh_until: SystemTime,
    updated: SystemTime,
    stale_while_revalidate_sec: u32,
    stale_if_error_sec: u32,
    header: ResponseHeader,
    variance: Option<HashBinary>,
    epoch_override: Option<SystemTime>,
}

impl StoredMeta {
    fn from_meta(meta: &CacheMeta) -> Self {
        StoredMeta {
            fresh_until: meta.fresh_until(),
            updated: meta.updated(),
            stale_while_revalidate_sec: meta.stale_while_revalidate_sec(),
            stale_if_error_sec: meta.stale_if_error_sec(),
            header: meta.response_header().clone(),
            variance: meta.variance(),
            epoch_override: meta.epoch_override(),
        }
    }

    fn to_meta(&self) -> CacheMeta {
        // `created` is not kept: age is measured from `updated`, which revalidation refreshes.
        let mut meta = CacheMeta::new(
            self.fresh_until,
            self.updated,
            self.stale_while_revalidate_sec,
            self.stale_if_error_sec,
            self.header.clone(),
        );
        if let Some(v) = self.variance {
            meta.set_variance(v);
        }
        if let Some(e) = self.epoch_override {
            meta.set_epoch_override(e);
        }
        meta
    }

    fn header_bytes(&self) -> usize {
        self.header
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
            + 32
    }
}

/// One stored response.
#[derive(Debug)]
struct Entry {
    meta: StoredMeta,
    body: Bytes,
    /// The status line and fields as the edge writes them for a fresh hit (see
    /// [`super::stored::hit_head`]); None for a `Vary` variant, which only pingora serves.
    hit_head: Option<Bytes>,
    primary: HashBinary,
    /// Hash of the path without its query, so a purge of `/x` also finds `/x?y=1`.
    path: u64,
    /// Hash of the path and query, so a purge of `/x?y=1` finds it under every host.
    target: u64,
    stored_at: SystemTime,
    weight: u32,
}

/// The primary hash pingora-cache uses for the cache key bytes `key` ([`super::policy::cache_key_for`]).
pub fn primary_of(key: &[u8]) -> HashBinary {
    CacheKey::new(key, "").primary_bin()
}

/// A hash of the path part (before `?`) of a request target.
fn path_hash(target: &[u8]) -> u64 {
    let path = target.split(|&b| b == b'?').next().unwrap_or(target);
    target_hash(path)
}

/// A hash of a whole request target.
fn target_hash(target: &[u8]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(target)
}

fn weigh(meta: &StoredMeta, body_len: usize) -> u32 {
    // The hit head repeats the header's bytes.
    (2 * meta.header_bytes() + body_len + ENTRY_OVERHEAD).min(u32::MAX as usize) as u32
}

fn hit_head_of(meta: &StoredMeta) -> Option<Bytes> {
    meta.variance
        .is_none()
        .then(|| super::stored::hit_head(&meta.header))
}

/// A fresh stored response, ready for the edge to write without pingora (see
/// [`MokaStore::fresh_hit`]).
#[derive(Debug, Clone)]
pub struct FreshHit {
    /// Status line and stored fields, each line ending in CRLF (no blank line yet).
    pub head: Bytes,
    /// The stored body.
    pub body: Bytes,
    /// The current age in whole seconds (RFC 9111 §4.2.3), for `Age`.
    pub age_s: u64,
    /// The stored status code.
    pub status: u16,
}

/// The moka-backed [`Storage`] for pingora-cache.
pub struct MokaStore {
    entries: moka::sync::Cache<HashBinary, Arc<Entry>>,
    /// Primary keys invalidated by unsafe methods or purges, with the time; older entries of
    /// any variant are misses.
    invalidated: moka::sync::Cache<HashBinary, SystemTime>,
    any_invalidated: AtomicBool,
    held: Arc<AtomicU64>,
    max_size: u64,
    /// Key hashes ([`policy::key_hash`]) of everything ever stored since the last purge.
    stored: super::predict::MaybeStored,
}

impl std::fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaStore")
            .field("held", &self.held.load(Relaxed))
            .field("max_size", &self.max_size)
            .finish()
    }
}

impl MokaStore {
    /// A store holding at most `max_size` bytes (bodies + headers + per-entry overhead).
    pub fn new(max_size: u64) -> Self {
        let held = Arc::new(AtomicU64::new(0));
        let held_on_evict = held.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_size)
            .weigher(|_k: &HashBinary, v: &Arc<Entry>| v.weight)
            // LRU admits every new entry, so `Cache-Status: stored` is true when we say it;
            // TinyLFU would silently refuse one-hit objects once the cache is full.
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |_k, v: Arc<Entry>, _cause: RemovalCause| {
                held_on_evict.fetch_sub(v.weight as u64, Relaxed);
            })
            .build();
        MokaStore {
            entries,
            invalidated: moka::sync::Cache::builder().max_capacity(65_536).build(),
            any_invalidated: AtomicBool::new(false),
            held,
            max_size,
            stored: super::predict::MaybeStored::default(),
        }
    }

    /// Bytes held right now (exact: counted on insert and eviction).
    pub fn bytes_held(&self) -> u64 {
        self.held.load(Relaxed)
    }

    /// Entries held (applies moka's pending maintenance first so the count is current).
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// The configured bound.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    fn insert(&self, key: HashBinary, entry: Entry) {
        let weight = entry.weight as u64;
        if weight > self.max_size {
            return;
        }
        self.held.fetch_add(weight, Relaxed);
        self.entries.insert(key, Arc::new(entry));
        // moka applies its bound lazily; apply it now so `held` never stays above the bound.
        if self.held.load(Relaxed) > self.max_size {
            self.entries.run_pending_tasks();
        }
    }

    /// Makes every stored variant of `primary` a miss from now on.
    pub fn invalidate_primary(&self, primary: HashBinary) {
        self.invalidated.insert(primary, SystemTime::now());
        self.any_invalidated.store(true, Relaxed);
        self.entries.invalidate(&primary);
    }

    /// Drops every entry; returns how many there were.
    pub fn purge_all(&self) -> usize {
        let n = self.entry_count() as usize;
        self.entries.invalidate_all();
        self.entries.run_pending_tasks();
        self.stored.clear();
        n
    }

    /// Whether an entry for a key with this [`policy::key_hash`] may be stored (false:
    /// certainly not, so a lookup would miss).
    pub fn may_hold(&self, key_hash: u64) -> bool {
        self.stored.may_contain(key_hash)
    }

    /// Purges a request target under every host and scheme: with a query, that exact target;
    /// without one, the path with every query string. Every `Vary` variant goes too.
    /// Returns the entries removed.
    pub fn purge_target(&self, target: &str) -> usize {
        let exact = primary_of(target.as_bytes());
        let (path, whole) = (path_hash(target.as_bytes()), target_hash(target.as_bytes()));
        let with_query = target.contains('?');
        let primaries: std::collections::HashSet<HashBinary> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                if with_query {
                    e.target == whole
                } else {
                    e.path == path
                }
            })
            .map(|(_, e)| e.primary)
            .chain(std::iter::once(exact))
            .collect();
        let removed = self
            .entries
            .iter()
            .filter(|(_, e)| primaries.contains(&e.primary))
            .count();
        for p in primaries {
            self.invalidate_primary(p);
        }
        removed
    }

    /// The entry for cache key bytes `key` when it can be served as it is at `now`: stored
    /// without `Vary`, not invalidated, and fresh (the same test pingora-cache applies). Anything
    /// else — stale, variant, absent — is left to pingora's cache phases.
    pub fn fresh_hit(&self, key: &[u8], now: SystemTime) -> Option<FreshHit> {
        let entry = self.entries.get(&primary_of(key))?;
        let head = entry.hit_head.clone()?;
        if entry.meta.fresh_until < now || self.is_invalidated(&entry) {
            return None;
        }
        let epoch = entry.meta.epoch_override.unwrap_or(entry.meta.updated);
        Some(FreshHit {
            head,
            body: entry.body.clone(),
            age_s: now.duration_since(epoch).unwrap_or_default().as_secs(),
            status: entry.meta.header.status.as_u16(),
        })
    }

    fn is_invalidated(&self, entry: &Entry) -> bool {
        self.any_invalidated.load(Relaxed)
            && self
                .invalidated
                .get(&entry.primary)
                .is_some_and(|at| entry.stored_at <= at)
    }
}

#[async_trait]
impl Storage for MokaStore {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Some(entry) = self.entries.get(&key.combined_bin()) else {
            return Ok(None);
        };
        if self.is_invalidated(&entry) {
            return Ok(None);
        }
        let hit = Hit {
            body: entry.body.clone(),
            done: false,
            range: (0, entry.body.len()),
        };
        Ok(Some((entry.meta.to_meta(), Box::new(hit))))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        self.stored.insert(policy::key_hash_of(key.primary_key()));
        Ok(Box::new(Miss {
            store: self,
            key: key.combined_bin(),
            primary: key.primary_bin(),
            path: path_hash(policy::target_of_key(key.primary_key())),
            target: target_hash(policy::target_of_key(key.primary_key())),
            meta: StoredMeta::from_meta(meta),
            chunks: Vec::new(),
            size: 0,
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let hash = target.key().combined_bin();
        Ok(match self.entries.remove(&hash) {
            Some(_) => PurgeOutcome::Purged(None),
            None => PurgeOutcome::NotFound,
        })
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let hash = key.combined_bin();
        let Some(old) = self.entries.get(&hash) else {
            return Ok(false);
        };
        let meta = StoredMeta::from_meta(meta);
        let weight = weigh(&meta, old.body.len());
        let hit_head = hit_head_of(&meta);
        self.insert(
            hash,
            Entry {
                meta,
                body: old.body.clone(),
                hit_head,
                primary: old.primary,
                path: old.path,
                target: old.target,
                stored_at: old.stored_at,
                weight,
            },
        );
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

#[cfg(test)]
mod tests;
