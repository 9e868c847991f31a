//! Live state of each upstream, written by the balancer's health checks and the request path,
//! read by snapshots: health, last check, consecutive failures, downtime.
//!
//! One slot per configured upstream, indexed by [`UpstreamId`]; all fields are atomics so the
//! request path and the checker never lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::record::UpstreamId;
use crate::config::OutlierConfig;
use crate::proxy::outlier::{Outcome, Outliers};

/// Milliseconds since the Unix epoch (0 = never).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The health and check history of one upstream.
#[derive(Debug)]
pub struct UpstreamSlot {
    /// The upstream's address.
    pub addr: SocketAddr,
    healthy: AtomicBool,
    last_check_ms: AtomicU64,
    last_check_ok: AtomicBool,
    last_check_us: AtomicU64,
    consecutive_failures: AtomicU32,
    last_change_ms: AtomicU64,
    down_since_ms: AtomicU64,
    downtime_ms: AtomicU64,
    in_flight: AtomicU64,
}

/// A plain copy of one upstream's health state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpstreamHealth {
    /// Address.
    pub address: SocketAddr,
    /// In rotation.
    pub healthy: bool,
    /// Last check time, ms since the Unix epoch (0 = never checked).
    pub last_check_unix_ms: u64,
    /// Whether the last check passed.
    pub last_check_ok: bool,
    /// How long the last check took, ms.
    pub last_check_duration_ms: f64,
    /// Failed checks in a row.
    pub consecutive_failures: u32,
    /// Last time `healthy` flipped, ms since the Unix epoch (0 = never).
    pub last_change_unix_ms: u64,
    /// Total time out of rotation, seconds (including the current outage).
    pub downtime_seconds: f64,
    /// Requests currently waiting on this upstream.
    pub in_flight: u64,
    /// Passively ejected (outlier detection) right now.
    pub ejected: bool,
    /// End of the current ejection, ms since the Unix epoch.
    pub ejected_until_unix_ms: Option<u64>,
    /// Why it is ejected.
    pub ejection_reason: Option<String>,
    /// Ejections since start.
    pub ejections: u64,
}

/// The table of all upstreams' live state.
#[derive(Debug)]
pub struct UpstreamBoard {
    slots: Box<[UpstreamSlot]>,
    outliers: Outliers,
}

impl UpstreamBoard {
    /// A board for these upstreams, all healthy until a check says otherwise.
    pub fn new(addrs: &[SocketAddr]) -> Self {
        let slots = addrs
            .iter()
            .map(|&addr| UpstreamSlot {
                addr,
                healthy: AtomicBool::new(true),
                last_check_ms: AtomicU64::new(0),
                last_check_ok: AtomicBool::new(true),
                last_check_us: AtomicU64::new(0),
                consecutive_failures: AtomicU32::new(0),
                last_change_ms: AtomicU64::new(0),
                down_since_ms: AtomicU64::new(0),
                downtime_ms: AtomicU64::new(0),
                in_flight: AtomicU64::new(0),
            })
            .collect();
        UpstreamBoard {
            slots,
            outliers: Outliers::disabled(addrs.len()),
        }
    }

    /// The same board with passive health (outlier detection) under `cfg`.
    pub fn with_outlier(mut self, cfg: &OutlierConfig) -> Self {
        self.outliers = Outliers::new(self.slots.len(), cfg);
        self
    }

    /// Records one attempt's outcome for passive health; true when it ejected the upstream.
    pub fn record_outcome(&self, id: UpstreamId, outcome: Outcome) -> bool {
        self.outliers
            .record(id, outcome, now_ms(), |j| self.is_healthy(j))
    }

    /// Whether an upstream is passively ejected now.
    pub fn is_ejected(&self, id: UpstreamId) -> bool {
        let until = self.outliers.until_ms(id);
        until != 0 && now_ms() < until
    }

    /// The ejection reason and length text of an upstream, for the log line when it is ejected.
    pub fn outlier_state(&self, id: UpstreamId) -> crate::proxy::outlier::OutlierState {
        self.outliers.state(id, now_ms())
    }

    /// Ejections since start, all upstreams.
    pub fn total_ejections(&self) -> u64 {
        self.outliers.total_ejections()
    }

    /// Number of upstreams.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no upstreams.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The id of an upstream by address.
    pub fn id_of(&self, addr: &SocketAddr) -> Option<UpstreamId> {
        self.slots.iter().position(|s| &s.addr == addr)
    }

    /// Address of an upstream.
    pub fn addr(&self, id: UpstreamId) -> SocketAddr {
        self.slots[id].addr
    }

    /// Records one health-check result.
    pub fn record_check(&self, id: UpstreamId, ok: bool, took: Duration) {
        let s = &self.slots[id];
        s.last_check_ms.store(now_ms(), Relaxed);
        s.last_check_ok.store(ok, Relaxed);
        s.last_check_us.store(took.as_micros() as u64, Relaxed);
        if ok {
            s.consecutive_failures.store(0, Relaxed);
        } else {
            s.consecutive_failures.fetch_add(1, Relaxed);
        }
    }

    /// Records that an upstream entered or left the rotation.
    pub fn set_healthy(&self, id: UpstreamId, healthy: bool) {
        let s = &self.slots[id];
        if s.healthy.swap(healthy, Relaxed) == healthy {
            return;
        }
        let now = now_ms();
        s.last_change_ms.store(now, Relaxed);
        if healthy {
            // Its check saw it come back: a passive ejection from the outage ends too.
            self.outliers.reset(id);
            let since = s.down_since_ms.swap(0, Relaxed);
            if since > 0 {
                s.downtime_ms.fetch_add(now.saturating_sub(since), Relaxed);
            }
        } else {
            s.down_since_ms.store(now, Relaxed);
        }
    }

    /// Whether an upstream is in rotation.
    pub fn is_healthy(&self, id: UpstreamId) -> bool {
        self.slots[id].healthy.load(Relaxed)
    }

    /// Upstreams in rotation.
    pub fn healthy_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.healthy.load(Relaxed))
            .count()
    }

    /// A request started waiting on an upstream.
    pub fn begin_request(&self, id: UpstreamId) {
        self.slots[id].in_flight.fetch_add(1, Relaxed);
    }

    /// A request stopped waiting on an upstream.
    pub fn end_request(&self, id: UpstreamId) {
        self.slots[id].in_flight.fetch_sub(1, Relaxed);
    }

    /// A plain copy of every upstream's state.
    pub fn snapshot(&self) -> Vec<UpstreamHealth> {
        let now = now_ms();
        self.slots
            .iter()
            .enumerate()
            .map(|(id, s)| {
                let outlier = self.outliers.state(id, now);
                let since = s.down_since_ms.load(Relaxed);
                let current = if since > 0 {
                    now.saturating_sub(since)
                } else {
                    0
                };
                UpstreamHealth {
                    address: s.addr,
                    healthy: s.healthy.load(Relaxed),
                    last_check_unix_ms: s.last_check_ms.load(Relaxed),
                    last_check_ok: s.last_check_ok.load(Relaxed),
                    last_check_duration_ms: s.last_check_us.load(Relaxed) as f64 / 1000.0,
                    consecutive_failures: s.consecutive_failures.load(Relaxed),
                    last_change_unix_ms: s.last_change_ms.load(Relaxed),
                    downtime_seconds: (s.downtime_ms.load(Relaxed) + current) as f64 / 1000.0,
                    in_flight: s.in_flight.load(Relaxed),
                    ejected: outlier.ejected,
                    ejected_until_unix_ms: outlier.ejected_until_unix_ms,
                    ejection_reason: outlier.ejection_reason,
                    ejections: outlier.ejections,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_accumulates_across_outages() {
        let board = UpstreamBoard::new(&["127.0.0.1:1".parse().unwrap()]);
        board.set_healthy(0, false);
        assert_eq!(board.healthy_count(), 0);
        board.set_healthy(0, true);
        let snap = board.snapshot();
        assert!(snap[0].healthy);
        assert!(snap[0].last_change_unix_ms > 0);
        assert!(snap[0].downtime_seconds >= 0.0);
    }

    #[test]
    fn consecutive_failures_reset_on_success() {
        let board = UpstreamBoard::new(&["127.0.0.1:1".parse().unwrap()]);
        board.record_check(0, false, Duration::from_millis(1));
        board.record_check(0, false, Duration::from_millis(1));
        assert_eq!(board.snapshot()[0].consecutive_failures, 2);
        board.record_check(0, true, Duration::from_millis(1));
        assert_eq!(board.snapshot()[0].consecutive_failures, 0);
    }
}
