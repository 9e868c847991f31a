//! Passive health (outlier detection): per-upstream state that ejects an upstream from the
//! rotation after N consecutive connect failures or 5xx responses, and lets it back in.
//!
//! The state machine per upstream:
//! * **in rotation**: each failure adds one to a streak, each success resets it; the Nth failure
//!   in a row ejects it for `base_ejection × 2^(ejections in a row)`, capped at `max_ejection`.
//! * **ejected**: the balancer skips it until `ejected_until`.
//! * **probing** (ejection time over, not yet judged): back in rotation; the first success
//!   ends the ejection and resets the doubling, the first failure re-ejects it for twice as long.
//!
//! An upstream is never ejected when no other upstream would be left in rotation (active
//! health and ejections counted): sending traffic to a failing origin beats answering 502 to
//! everything. Time is passed in (ms since the Unix epoch) so the machine is pure and testable.
//!
//! Every field is an atomic read on the request path without a lock; the one mutex is taken
//! only while deciding an ejection (rare), so two upstreams failing at once cannot both take
//! the last places in rotation.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use crate::config::OutlierConfig;

/// What happened on one upstream attempt, as far as passive health cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A non-5xx response arrived.
    Success,
    /// The TCP connection could not be made.
    ConnectFailure,
    /// The upstream answered 5xx.
    ServerError,
    /// Connected, then timed out or broke before a response header.
    GatewayFailure,
}

/// Why an upstream was ejected (the last failure of its streak).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// Not ejected.
    None = 0,
    /// Connect failures.
    ConnectFailure = 1,
    /// 5xx responses.
    ServerError = 2,
    /// Timeouts or broken responses.
    GatewayFailure = 3,
}

impl Reason {
    fn from_u8(v: u8) -> Reason {
        match v {
            1 => Reason::ConnectFailure,
            2 => Reason::ServerError,
            3 => Reason::GatewayFailure,
            _ => Reason::None,
        }
    }

    fn of(o: Outcome) -> Reason {
        match o {
            Outcome::Success => Reason::None,
            Outcome::ConnectFailure => Reason::ConnectFailure,
            Outcome::ServerError => Reason::ServerError,
            Outcome::GatewayFailure => Reason::GatewayFailure,
        }
    }

    /// The text shown in `/api/upstreams` and the dashboards.
    pub fn describe(self, n: u32) -> String {
        let what = match self {
            Reason::None => return String::new(),
            Reason::ConnectFailure => "connect failures",
            Reason::ServerError => "5xx responses",
            Reason::GatewayFailure => "timeouts or broken responses",
        };
        format!("{n} consecutive failures (last: {what})")
    }
}

/// One upstream's passive-health state.
#[derive(Debug, Default)]
struct Slot {
    /// Failures in a row while in rotation.
    failures: AtomicU32,
    /// End of the current ejection, ms since the Unix epoch (0: never ejected or judged back).
    until_ms: AtomicU64,
    /// Ejections in a row without a successful probe (the doubling exponent).
    streak: AtomicU32,
    /// Ejections since start.
    ejections: AtomicU64,
    /// [`Reason`] of the last ejection.
    reason: AtomicU8,
    /// Set while an ejection decision runs, so a burst of failures ejects once.
    deciding: AtomicBool,
}

/// A plain copy of one upstream's passive-health state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierState {
    /// Out of the rotation right now.
    pub ejected: bool,
    /// End of the current ejection (None when not ejected).
    pub ejected_until_unix_ms: Option<u64>,
    /// Why it is ejected (None when not ejected).
    pub ejection_reason: Option<String>,
    /// Ejections since start.
    pub ejections: u64,
}

/// Passive-health state of every upstream, indexed like the upstream board.
#[derive(Debug)]
pub struct Outliers {
    slots: Box<[Slot]>,
    enabled: bool,
    threshold: u32,
    base_ms: u64,
    max_ms: u64,
    /// Serialises ejection decisions only (never taken for successes or below-threshold failures).
    decide: Mutex<()>,
}

impl Outliers {
    /// State for `n` upstreams under `cfg`.
    pub fn new(n: usize, cfg: &OutlierConfig) -> Self {
        Outliers {
            slots: (0..n).map(|_| Slot::default()).collect(),
            enabled: cfg.enabled,
            threshold: cfg.consecutive_failures.get(),
            base_ms: cfg.base_ejection.as_millis() as u64,
            max_ms: cfg.max_ejection.as_millis().max(1) as u64,
            decide: Mutex::new(()),
        }
    }

    /// State that never ejects (outlier detection off).
    pub fn disabled(n: usize) -> Self {
        let mut o = Outliers::new(n, &crate::config::Config::defaults().upstreams.outlier);
        o.enabled = false;
        o
    }

    /// Whether the upstream is out of the rotation at `now_ms`.
    pub fn is_ejected(&self, id: usize, now_ms: u64) -> bool {
        now_ms < self.until_ms(id)
    }

    /// End of the upstream's last ejection, ms since the Unix epoch (0: none pending judgement),
    /// so the hot path can skip reading the clock when nothing was ever ejected.
    pub fn until_ms(&self, id: usize) -> u64 {
        self.slots.get(id).map_or(0, |s| s.until_ms.load(Relaxed))
    }

    /// Records one attempt's outcome. `in_rotation(j)` says whether upstream `j` passes its
    /// active health checks. Returns true when this outcome ejected the upstream.
    pub fn record(
        &self,
        id: usize,
        outcome: Outcome,
        now_ms: u64,
        in_rotation: impl Fn(usize) -> bool,
    ) -> bool {
        let Some(s) = self.slots.get(id) else {
            return false;
        };
        if !self.enabled {
            return false;
        }
        let until = s.until_ms.load(Relaxed);
        if outcome == Outcome::Success {
            s.failures.store(0, Relaxed);
            if until != 0 && now_ms >= until {
                // A successful probe: fully back, doubling forgotten.
                if s.until_ms
                    .compare_exchange(until, 0, Relaxed, Relaxed)
                    .is_ok()
                {
                    s.streak.store(0, Relaxed);
                }
            }
            return false;
        }
        if now_ms < until {
            // Already ejected: a straggler that was in flight; nothing more to learn.
            return false;
        }
        let probing = until != 0;
        let failures = s.failures.fetch_add(1, Relaxed) + 1;
        if !probing && failures < self.threshold {
            return false;
        }
        self.eject(id, s, Reason::of(outcome), now_ms, in_rotation)
    }

    fn eject(
        &self,
        id: usize,
        s: &Slot,
        reason: Reason,
        now_ms: u64,
        in_rotation: impl Fn(usize) -> bool,
    ) -> bool {
        if s.deciding.swap(true, Relaxed) {
            return false;
        }
        let ejected = {
            let _g = self.decide.lock().unwrap_or_else(|p| p.into_inner());
            let others = (0..self.slots.len())
                .filter(|&j| j != id && in_rotation(j) && !self.is_ejected(j, now_ms))
                .count();
            // Re-read under the lock: another thread may have judged this slot meanwhile.
            if others == 0 || now_ms < s.until_ms.load(Relaxed) {
                false
            } else {
                let streak = s.streak.fetch_add(1, Relaxed);
                let len = self
                    .base_ms
                    .saturating_mul(1u64 << streak.min(32))
                    .min(self.max_ms);
                s.until_ms.store(now_ms + len.max(1), Relaxed);
                s.reason.store(reason as u8, Relaxed);
                s.ejections.fetch_add(1, Relaxed);
                s.failures.store(0, Relaxed);
                true
            }
        };
        s.deciding.store(false, Relaxed);
        ejected
    }

    /// Ends any ejection of the upstream and forgets its failures: its active health check just
    /// saw it come back (like Envoy's `successful_active_health_check_uneject_host`, but only on
    /// the down → up transition, so an origin failing real requests while its check path answers
    /// 200 is not let back every check interval).
    pub fn reset(&self, id: usize) {
        if let Some(s) = self.slots.get(id) {
            s.until_ms.store(0, Relaxed);
            s.streak.store(0, Relaxed);
            s.failures.store(0, Relaxed);
        }
    }

    /// Ejections since start, summed over upstreams.
    pub fn total_ejections(&self) -> u64 {
        self.slots.iter().map(|s| s.ejections.load(Relaxed)).sum()
    }

    /// A plain copy of one upstream's state at `now_ms`.
    pub fn state(&self, id: usize, now_ms: u64) -> OutlierState {
        let Some(s) = self.slots.get(id) else {
            return OutlierState {
                ejected: false,
                ejected_until_unix_ms: None,
                ejection_reason: None,
                ejections: 0,
            };
        };
        let until = s.until_ms.load(Relaxed);
        let ejected = now_ms < until;
        OutlierState {
            ejected,
            ejected_until_unix_ms: ejected.then_some(until),
            ejection_reason: ejected
                .then(|| Reason::from_u8(s.reason.load(Relaxed)).describe(self.threshold)),
            ejections: s.ejections.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use super::*;

    fn outliers(n: usize, threshold: u32) -> Outliers {
        Outliers::new(
            n,
            &OutlierConfig {
                enabled: true,
                consecutive_failures: NonZeroU32::new(threshold).unwrap(),
                base_ejection: Duration::from_secs(1),
                max_ejection: Duration::from_secs(4),
            },
        )
    }

    const T0: u64 = 1_000_000;
    fn all(_: usize) -> bool {
        true
    }

    #[test]
    fn ejects_after_threshold_failures_in_a_row() {
        let o = outliers(2, 3);
        assert!(!o.record(0, Outcome::ServerError, T0, all));
        assert!(!o.record(0, Outcome::ConnectFailure, T0, all));
        assert!(!o.is_ejected(0, T0));
        assert!(o.record(0, Outcome::ServerError, T0, all));
        assert!(o.is_ejected(0, T0 + 999));
        assert!(!o.is_ejected(0, T0 + 1000));
        let st = o.state(0, T0 + 1);
        assert!(st.ejected);
        assert_eq!(st.ejected_until_unix_ms, Some(T0 + 1000));
        assert_eq!(
            st.ejection_reason.as_deref(),
            Some("3 consecutive failures (last: 5xx responses)")
        );
        assert_eq!(st.ejections, 1);
        assert_eq!(o.total_ejections(), 1);
    }

    #[test]
    fn a_success_resets_the_streak() {
        let o = outliers(2, 2);
        o.record(0, Outcome::ServerError, T0, all);
        o.record(0, Outcome::Success, T0, all);
        assert!(!o.record(0, Outcome::ServerError, T0, all));
        assert!(!o.is_ejected(0, T0));
    }

    #[test]
    fn failed_probe_doubles_up_to_the_cap_and_a_good_probe_resets() {
        let o = outliers(2, 1);
        assert!(o.record(0, Outcome::ConnectFailure, T0, all));
        // Back after 1 s, the probe fails: 2 s, then 4 s, then capped at 4 s.
        let mut t = T0 + 1000;
        for len in [2000, 4000, 4000] {
            assert!(!o.is_ejected(0, t));
            assert!(o.record(0, Outcome::ConnectFailure, t, all));
            assert_eq!(o.state(0, t).ejected_until_unix_ms, Some(t + len));
            t += len;
        }
        // A good probe ends it; the next ejection is back to the base length.
        o.record(0, Outcome::Success, t, all);
        assert!(!o.state(0, t).ejected);
        assert!(o.record(0, Outcome::ServerError, t, all));
        assert_eq!(o.state(0, t).ejected_until_unix_ms, Some(t + 1000));
        assert_eq!(o.state(0, t).ejections, 5);
    }

    #[test]
    fn never_ejects_the_last_upstream_in_rotation() {
        let o = outliers(2, 1);
        assert!(o.record(0, Outcome::ServerError, T0, all));
        // Upstream 1 is the only one left: it stays, however often it fails.
        for _ in 0..10 {
            assert!(!o.record(1, Outcome::ServerError, T0, all));
        }
        assert!(!o.is_ejected(1, T0));
        // Upstream 0 healthy by checks but upstream 1 failing its checks: 0 is the last one.
        let o = outliers(2, 1);
        assert!(!o.record(0, Outcome::ServerError, T0, |j| j != 1));
        let single = outliers(1, 1);
        assert!(!single.record(0, Outcome::ConnectFailure, T0, all));
    }

    #[test]
    fn stragglers_while_ejected_do_not_extend_it() {
        let o = outliers(2, 1);
        assert!(o.record(0, Outcome::ServerError, T0, all));
        assert!(!o.record(0, Outcome::ServerError, T0 + 10, all));
        assert_eq!(o.state(0, T0 + 10).ejected_until_unix_ms, Some(T0 + 1000));
        assert_eq!(o.state(0, T0).ejections, 1);
    }

    #[test]
    fn reset_lets_an_ejected_upstream_back_at_once() {
        let o = outliers(2, 1);
        assert!(o.record(0, Outcome::ConnectFailure, T0, all));
        o.reset(0);
        assert!(!o.is_ejected(0, T0 + 1));
        // The doubling is forgotten too.
        assert!(o.record(0, Outcome::ConnectFailure, T0 + 1, all));
        assert_eq!(o.state(0, T0 + 1).ejected_until_unix_ms, Some(T0 + 1001));
    }

    #[test]
    fn disabled_never_ejects() {
        let o = Outliers::disabled(3);
        for _ in 0..100 {
            assert!(!o.record(0, Outcome::ServerError, T0, all));
        }
        assert!(!o.state(0, T0).ejected);
    }
}
