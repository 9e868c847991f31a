//! Live state of each upstream, written by the balancer's health checks and the request path,
//! read by snapshots: health, last check, consecutive failures, downtime.
//!
//! One slot per configured upstream, indexed by [`UpstreamId`]; all fields are atomics so the
//! request path and the checker never lock. A config reload appends upstreams into spare slots
//! reserved at start (ids never move) and marks removed ones as out of the config.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::outlier::{Outcome, Outliers};
use super::record::UpstreamId;
use crate::config::OutlierConfig;

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
    /// The upstream's address (set once, when the slot is first used).
    addr: OnceLock<SocketAddr>,
    /// Whether the running config lists it (false once a reload removed it).
    in_config: AtomicBool,
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
    /// Slots in use (`..len`); the rest are spare for upstreams added by a reload.
    len: AtomicUsize,
    /// Serialises [`UpstreamBoard::set_members`] (never taken on the request path).
    grow: Mutex<()>,
}

/// A reload listed more distinct upstreams than the board reserved at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {capacity} distinct upstreams since start; restart to add more")]
pub struct BoardFull {
    /// Slots reserved at start.
    pub capacity: usize,
}

impl UpstreamBoard {
    /// A board for these upstreams, all healthy until a check says otherwise.
    pub fn new(addrs: &[SocketAddr]) -> Self {
        Self::with_spare(addrs, 0)
    }

    /// A board for these upstreams with `spare` more slots for upstreams added by reloads.
    pub fn with_spare(addrs: &[SocketAddr], spare: usize) -> Self {
        let slots: Box<[UpstreamSlot]> = (0..addrs.len() + spare)
            .map(|i| UpstreamSlot {
                addr: addrs
                    .get(i)
                    .map_or_else(OnceLock::new, |&a| OnceLock::from(a)),
                in_config: AtomicBool::new(i < addrs.len()),
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
            outliers: Outliers::disabled(addrs.len() + spare),
            len: AtomicUsize::new(addrs.len()),
            grow: Mutex::new(()),
        }
    }

    /// The same board with passive health (outlier detection) under `cfg`.
    pub fn with_outlier(mut self, cfg: &OutlierConfig) -> Self {
        self.outliers = Outliers::new(self.slots.len(), cfg);
        self
    }

    /// Records one attempt's outcome for passive health; true when it ejected the upstream.
    pub fn record_outcome(&self, id: UpstreamId, outcome: Outcome) -> bool {
        // Spare slots and upstreams a reload removed are no alternative to eject in favour of.
        let len = self.len();
        self.outliers.record(id, outcome, now_ms(), |j| {
            j < len && self.in_config(j) && self.is_healthy(j)
        })
    }

    /// Whether an upstream is passively ejected now.
    pub fn is_ejected(&self, id: UpstreamId) -> bool {
        let until = self.outliers.until_ms(id);
        until != 0 && now_ms() < until
    }

    /// The ejection reason and length text of an upstream, for the log line when it is ejected.
    pub fn outlier_state(&self, id: UpstreamId) -> crate::telemetry::outlier::OutlierState {
        self.outliers.state(id, now_ms())
    }

    /// Ejections since start, all upstreams.
    pub fn total_ejections(&self) -> u64 {
        self.outliers.total_ejections()
    }

    fn used(&self) -> &[UpstreamSlot] {
        &self.slots[..self.len.load(Acquire)]
    }

    /// Number of upstreams known since start (those a reload removed included).
    pub fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    /// Ids the board can ever hand out (size per-upstream tables with this).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no upstreams.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of an upstream by address.
    pub fn id_of(&self, addr: &SocketAddr) -> Option<UpstreamId> {
        self.used().iter().position(|s| s.addr.get() == Some(addr))
    }

    /// Address of an upstream.
    pub fn addr(&self, id: UpstreamId) -> SocketAddr {
        *self.slots[id]
            .addr
            .get()
            .expect("ids below len have an address")
    }

    /// Whether the running config lists this upstream.
    pub fn in_config(&self, id: UpstreamId) -> bool {
        self.slots[id].in_config.load(Relaxed)
    }

    /// Makes `addrs` the configured set (config reload): known addresses keep their id and
    /// history, new ones take spare slots (healthy until checked), the others are marked as
    /// out of the config. Nothing changes when the spare slots do not suffice.
    pub fn set_members(&self, addrs: &[SocketAddr]) -> Result<(), BoardFull> {
        let _one_at_a_time = self.grow.lock().unwrap_or_else(|e| e.into_inner());
        let len = self.len.load(Acquire);
        let new = addrs.iter().filter(|a| self.id_of(a).is_none()).count();
        if len + new > self.slots.len() {
            return Err(BoardFull {
                capacity: self.slots.len(),
            });
        }
        let mut next = len;
        for a in addrs {
            if self.id_of(a).is_none() {
                let _ = self.slots[next].addr.set(*a);
                next += 1;
                self.len.store(next, Release);
            }
        }
        for s in self.used() {
            let listed = s.addr.get().is_some_and(|a| addrs.contains(a));
            s.in_config.store(listed, Relaxed);
        }
        Ok(())
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
        self.used()
            .iter()
            .filter(|s| s.in_config.load(Relaxed) && s.healthy.load(Relaxed))
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
        self.used()
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
                    address: *s.addr.get().expect("used slots have an address"),
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

    #[test]
    fn reload_appends_into_spare_slots_and_keeps_ids() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let c: SocketAddr = "127.0.0.1:3".parse().unwrap();
        let board = UpstreamBoard::with_spare(&[a, b], 1);
        assert_eq!((board.len(), board.capacity()), (2, 3));
        board.set_members(&[b, c]).unwrap();
        assert_eq!(board.id_of(&b), Some(1));
        assert_eq!(board.id_of(&c), Some(2));
        assert!(!board.in_config(0) && board.in_config(1) && board.in_config(2));
        assert_eq!(board.healthy_count(), 2);
        assert_eq!(board.snapshot().len(), 3);
        let d: SocketAddr = "127.0.0.1:4".parse().unwrap();
        assert_eq!(board.set_members(&[d]), Err(BoardFull { capacity: 3 }));
        assert!(
            board.in_config(1),
            "a refused change leaves the set as it was"
        );
        board.set_members(&[a]).unwrap();
        assert!(board.in_config(0) && !board.in_config(2));
    }
}
