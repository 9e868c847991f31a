//! The "hand clients over" state of a process being upgraded: from SIGQUIT on, every response
//! closes its connection (`Connection: close`), so keep-alive clients reconnect, and reach the
//! new process, after a complete response instead of racing pingora's close of idle
//! connections at shutdown.

use std::sync::atomic::{AtomicBool, Ordering};

static HANDING_OVER: AtomicBool = AtomicBool::new(false);

/// Marks the process as handing its clients to an upgraded process.
pub fn start_handover() {
    HANDING_OVER.store(true, Ordering::Relaxed);
}

/// Whether responses should close their connections (a relaxed load per request).
pub fn handing_over() -> bool {
    HANDING_OVER.load(Ordering::Relaxed)
}
