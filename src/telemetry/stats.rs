//! Live request figures (PLACEHOLDER until the admin issue lands).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::record::RequestRecord;

/// Counters updated once per request without locks.
#[derive(Debug, Default)]
pub struct LiveStats {
    requests: AtomicU64,
    in_flight: AtomicU64,
}

impl LiveStats {
    /// A request entered the proxy.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// A request finished.
    pub fn record(&self, _rec: &RequestRecord<'_>) {
        self.in_flight.fetch_sub(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
    }

    /// Requests in flight right now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// Requests finished since start.
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }
}
