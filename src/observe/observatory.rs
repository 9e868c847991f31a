//! The `Observatory`: owns the live stats, the per-second history and the latest
//! [`MetricsSnapshot`]; its sampler task turns counters into samples once a second.
//!
//! Readers (admin, dashboards, alerts) call [`Observatory::snapshot`] (lock-free, `ArcSwap`) or
//! [`Observatory::subscribe`] to be woken by each new snapshot. Nothing writes back: the
//! snapshot's `alerts` stay empty here, and readers combine them in from the alert engine.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::history::{avg_ms, per_second, History, HistoryPoint, Readings, Sample};
use super::history::{resolution_for, UpstreamPoint, UpstreamState, WindowSums};
use super::snapshot::*;
use crate::config::Config;
use crate::telemetry::clock::{unix_ms, Clock};
use crate::telemetry::latency::{quantile_ms, SEMCONV_BOUNDS_S};
use crate::telemetry::process::{cpu_percent, cpu_time_us, resident_bytes};
use crate::telemetry::recent::RequestInfo;
use crate::telemetry::stats::{LiveStats, StatsReading};
use crate::telemetry::upstreams::UpstreamBoard;
use crate::telemetry::{CacheUsageSource, UpstreamId};

/// Tells background tasks to stop: send `true` (dropping the sender stops them too).
pub type Shutdown = watch::Receiver<bool>;

/// Resolves once shutdown is requested or the sender is gone.
pub async fn shutdown_requested(rx: &mut Shutdown) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// A component whose uptime is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The client-facing HTTP server.
    HttpServer,
    /// The response cache.
    Cache,
    /// The balancer and its health checks.
    LoadBalancer,
}

/// What the observatory needs from the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservatorySettings {
    /// Sliding window for rates and averages (`dashboard.window`).
    pub window: Duration,
    /// `cache.enabled`.
    pub cache_enabled: bool,
}

impl ObservatorySettings {
    /// The settings a config asks for.
    pub fn from_config(cfg: &Config) -> Self {
        ObservatorySettings {
            window: cfg.dashboard.window,
            cache_enabled: cfg.cache.enabled,
        }
    }
}

struct SamplerState {
    history: History,
    prev: StatsReading,
    prev_cpu_us: u64,
    last_tick: Instant,
}

/// Live stats + history + the latest snapshot.
pub struct Observatory {
    stats: Arc<LiveStats>,
    board: Arc<UpstreamBoard>,
    cache_usage: CacheUsageSource,
    settings: ObservatorySettings,
    clock: Arc<dyn Clock>,
    started: Instant,
    component_started: Mutex<[Instant; 3]>,
    sampler: Mutex<SamplerState>,
    latest: ArcSwap<MetricsSnapshot>,
    tx: watch::Sender<Arc<MetricsSnapshot>>,
    export: std::sync::OnceLock<ExportSource>,
}

/// Reads the OpenTelemetry export counters (supplied at wiring time when export is on).
pub type ExportSource = Arc<dyn Fn() -> crate::telemetry::otel::ExportFigures + Send + Sync>;

impl std::fmt::Debug for Observatory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observatory")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Observatory {
    /// An observatory over these sources; every component counts as started now.
    pub fn new(
        stats: Arc<LiveStats>,
        board: Arc<UpstreamBoard>,
        cache_usage: CacheUsageSource,
        settings: ObservatorySettings,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let now = clock.now();
        let window_secs = settings.window.as_secs_f64().ceil() as usize;
        let sampler = SamplerState {
            history: History::new(window_secs + 1),
            prev: stats.read(),
            prev_cpu_us: cpu_time_us(),
            last_tick: now,
        };
        let (tx, _) = watch::channel(Arc::new(MetricsSnapshot::default()));
        let obs = Arc::new(Observatory {
            stats,
            board,
            cache_usage,
            settings,
            clock,
            started: now,
            component_started: Mutex::new([now; 3]),
            sampler: Mutex::new(sampler),
            latest: ArcSwap::from_pointee(MetricsSnapshot::default()),
            tx,
            export: std::sync::OnceLock::new(),
        });
        let first = {
            let s = lock(&obs.sampler);
            let sums = s.history.sums(settings.window, obs.stats.upstream_count());
            obs.build(&s.prev, &sums, None)
        };
        obs.publish(first, false);
        obs
    }

    /// Adds the OpenTelemetry export counters to every later snapshot (first call wins).
    pub fn set_export_source(&self, source: ExportSource) {
        let _ = self.export.set(source);
    }

    /// Spawns the once-a-second sampler on the current tokio runtime.
    pub fn start(self: &Arc<Self>, mut shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = every.tick() => me.tick(),
                    _ = shutdown_requested(&mut shutdown) => break,
                }
            }
        })
    }

    /// Takes one sample now and publishes a new snapshot (the sampler calls this every second).
    pub fn tick(&self) {
        let snap = {
            let mut s = lock(&self.sampler);
            let now = self.clock.now();
            let reading = self.stats.read();
            let states: Vec<UpstreamState> = self
                .board
                .snapshot()
                .iter()
                .map(|u| UpstreamState {
                    healthy: u.healthy,
                    in_flight: u.in_flight,
                })
                .collect();
            let cpu = cpu_time_us();
            let readings = Readings {
                unix_ms: unix_ms(self.clock.wall()),
                elapsed: now.saturating_duration_since(s.last_tick),
                upstreams: states,
                slowest: self.stats.drain_slowest(),
                cpu_us: cpu.saturating_sub(s.prev_cpu_us),
                memory_bytes: resident_bytes().unwrap_or(0),
                connections: self.stats.open_connections(),
            };
            let sample = Sample::between(&s.prev, &reading, readings);
            s.history.push(sample);
            s.prev = reading;
            s.prev_cpu_us = cpu;
            s.last_tick = now;
            let sums = s
                .history
                .sums(self.settings.window, self.stats.upstream_count());
            self.build(&s.prev, &sums, s.history.newest())
        };
        self.publish(snap, true);
    }

    fn publish(&self, snap: MetricsSnapshot, notify: bool) {
        let snap = Arc::new(snap);
        self.latest.store(Arc::clone(&snap));
        if notify {
            self.tx.send_replace(snap);
        }
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<MetricsSnapshot> {
        self.latest.load_full()
    }

    /// A receiver woken by every sampled snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetricsSnapshot>> {
        self.tx.subscribe()
    }

    /// Restarts a component's uptime (call when it (re)starts).
    pub fn mark_started(&self, c: Component) {
        lock(&self.component_started)[c as usize] = self.clock.now();
    }

    /// The samples covering the last `span`, oldest first: one-second samples up to 300 s,
    /// one-minute samples (closed minutes) beyond; each point says its resolution.
    pub fn history(&self, span: Duration) -> Vec<HistoryPoint> {
        let s = lock(&self.sampler);
        match resolution_for(span) {
            1 => s.history.last(span).map(|x| x.point(1)).collect(),
            r => s.history.minutes(span).map(|m| m.point(r)).collect(),
        }
    }

    /// The newest closed minute, if any (the stream sends each once).
    pub fn last_minute(&self) -> Option<HistoryPoint> {
        lock(&self.sampler)
            .history
            .last_minute()
            .map(|m| m.point(60))
    }

    /// The newest one-second sample, if any.
    pub fn last_second(&self) -> Option<HistoryPoint> {
        lock(&self.sampler).history.newest().map(|x| x.point(1))
    }

    /// One upstream's per-second samples covering the last `span`, oldest first.
    pub fn upstream_history(&self, id: UpstreamId, span: Duration) -> Vec<UpstreamPoint> {
        let s = lock(&self.sampler);
        s.history
            .last(span)
            .filter_map(|x| x.upstream_point(id))
            .collect()
    }

    /// Samples kept at most (seconds of history).
    pub fn history_capacity(&self) -> usize {
        lock(&self.sampler).history.capacity()
    }

    /// The last 200 requests, newest first.
    pub fn recent_requests(&self) -> Vec<RequestInfo> {
        self.stats.recent()
    }

    /// The live counters (what the request path records into).
    pub fn stats(&self) -> &Arc<LiveStats> {
        &self.stats
    }

    /// The upstream board.
    pub fn board(&self) -> &Arc<UpstreamBoard> {
        &self.board
    }

    /// The settings in force.
    pub fn settings(&self) -> ObservatorySettings {
        self.settings
    }

    /// The clock used for windows and uptimes.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn build(&self, r: &StatsReading, w: &WindowSums, newest: Option<&Sample>) -> MetricsSnapshot {
        let now = self.clock.now();
        let up = |since: Instant| ComponentUptime {
            uptime_seconds: now.saturating_duration_since(since).as_secs_f64(),
        };
        let starts = *lock(&self.component_started);
        let cache_usage = (self.cache_usage)();
        let health = self.board.snapshot();
        let upstreams: Vec<UpstreamFigures> = health
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let total = r.upstreams.get(i).copied().unwrap_or_default();
                let win = w.upstreams.get(i).copied().unwrap_or_default();
                UpstreamFigures {
                    address: h.address.to_string(),
                    healthy: h.healthy,
                    in_flight: h.in_flight,
                    requests: total.requests,
                    errors: total.errors,
                    avg_response_time_ms: avg_ms(total.latency_sum_us, total.requests),
                    latency_sum_seconds: total.latency_sum_us as f64 / 1e6,
                    window_requests: win.requests,
                    window_errors: win.errors,
                    window_avg_response_time_ms: avg_ms(win.latency_sum_us, win.requests),
                    last_check_unix_ms: h.last_check_unix_ms,
                    last_check_ok: h.last_check_ok,
                    last_check_duration_ms: h.last_check_duration_ms,
                    consecutive_failures: h.consecutive_failures,
                    last_change_unix_ms: h.last_change_unix_ms,
                    downtime_seconds: h.downtime_seconds,
                    ejected: h.ejected,
                    ejected_until_unix_ms: h.ejected_until_unix_ms,
                    ejection_reason: h.ejection_reason.clone(),
                    ejections: h.ejections,
                }
            })
            .collect();
        let total_cache = CacheCounts::from(r.cache);
        let window_cache = CacheCounts::from(w.cache);
        let mut cumulative = 0;
        let buckets = r
            .latency
            .semconv
            .iter()
            .zip(&r.latency.exemplars)
            .enumerate()
            .map(|(i, (&c, &exemplar))| {
                cumulative += c;
                Bucket {
                    le: SEMCONV_BOUNDS_S.get(i).copied(),
                    count: cumulative,
                    exemplar,
                }
            })
            .collect();
        MetricsSnapshot {
            rejected: crate::telemetry::reject::snapshot(),
            telemetry: self.export.get().map(|f| f()).unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            generated_unix_ms: unix_ms(self.clock.wall()),
            uptime_seconds: now.saturating_duration_since(self.started).as_secs_f64(),
            components: Components {
                http_server: up(starts[Component::HttpServer as usize]),
                cache: up(starts[Component::Cache as usize]),
                load_balancer: up(starts[Component::LoadBalancer as usize]),
            },
            totals: Totals {
                requests: r.requests,
                status: r.status.into(),
                errors: r.errors,
                cache: total_cache,
                cache_hit_ratio_percent: total_cache.hit_ratio_percent(),
                bytes_sent: r.bytes_sent,
                bytes_received: r.bytes_received,
                latency: LatencyTotals {
                    sum_seconds: r.latency.sum_us as f64 / 1e6,
                    count: r.latency.count,
                    buckets,
                },
            },
            window: WindowFigures {
                window_seconds: self.settings.window.as_secs_f64(),
                covered_seconds: w.covered_ms as f64 / 1000.0,
                requests: w.requests,
                requests_per_second: per_second(w.requests, w.covered_ms),
                avg_response_time_ms: avg_ms(w.latency_sum_us, w.latency_count),
                p50_ms: quantile_ms(&w.latency, 0.50),
                p95_ms: quantile_ms(&w.latency, 0.95),
                p99_ms: quantile_ms(&w.latency, 0.99),
                errors: w.errors,
                error_rate_percent: percent(w.errors, w.requests),
                status: w.status.into(),
                cache: window_cache,
                cache_hit_ratio_percent: window_cache.hit_ratio_percent(),
                bytes_per_second: per_second(w.bytes_sent, w.covered_ms),
                slowest: w.slowest.clone(),
            },
            memory_usage_bytes: newest
                .map_or_else(|| resident_bytes().unwrap_or(0), |n| n.memory_bytes),
            cpu_percent: newest.map_or(0.0, |n| cpu_percent(n.cpu_us, n.elapsed_ms)),
            connections: self.stats.open_connections(),
            bytes_sent_per_second: per_second(w.bytes_sent, w.covered_ms),
            bytes_received_per_second: per_second(w.bytes_received, w.covered_ms),
            cache: CacheFigures {
                enabled: self.settings.cache_enabled,
                size_bytes: cache_usage.bytes,
                entries: cache_usage.entries,
            },
            queue_size: r.in_flight,
            healthy_upstreams: upstreams.iter().filter(|u| u.healthy).count(),
            total_upstreams: upstreams.len(),
            upstreams,
            alerts: Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "observatory_tests.rs"]
pub(crate) mod tests;
