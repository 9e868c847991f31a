//! OpenTelemetry metrics with semantic-convention names, units and attributes (spec §5).
//!
//! Request-path instruments (`record`, `request_started`) use only static attribute strings and
//! pre-built upstream labels, so recording allocates nothing; everything else is an observable
//! instrument read at collection time (cache usage, upstream health, uptime, memory, drops).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use opentelemetry::metrics::{Counter, Histogram, Meter, UpDownCounter};
use opentelemetry::{Key, KeyValue, Value};

use super::health::ExportHealth;
use super::spans::{attempt_error_type, method_str, request_error_type, UpstreamLabels};
use crate::telemetry::record::RequestRecord;
use crate::telemetry::upstreams::UpstreamBoard;
use crate::telemetry::CacheUsageSource;

/// Semconv bucket boundaries for HTTP durations, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
    KeyValue::new(Key::from_static_str(key), value)
}

/// Components whose uptime is reported, with when each started.
type Components = Arc<Mutex<Vec<(&'static str, Instant)>>>;

struct Instruments {
    server_duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    client_duration: Histogram<f64>,
    cache_requests: Counter<u64>,
    upstreams: UpstreamLabels,
    components: Components,
}

/// The proxy's OpenTelemetry instruments (a no-op when metrics are disabled).
pub struct OtelMetrics {
    inner: Option<Instruments>,
}

impl std::fmt::Debug for OtelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelMetrics")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

/// Resident set size in bytes, from `/proc/self/statm` (None off Linux).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

impl OtelMetrics {
    /// Instruments that record nothing.
    pub fn disabled() -> Self {
        OtelMetrics { inner: None }
    }

    /// Creates every instrument on `meter`; observable ones read `board`, `cache` and `health`.
    pub fn new(
        meter: &Meter,
        board: Arc<UpstreamBoard>,
        cache: CacheUsageSource,
        health: Arc<ExportHealth>,
    ) -> Self {
        let addrs: Vec<_> = (0..board.len()).map(|i| board.addr(i)).collect();
        let upstreams = UpstreamLabels::new(&addrs);
        let components: Components = Arc::new(Mutex::new(vec![("process", Instant::now())]));

        let server_duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        let client_duration = meter
            .f64_histogram("http.client.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP requests to upstreams, per attempt.")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        let active = meter
            .i64_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .build();
        let cache_requests = meter
            .u64_counter("sightline.cache.requests")
            .with_unit("{request}")
            .with_description("Requests by what the cache did for them.")
            .build();

        let c = cache.clone();
        meter
            .u64_observable_gauge("sightline.cache.size")
            .with_unit("By")
            .with_description("Bytes held by the response cache (bodies and headers).")
            .with_callback(move |o| o.observe(c().bytes, &[]))
            .build();
        meter
            .u64_observable_gauge("sightline.cache.entries")
            .with_unit("{entry}")
            .with_description("Entries held by the response cache.")
            .with_callback(move |o| o.observe(cache().entries, &[]))
            .build();
        meter
            .u64_observable_counter("sightline.http.rejected")
            .with_unit("{request}")
            .with_description("Requests refused before reaching an origin, by reason.")
            .with_callback(|o| {
                for r in crate::telemetry::reject::Reason::ALL {
                    let n = crate::telemetry::reject::get(r);
                    o.observe(n, &[kv("reason", r.as_str())]);
                }
            })
            .build();
        let labels = upstreams.clone();
        meter
            .u64_observable_gauge("sightline.upstream.healthy")
            .with_unit("1")
            .with_description("1 when the upstream is in rotation, else 0.")
            .with_callback(move |o| {
                for (id, l) in labels.all().iter().enumerate() {
                    let up = u64::from(board.is_healthy(id));
                    o.observe(up, &[kv("sightline.upstream", l.full.clone())]);
                }
            })
            .build();
        let comps = components.clone();
        meter
            .f64_observable_gauge("sightline.uptime")
            .with_unit("s")
            .with_description("Time since each component started.")
            .with_callback(move |o| {
                let comps = comps.lock().expect("uptime list lock is never poisoned");
                for (name, since) in comps.iter() {
                    o.observe(since.elapsed().as_secs_f64(), &[kv("component", *name)]);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.memory.usage")
            .with_unit("By")
            .with_description("Resident memory of the process.")
            .with_callback(|o| {
                if let Some(b) = resident_bytes() {
                    o.observe(b as i64, &[]);
                }
            })
            .build();
        meter
            .u64_observable_counter("sightline.telemetry.dropped")
            .with_unit("{item}")
            .with_description("Spans and metric points dropped by the exporter.")
            .with_callback(move |o| {
                let f = health.figures();
                o.observe(f.spans_dropped, &[kv("signal", "traces")]);
                o.observe(f.metric_points_dropped, &[kv("signal", "metrics")]);
            })
            .build();

        OtelMetrics {
            inner: Some(Instruments {
                server_duration,
                active,
                client_duration,
                cache_requests,
                upstreams,
                components,
            }),
        }
    }

    /// Reports `sightline.uptime` for one more component, from now.
    pub fn component_started(&self, name: &'static str) {
        if let Some(m) = &self.inner {
            let mut comps = m
                .components
                .lock()
                .expect("uptime list lock is never poisoned");
            comps.retain(|(n, _)| *n != name);
            comps.push((name, Instant::now()));
        }
    }

    /// A request entered the proxy (`http.server.active_requests` + 1).
    pub fn request_started(&self) {
        if let Some(m) = &self.inner {
            m.active.add(1, &[kv("url.scheme", "http")]);
        }
    }

    /// Records one finished request (and ends its `request_started`).
    pub fn record(&self, rec: &RequestRecord<'_>) {
        let Some(m) = &self.inner else { return };
        m.active.add(-1, &[kv("url.scheme", "http")]);
        let method = method_str(rec.method);
        let cache = rec.cache.as_str();

        // Same attributes as the SERVER span's: status when a response was sent, `error.type`
        // for failures (fixed-size array: recording allocates nothing).
        let mut attrs = [
            kv("http.request.method", method),
            kv("sightline.cache.status", cache),
            kv("http.response.status_code", i64::from(rec.status)),
            kv("error.type", ""),
        ];
        let mut n = if rec.status == 0 { 2 } else { 3 };
        if let Some(e) = request_error_type(rec) {
            attrs[n] = KeyValue::new(Key::from_static_str("error.type"), e);
            n += 1;
        }
        m.server_duration
            .record(rec.duration.as_secs_f64(), &attrs[..n]);
        m.cache_requests.add(1, &[kv("result", cache)]);

        let end = rec.start + rec.duration;
        let last = rec.attempts.len().saturating_sub(1);
        for (i, a) in rec.attempts.iter().enumerate() {
            let l = m.upstreams.get(a);
            let took = a.end.unwrap_or(end).saturating_duration_since(a.start);
            let mut attrs = [
                kv("http.request.method", method),
                kv("server.address", l.ip.clone()),
                kv("server.port", l.port),
                kv(
                    "http.response.status_code",
                    i64::from(a.status.unwrap_or(0)),
                ),
                kv("error.type", ""),
            ];
            let mut n = if a.status.is_some() { 4 } else { 3 };
            if let Some(e) = attempt_error_type(rec, a, i == last) {
                attrs[n] = KeyValue::new(Key::from_static_str("error.type"), e);
                n += 1;
            }
            m.client_duration.record(took.as_secs_f64(), &attrs[..n]);
        }
    }
}
