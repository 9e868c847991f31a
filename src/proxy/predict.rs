//! Cheap per-URL knowledge kept beside the cache, indexed by [`super::policy::key_hash`], so
//! requests the cache cannot help skip it at the cost of one hash and one atomic load:
//!
//! - [`MaybeStored`]: a bit per hash slot, set when an entry is stored. The edge's hit path
//!   looks up the store only for keys whose bit is set (no false negatives; a false positive
//!   costs one lookup).
//! - [`RecentlyUncacheable`]: URLs whose last response the origin made uncacheable (`no-store`,
//!   `private`, no freshness, `Set-Cookie`, `Vary: *`). For `RECHECK` after such a response,
//!   requests for the URL bypass pingora-cache entirely (no key, no lookup, no lock, no
//!   freshness); then one request takes the whole cache path again, so a URL that became
//!   cacheable is cached within that time. pingora-cache's own predictor still computes the key
//!   and runs the cache phases for a bypassed request; this is what the pass-through path saves.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Bits in the stored-key filter.
const FILTER_BITS: usize = 1 << 16;
/// Slots in the uncacheable table.
const SLOTS: usize = 1 << 12;
/// How long an uncacheable answer is trusted before the cache path runs again.
pub const RECHECK: Duration = Duration::from_secs(10);

/// Which key hashes may have a stored entry.
#[derive(Debug)]
pub struct MaybeStored {
    words: Box<[AtomicU64]>,
}

impl Default for MaybeStored {
    fn default() -> Self {
        MaybeStored {
            words: (0..FILTER_BITS / 64).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl MaybeStored {
    fn at(hash: u64) -> (usize, u64) {
        let bit = (hash >> 48) as usize % FILTER_BITS;
        (bit / 64, 1 << (bit % 64))
    }

    /// Notes that a key with this hash is (or was) stored.
    pub fn insert(&self, hash: u64) {
        let (w, mask) = Self::at(hash);
        if self.words[w].load(Relaxed) & mask == 0 {
            self.words[w].fetch_or(mask, Relaxed);
        }
    }

    /// Whether a key with this hash may be stored (false: certainly not).
    pub fn may_contain(&self, hash: u64) -> bool {
        let (w, mask) = Self::at(hash);
        self.words[w].load(Relaxed) & mask != 0
    }

    /// Forgets every key (after the whole store was purged).
    pub fn clear(&self) {
        for w in self.words.iter() {
            w.store(0, Relaxed);
        }
    }
}

/// URLs recently answered uncacheable, with when.
#[derive(Debug)]
pub struct RecentlyUncacheable {
    /// Per slot: the hash's top 40 bits, then the mark time in seconds since `epoch` (24 bits).
    slots: Box<[AtomicU64]>,
    epoch: Instant,
    recheck_s: u64,
}

impl Default for RecentlyUncacheable {
    fn default() -> Self {
        RecentlyUncacheable::new(RECHECK)
    }
}

const TIME_BITS: u32 = 24;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

impl RecentlyUncacheable {
    /// A table trusting each mark for `recheck`.
    pub fn new(recheck: Duration) -> Self {
        RecentlyUncacheable {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
            recheck_s: recheck.as_secs().max(1),
        }
    }

    /// Seconds since the table's epoch, plus one so a stored 0 means "never marked".
    fn now_s(&self) -> u64 {
        (self.epoch.elapsed().as_secs() + 1) & TIME_MASK
    }

    fn slot(hash: u64) -> (usize, u64) {
        ((hash as usize) % SLOTS, hash >> TIME_BITS)
    }

    /// Notes that the URL with this key hash was just answered uncacheable.
    pub fn mark(&self, hash: u64) {
        self.mark_at(hash, self.now_s());
    }

    fn mark_at(&self, hash: u64, now_s: u64) {
        let (i, tag) = Self::slot(hash);
        self.slots[i].store(tag << TIME_BITS | now_s, Relaxed);
    }

    /// Forgets a mark (the URL's response turned out cacheable).
    pub fn unmark(&self, hash: u64) {
        let (i, tag) = Self::slot(hash);
        let v = self.slots[i].load(Relaxed);
        if v >> TIME_BITS == tag {
            let _ = self.slots[i].compare_exchange(v, 0, Relaxed, Relaxed);
        }
    }

    /// Whether the URL was answered uncacheable less than the recheck time ago.
    pub fn is_uncacheable(&self, hash: u64) -> bool {
        self.is_uncacheable_at(hash, self.now_s())
    }

    fn is_uncacheable_at(&self, hash: u64, now_s: u64) -> bool {
        let (i, tag) = Self::slot(hash);
        let v = self.slots[i].load(Relaxed);
        let marked = v & TIME_MASK;
        marked != 0
            && v >> TIME_BITS == tag
            && now_s.wrapping_sub(marked) & TIME_MASK < self.recheck_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_has_no_false_negatives() {
        let f = MaybeStored::default();
        let hashes: Vec<u64> = (0..5_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for &h in &hashes {
            f.insert(h);
        }
        assert!(hashes.iter().all(|&h| f.may_contain(h)));
        f.clear();
        assert!(!f.may_contain(hashes[0]));
    }

    #[test]
    fn marks_hold_for_the_recheck_time_and_name_their_url() {
        let t = RecentlyUncacheable::new(Duration::from_secs(10));
        let (a, b) = (0xdead_beef_0000_0001u64, 0x1234_5678_0000_0001u64);
        assert!(!t.is_uncacheable(a));
        t.mark(a);
        assert!(t.is_uncacheable(a));
        // Same slot, other URL: not taken for the marked one.
        assert!(!t.is_uncacheable(b));
        t.unmark(b);
        assert!(t.is_uncacheable(a));
        t.unmark(a);
        assert!(!t.is_uncacheable(a));
    }

    #[test]
    fn a_mark_expires() {
        let t = RecentlyUncacheable::new(Duration::from_secs(10));
        let h = 42 << 30;
        t.mark_at(h, 100);
        assert!(t.is_uncacheable_at(h, 100));
        assert!(t.is_uncacheable_at(h, 109));
        assert!(!t.is_uncacheable_at(h, 110));
    }
}
