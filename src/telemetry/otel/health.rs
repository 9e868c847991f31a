//! Export health: counts what was exported and what was dropped, and turns a failing collector
//! into at most one warning per minute (plus one line when export recovers).
//!
//! Everything is atomics: the drop path runs on the request path when the span queue is full.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;

/// Which pipeline an export result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
}

/// Plain copy of the export counters (for admin figures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportFigures {
    /// Spans the collector accepted.
    pub spans_exported: u64,
    /// Spans lost: queue full, failed or timed-out exports, or sent after shutdown.
    pub spans_dropped: u64,
    /// Metric data points in failed exports.
    pub metric_points_dropped: u64,
    /// Export calls that failed (both signals).
    pub failed_exports: u64,
    /// Of `spans_dropped`, those refused because the exporter held `telemetry.max_buffer` bytes.
    #[serde(default)]
    pub spans_dropped_buffer_full: u64,
}

/// Allows one event per period; lock-free, with the clock passed in so it is testable.
#[derive(Debug)]
pub(crate) struct WarnLimiter {
    period_ms: u64,
    /// Milliseconds (since the owner's epoch) before which no warning may be logged.
    next_ms: AtomicU64,
}

impl WarnLimiter {
    /// At most one event per `period`, the first one at once.
    pub fn new(period: Duration) -> Self {
        WarnLimiter {
            period_ms: period.as_millis() as u64,
            next_ms: AtomicU64::new(0),
        }
    }

    /// Whether a warning may be logged at `now_ms`; at most one caller wins per period.
    pub fn allow(&self, now_ms: u64) -> bool {
        let next = self.next_ms.load(Relaxed);
        now_ms >= next
            && self
                .next_ms
                .compare_exchange(next, now_ms + self.period_ms, Relaxed, Relaxed)
                .is_ok()
    }
}

/// Export counters shared by the span queue, the metric exporter and the admin figures.
#[derive(Debug)]
pub struct ExportHealth {
    endpoint: String,
    epoch: Instant,
    spans_exported: AtomicU64,
    spans_dropped: AtomicU64,
    spans_dropped_buffer_full: AtomicU64,
    metric_points_dropped: AtomicU64,
    failed_exports: AtomicU64,
    failing: AtomicBool,
    limiter: WarnLimiter,
}

impl ExportHealth {
    /// Counters for exports to `endpoint` (named in the warnings).
    pub fn new(endpoint: impl Into<String>) -> Self {
        ExportHealth::with_period(endpoint, Duration::from_secs(60))
    }

    /// Same, with another warning period (tests).
    pub fn with_period(endpoint: impl Into<String>, period: Duration) -> Self {
        ExportHealth {
            endpoint: endpoint.into(),
            epoch: Instant::now(),
            spans_exported: AtomicU64::new(0),
            spans_dropped: AtomicU64::new(0),
            spans_dropped_buffer_full: AtomicU64::new(0),
            metric_points_dropped: AtomicU64::new(0),
            failed_exports: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            limiter: WarnLimiter::new(period),
        }
    }

    fn warn(&self, reason: &dyn Display) {
        if self.limiter.allow(self.epoch.elapsed().as_millis() as u64) {
            let f = self.figures();
            tracing::warn!(
                target: "sightline::telemetry",
                endpoint = %self.endpoint,
                spans_dropped = f.spans_dropped,
                metric_points_dropped = f.metric_points_dropped,
                failed_exports = f.failed_exports,
                "OpenTelemetry export is failing ({reason}); telemetry is dropped until the \
                 collector answers again (this warning repeats at most once a minute)"
            );
        }
    }

    /// A span could not be queued because the export queue is full (request path).
    pub fn span_queue_full(&self) {
        self.spans_dropped.fetch_add(1, Relaxed);
        self.warn(&"span export queue full");
    }

    /// A span could not be queued because the exporter already holds `telemetry.max_buffer`
    /// bytes of spans (request path).
    pub fn span_buffer_full(&self) {
        self.spans_dropped.fetch_add(1, Relaxed);
        self.spans_dropped_buffer_full.fetch_add(1, Relaxed);
        self.warn(&"span export buffer full (telemetry.max_buffer)");
    }

    /// A span arrived after shutdown: lost, but not worth a warning.
    pub fn span_after_shutdown(&self) {
        self.spans_dropped.fetch_add(1, Relaxed);
    }

    /// Records the outcome of one export call carrying `items` spans or data points.
    pub fn export_finished(&self, signal: Signal, items: u64, result: &OTelSdkResult) {
        match result {
            Ok(()) => {
                if signal == Signal::Traces {
                    self.spans_exported.fetch_add(items, Relaxed);
                }
                if self.failing.swap(false, Relaxed) {
                    tracing::info!(
                        target: "sightline::telemetry",
                        endpoint = %self.endpoint,
                        "OpenTelemetry export recovered"
                    );
                }
            }
            Err(e) => {
                match signal {
                    Signal::Traces => self.spans_dropped.fetch_add(items, Relaxed),
                    Signal::Metrics => self.metric_points_dropped.fetch_add(items, Relaxed),
                };
                self.failed_exports.fetch_add(1, Relaxed);
                self.failing.store(true, Relaxed);
                self.warn(e);
            }
        }
    }

    /// Spans plus metric points dropped since start (`sightline.telemetry.dropped`).
    pub fn dropped_total(&self) -> u64 {
        self.spans_dropped.load(Relaxed) + self.metric_points_dropped.load(Relaxed)
    }

    /// A copy of every counter.
    pub fn figures(&self) -> ExportFigures {
        ExportFigures {
            spans_exported: self.spans_exported.load(Relaxed),
            spans_dropped: self.spans_dropped.load(Relaxed),
            spans_dropped_buffer_full: self.spans_dropped_buffer_full.load(Relaxed),
            metric_points_dropped: self.metric_points_dropped.load(Relaxed),
            failed_exports: self.failed_exports.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;

    #[test]
    fn limiter_allows_one_event_per_period() {
        let l = WarnLimiter::new(Duration::from_secs(60));
        assert!(l.allow(0));
        assert!(!l.allow(1));
        assert!(!l.allow(59_999));
        assert!(l.allow(60_000));
        assert!(!l.allow(60_001));
        assert!(l.allow(200_000));
    }

    #[test]
    fn limiter_lets_only_one_of_many_threads_through() {
        let l = std::sync::Arc::new(WarnLimiter::new(Duration::from_secs(60)));
        let winners: usize = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..1000).filter(|_| l.allow(5)).count())
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(winners, 1);
    }

    #[test]
    fn counts_exports_and_drops_per_signal() {
        let h = ExportHealth::new("http://x");
        h.export_finished(Signal::Traces, 10, &Ok(()));
        h.export_finished(
            Signal::Traces,
            4,
            &Err(OTelSdkError::Timeout(Duration::ZERO)),
        );
        h.export_finished(Signal::Metrics, 7, &Err(OTelSdkError::AlreadyShutdown));
        h.span_queue_full();
        h.span_after_shutdown();
        let f = h.figures();
        assert_eq!(f.spans_exported, 10);
        assert_eq!(f.spans_dropped, 6);
        assert_eq!(f.metric_points_dropped, 7);
        assert_eq!(f.failed_exports, 2);
        assert_eq!(h.dropped_total(), 13);
    }
}
