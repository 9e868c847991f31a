//! Returning memory after a connection flood: when the client connections drain, ask
//! mimalloc (the binary's allocator) to give freed pages back to the OS.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Open connections above which a later drain is worth a collection.
const FLOOD: u64 = 256;
/// Open connections at or below which the gate counts as drained.
const DRAINED: u64 = 8;

static PEAK: AtomicU64 = AtomicU64::new(0);
/// Counts drains after a flood; each worker thread collects once per drain.
static DRAINS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COLLECTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// Links mimalloc into every build of the library (its tests too), not only the binary that
// installs it as the global allocator.
extern crate mimalloc as _;

extern "C" {
    // In the mimalloc library that `libmimalloc-sys` links for the global allocator (its
    // Rust declaration sits behind the `extended` feature, which would pull a new crate).
    fn mi_collect(force: bool);
}

/// Called after each client connection closes with the number still open.
///
/// mimalloc returns a thread's free pages only when that thread collects (memory freed by
/// another thread waits on its owner's list), and the flood's connections lived on every
/// worker. So a drain is announced once, and each worker thread collects its own heap at its
/// next connection close after it — with any traffic at all, within moments.
pub fn connection_closed(left: u64) {
    let peak = PEAK.fetch_max(left + 1, Relaxed).max(left + 1);
    if peak > FLOOD && left <= DRAINED && PEAK.swap(0, Relaxed) > FLOOD {
        DRAINS.fetch_add(1, Relaxed);
        // Pages other threads abandoned, off the async worker.
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn_blocking(collect);
        }
    }
    let drains = DRAINS.load(Relaxed);
    if drains != 0 && COLLECTED.with(|c| c.replace(drains)) != drains {
        collect();
    }
}

fn collect() {
    // SAFETY: mi_collect takes no pointers; it only walks mimalloc's own heaps.
    unsafe { mi_collect(true) }
}
