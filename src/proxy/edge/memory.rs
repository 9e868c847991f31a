//! Returning memory after a connection flood: when the client connections drain, ask
//! mimalloc (the binary's allocator) to give freed pages back to the OS.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Open connections above which a later drain is worth a collection.
const FLOOD: u64 = 256;
/// Open connections at or below which the gate counts as drained.
const DRAINED: u64 = 8;

static PEAK: AtomicU64 = AtomicU64::new(0);

// Links mimalloc into every build of the library (its tests too), not only the binary that
// installs it as the global allocator.
extern crate mimalloc as _;

extern "C" {
    // In the mimalloc library that `libmimalloc-sys` links for the global allocator (its
    // Rust declaration sits behind the `extended` feature, which would pull a new crate).
    fn mi_collect(force: bool);
}

/// Called after each client connection closes with the number still open.
pub fn connection_closed(left: u64) {
    let peak = PEAK.fetch_max(left + 1, Relaxed).max(left + 1);
    if peak > FLOOD && left <= DRAINED && PEAK.swap(0, Relaxed) > FLOOD {
        collect();
    }
}

/// Frees what mimalloc holds for this thread and abandoned threads, off the async worker.
fn collect() {
    let run = || {
        // SAFETY: mi_collect takes no pointers; it only walks mimalloc's own heaps.
        unsafe { mi_collect(true) }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            // Collect on this worker's heap (where the flood's buffers were freed) and once
            // more on a blocking thread for pages other threads abandoned.
            run();
            h.spawn_blocking(run);
        }
        Err(_) => run(),
    }
}
