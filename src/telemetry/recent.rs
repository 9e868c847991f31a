//! The last requests and the slowest ones: fixed-size, allocation-free on the request path.
//!
//! Both use a small `std::sync::Mutex` per slot, held only to copy one ~200-byte entry in or out.
//! Why not a seqlock: its payload would have to be split into atomic words to stay sound without
//! `unsafe`; per-slot locks are simpler and, since consecutive requests take different slots,
//! uncontended unless a writer laps the ring or the admin API copies that very slot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use super::record::{CacheOutcome, RequestRecord};

/// How many recent requests are kept.
pub const RECENT_CAPACITY: usize = 200;
/// Candidate slots for the slowest requests of each sampling period.
pub const SLOW_SLOTS: usize = 16;

/// A string copied into a fixed buffer, cut at a char boundary when too long.
#[derive(Clone, Copy)]
struct InlineStr<const N: usize> {
    len: u16,
    truncated: bool,
    buf: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    fn new(s: &str) -> Self {
        let mut len = s.len().min(N);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        let mut buf = [0; N];
        buf[..len].copy_from_slice(&s.as_bytes()[..len]);
        InlineStr {
            len: len as u16,
            truncated: len < s.len(),
            buf,
        }
    }

    fn marked(&self) -> String {
        let s = std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("");
        if self.truncated {
            format!("{s}…")
        } else {
            s.to_owned()
        }
    }
}

/// One request as kept by the ring (plain, `Copy`, no heap).
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    seq: u64,
    unix_ms: u64,
    method: InlineStr<16>,
    path: InlineStr<128>,
    status: u16,
    pub(crate) latency_us: u64,
    cache: CacheOutcome,
    upstream: Option<SocketAddr>,
    trace_id: [u8; 16],
    sampled: bool,
}

impl Entry {
    const EMPTY_SEQ: u64 = u64::MAX;

    /// Copies what the ring keeps from a finished request.
    pub(crate) fn from_record(rec: &RequestRecord<'_>, latency_us: u64) -> Self {
        Entry {
            seq: Self::EMPTY_SEQ,
            unix_ms: super::clock::unix_ms(rec.start_time),
            method: InlineStr::new(rec.method.as_str()),
            path: InlineStr::new(rec.path),
            status: rec.status,
            latency_us,
            cache: rec.cache,
            upstream: rec.upstream().map(|a| a.addr),
            trace_id: rec.trace_id,
            sampled: rec.sampled,
        }
    }

    fn empty() -> Self {
        Entry {
            seq: Self::EMPTY_SEQ,
            unix_ms: 0,
            method: InlineStr::new(""),
            path: InlineStr::new(""),
            status: 0,
            latency_us: 0,
            cache: CacheOutcome::Bypass,
            upstream: None,
            trace_id: [0; 16],
            sampled: false,
        }
    }

    /// The public, owned view.
    pub(crate) fn info(&self) -> RequestInfo {
        RequestInfo {
            unix_ms: self.unix_ms,
            method: self.method.marked(),
            path: self.path.marked(),
            status: self.status,
            latency_ms: self.latency_us as f64 / 1000.0,
            cache: self.cache.as_str().to_owned(),
            upstream: self.upstream.map(|a| a.to_string()),
            trace_id: self.sampled.then(|| hex(&self.trace_id)),
        }
    }
}

/// Lowercase hex of bytes (trace ids).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// One finished request, as shown by the admin API and dashboards.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestInfo {
    /// Start time, ms since the Unix epoch.
    pub unix_ms: u64,
    /// HTTP method.
    pub method: String,
    /// URL path without the query (cut at 128 bytes, marked with `…`).
    pub path: String,
    /// Status sent downstream (0: none).
    pub status: u16,
    /// Total latency, ms.
    pub latency_ms: f64,
    /// `hit`, `miss`, `stale` or `bypass`.
    pub cache: String,
    /// The upstream that answered, if any.
    pub upstream: Option<String>,
    /// The trace id (hex), only when the trace was sampled (exported).
    pub trace_id: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while copying plain data leaves it consistent: ignore poisoning.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last [`RECENT_CAPACITY`] requests.
pub(crate) struct RecentRing {
    next: AtomicU64,
    slots: Box<[Mutex<Entry>]>,
}

impl std::fmt::Debug for RecentRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentRing")
            .field("next", &self.next)
            .finish()
    }
}

impl RecentRing {
    pub(crate) fn new() -> Self {
        RecentRing {
            next: AtomicU64::new(0),
            slots: (0..RECENT_CAPACITY)
                .map(|_| Mutex::new(Entry::empty()))
                .collect(),
        }
    }

    /// Stores an entry; returns its sequence number.
    pub(crate) fn push(&self, mut e: Entry) -> u64 {
        let seq = self.next.fetch_add(1, Relaxed);
        e.seq = seq;
        let mut slot = lock(&self.slots[(seq % RECENT_CAPACITY as u64) as usize]);
        // A writer delayed between taking its number and the lock must not overwrite the
        // newer request that lapped it into the same slot.
        if slot.seq == Entry::EMPTY_SEQ || slot.seq < seq {
            *slot = e;
        }
        seq
    }

    /// The kept requests, newest first.
    pub(crate) fn list(&self) -> Vec<RequestInfo> {
        self.since(0).0
    }

    /// The kept requests numbered `from` or later, newest first, and the next number.
    pub(crate) fn since(&self, from: u64) -> (Vec<RequestInfo>, u64) {
        let end = self.next.load(Relaxed);
        (self.range(from, end), end)
    }

    /// The kept requests numbered in `from..to`, newest first.
    pub(crate) fn range(&self, from: u64, to: u64) -> Vec<RequestInfo> {
        let end = self.next.load(Relaxed).min(to);
        let start = end.saturating_sub(RECENT_CAPACITY as u64).max(from);
        (start..end)
            .rev()
            .filter_map(|seq| {
                let e = *lock(&self.slots[(seq % RECENT_CAPACITY as u64) as usize]);
                // A slot not yet written, or already overwritten by a newer request, is skipped.
                (e.seq == seq).then(|| e.info())
            })
            .collect()
    }
}

/// The slowest requests since the last drain: each slot keeps the slowest of the requests whose
/// sequence number maps to it, so the single slowest is always kept and the rest approximate the
/// top [`SLOW_SLOTS`]. The common case (not slower than the slot) is one atomic load.
pub(crate) struct SlowTracker {
    slots: [(AtomicU64, Mutex<Option<Entry>>); SLOW_SLOTS],
}

impl std::fmt::Debug for SlowTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlowTracker")
    }
}

impl SlowTracker {
    pub(crate) fn new() -> Self {
        SlowTracker {
            slots: std::array::from_fn(|_| (AtomicU64::new(0), Mutex::new(None))),
        }
    }

    /// Offers a finished request.
    pub(crate) fn offer(&self, seq: u64, e: &Entry) {
        let (max, slot) = &self.slots[(seq % SLOW_SLOTS as u64) as usize];
        if e.latency_us < max.load(Relaxed) {
            return;
        }
        let mut slot = lock(slot);
        if slot.is_none_or(|old| old.latency_us <= e.latency_us) {
            *slot = Some(*e);
            max.store(e.latency_us, Relaxed);
        }
    }

    /// Takes the candidates gathered since the last drain, slowest first.
    pub(crate) fn drain(&self) -> Vec<RequestInfo> {
        let mut out: Vec<Entry> = self
            .slots
            .iter()
            .filter_map(|(max, slot)| {
                let mut slot = lock(slot);
                max.store(0, Relaxed);
                slot.take()
            })
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.latency_us));
        out.iter().map(Entry::info).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, latency_us: u64) -> Entry {
        let mut e = Entry::empty();
        e.path = InlineStr::new(path);
        e.latency_us = latency_us;
        e
    }

    #[test]
    fn ring_keeps_the_last_200_newest_first() {
        let ring = RecentRing::new();
        for i in 0..250 {
            ring.push(entry(&format!("/{i}"), i));
        }
        let list = ring.list();
        assert_eq!(list.len(), RECENT_CAPACITY);
        assert_eq!(list[0].path, "/249");
        assert_eq!(list[199].path, "/50");
    }

    #[test]
    fn since_lists_only_newer_requests() {
        let ring = RecentRing::new();
        (0..5).for_each(|i| {
            ring.push(entry(&format!("/{i}"), i));
        });
        let (all, next) = ring.since(0);
        assert_eq!((all.len(), next), (5, 5));
        (5..8).for_each(|i| {
            ring.push(entry(&format!("/{i}"), i));
        });
        let (new, next) = ring.since(next);
        let paths: Vec<&str> = new.iter().map(|r| r.path.as_str()).collect();
        assert_eq!((paths, next), (vec!["/7", "/6", "/5"], 8));
        assert!(ring.since(next).0.is_empty());
        assert_eq!(ring.range(0, 2).len(), 2, "before a cursor");
        assert_eq!(ring.range(0, 2)[0].path, "/1");
        (8..500).for_each(|i| {
            ring.push(entry(&format!("/{i}"), i));
        });
        let (lapped, _) = ring.since(next);
        assert_eq!(
            lapped.len(),
            RECENT_CAPACITY,
            "what the ring no longer holds is gone"
        );
    }

    #[test]
    fn long_paths_are_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let info = entry(&long, 1).info();
        assert!(info.path.ends_with('…'));
        assert_eq!(info.path.chars().filter(|&c| c == 'é').count(), 64);
    }

    #[test]
    fn slow_tracker_keeps_the_slowest_and_drains() {
        let t = SlowTracker::new();
        for i in 0..100u64 {
            t.offer(i, &entry(&format!("/{i}"), (i * 37) % 101));
        }
        let slow = t.drain();
        assert_eq!(slow.len(), SLOW_SLOTS);
        assert_eq!(slow[0].latency_ms, 0.1, "the slowest (100 µs) is kept");
        assert!(slow.windows(2).all(|w| w[0].latency_ms >= w[1].latency_ms));
        assert!(t.drain().is_empty());
    }

    #[test]
    fn trace_id_shown_only_when_sampled() {
        let mut e = entry("/", 1);
        e.trace_id = [0xab; 16];
        assert_eq!(e.info().trace_id, None);
        e.sampled = true;
        assert_eq!(e.info().trace_id.unwrap(), "ab".repeat(16));
    }
}
