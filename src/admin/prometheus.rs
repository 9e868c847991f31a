//! `GET /metrics`: the Prometheus text exposition (format 0.0.4) of one snapshot, so it always
//! agrees with `/api/summary`, or OpenMetrics 1.0 when the scrape's `Accept` asks for it, whose
//! latency buckets carry exemplars (the trace of the newest sampled request in each). Names
//! follow the spec's OpenTelemetry names in Prometheus style
//! (`http.server.request.duration` → `http_server_request_duration_seconds`).

use crate::observe::snapshot::{AlertLevel, MetricsSnapshot};
use crate::reload::ReloadStatus;

#[path = "prometheus_out.rs"]
mod out;

pub use out::Format;
use out::{Kind, Out};

/// Renders every metric of a snapshot, and the config reload counts when reloads are on.
pub fn render(s: &MetricsSnapshot, reload: Option<&ReloadStatus>, format: Format) -> String {
    let mut o = Out::new(format);
    let t = &s.totals;
    let w = &s.window;

    let h = "http_server_request_duration_seconds";
    o.family(h, Kind::Histogram, "Duration of HTTP server requests.");
    for b in &t.latency.buckets {
        o.bucket(&format!("{h}_bucket"), b.le, b.count, b.exemplar.as_ref());
    }
    o.sample(&format!("{h}_sum"), &[], t.latency.sum_seconds);
    o.sample(&format!("{h}_count"), &[], t.latency.count);

    o.one(
        "http_server_active_requests",
        Kind::Gauge,
        "Requests in flight.",
        s.queue_size,
    );
    o.one(
        "sightline_requests_total",
        Kind::Counter,
        "Requests finished since start.",
        t.requests,
    );
    o.family(
        "sightline_responses_total",
        Kind::Counter,
        "Responses by status class.",
    );
    let st = &t.status;
    for (class, n) in [
        ("1xx", st.s1xx),
        ("2xx", st.s2xx),
        ("3xx", st.s3xx),
        ("4xx", st.s4xx),
        ("5xx", st.s5xx),
    ] {
        o.sample("sightline_responses_total", &[("class", class)], n);
    }
    o.one(
        "sightline_errors_total",
        Kind::Counter,
        "Requests answered 5xx or not at all.",
        t.errors,
    );
    o.one(
        "sightline_bytes_sent_total",
        Kind::Counter,
        "Response body bytes sent.",
        t.bytes_sent,
    );
    o.one(
        "sightline_telemetry_dropped_total",
        Kind::Counter,
        "Spans and metric points the OTLP exporter dropped.",
        s.telemetry.spans_dropped + s.telemetry.metric_points_dropped,
    );
    o.one(
        "sightline_telemetry_spans_dropped_buffer_full_total",
        Kind::Counter,
        "Spans dropped because the exporter held telemetry.max_buffer bytes.",
        s.telemetry.spans_dropped_buffer_full,
    );
    o.one(
        "sightline_telemetry_spans_exported_total",
        Kind::Counter,
        "Spans the OTLP collector accepted.",
        s.telemetry.spans_exported,
    );

    o.family(
        "sightline_http_rejected_total",
        Kind::Counter,
        "Requests refused before reaching an origin, by reason.",
    );
    for (reason, n) in &s.rejected {
        o.sample("sightline_http_rejected_total", &[("reason", reason)], n);
    }
    o.family(
        "sightline_cache_requests_total",
        Kind::Counter,
        "Requests by cache outcome.",
    );
    let c = &t.cache;
    for (result, n) in [
        ("hit", c.hit),
        ("miss", c.miss),
        ("stale", c.stale),
        ("bypass", c.bypass),
    ] {
        o.sample("sightline_cache_requests_total", &[("result", result)], n);
    }
    o.one(
        "sightline_cache_size_bytes",
        Kind::Gauge,
        "Bytes the cache holds.",
        s.cache.size_bytes,
    );
    o.one(
        "sightline_cache_entries",
        Kind::Gauge,
        "Entries the cache holds.",
        s.cache.entries,
    );

    type Pick = fn(&crate::observe::snapshot::UpstreamFigures) -> f64;
    let per_upstream: [(&str, Kind, &str, Pick); 7] = [
        (
            "sightline_upstream_healthy",
            Kind::Gauge,
            "1 when the upstream is in rotation.",
            |u| u8::from(u.healthy).into(),
        ),
        (
            "sightline_upstream_in_flight",
            Kind::Gauge,
            "Requests waiting on the upstream.",
            |u| u.in_flight as f64,
        ),
        (
            "sightline_upstream_requests_total",
            Kind::Counter,
            "Attempts sent to the upstream.",
            |u| u.requests as f64,
        ),
        (
            "sightline_upstream_errors_total",
            Kind::Counter,
            "Attempts failed or answered 5xx.",
            |u| u.errors as f64,
        ),
        (
            "sightline_upstream_latency_seconds_total",
            Kind::Counter,
            "Sum of attempt latencies.",
            |u| u.latency_sum_seconds,
        ),
        (
            "sightline_upstream_ejected",
            Kind::Gauge,
            "1 while outlier detection holds the upstream out of rotation.",
            |u| u8::from(u.ejected).into(),
        ),
        (
            "sightline_upstream_ejections_total",
            Kind::Counter,
            "Times outlier detection ejected the upstream.",
            |u| u.ejections as f64,
        ),
    ];
    for (name, kind, help, pick) in per_upstream {
        o.family(name, kind, help);
        for u in &s.upstreams {
            o.sample(name, &[("upstream", &u.address)], pick(u));
        }
    }

    o.family(
        "sightline_uptime_seconds",
        Kind::Gauge,
        "Seconds since each component started.",
    );
    let cs = &s.components;
    for (component, up) in [
        ("http_server", &cs.http_server),
        ("cache", &cs.cache),
        ("load_balancer", &cs.load_balancer),
    ] {
        let labels = [("component", component)];
        o.sample("sightline_uptime_seconds", &labels, up.uptime_seconds);
    }
    o.one(
        "process_memory_usage_bytes",
        Kind::Gauge,
        "Resident set size.",
        s.memory_usage_bytes,
    );

    let win = format!("{}", w.window_seconds);
    let wl = [("window_seconds", win.as_str())];
    o.family(
        "sightline_window_requests_per_second",
        Kind::Gauge,
        "Requests per second over the sliding window.",
    );
    o.sample(
        "sightline_window_requests_per_second",
        &wl,
        w.requests_per_second,
    );
    o.family(
        "sightline_window_response_time_seconds",
        Kind::Gauge,
        "Latency statistics over the sliding window.",
    );
    for (stat, ms) in [
        ("avg", w.avg_response_time_ms),
        ("p50", w.p50_ms),
        ("p95", w.p95_ms),
        ("p99", w.p99_ms),
    ] {
        let labels = [("window_seconds", win.as_str()), ("stat", stat)];
        o.sample(
            "sightline_window_response_time_seconds",
            &labels,
            ms / 1000.0,
        );
    }
    o.family(
        "sightline_window_error_ratio",
        Kind::Gauge,
        "Errors over requests in the sliding window.",
    );
    o.sample(
        "sightline_window_error_ratio",
        &wl,
        w.error_rate_percent / 100.0,
    );
    o.family(
        "sightline_window_cache_hit_ratio",
        Kind::Gauge,
        "Hits over cacheable lookups in the sliding window.",
    );
    o.sample(
        "sightline_window_cache_hit_ratio",
        &wl,
        w.cache_hit_ratio_percent / 100.0,
    );

    o.family(
        "sightline_alerts_active",
        Kind::Gauge,
        "Alerts firing, by severity.",
    );
    for level in [AlertLevel::Info, AlertLevel::Warning, AlertLevel::Critical] {
        let n = s.alerts.iter().filter(|a| a.severity == level).count();
        o.sample(
            "sightline_alerts_active",
            &[("severity", level.as_str())],
            n,
        );
    }
    o.family(
        "sightline_build_info",
        Kind::Info,
        "Always 1; labels say the version.",
    );
    o.sample("sightline_build_info", &[("version", &s.version)], 1);
    connections(&mut o);
    if let Some(st) = reload {
        reloads(&mut o, st);
    }
    o.finish()
}

/// Config reloads by result (`POST /api/config/reload`, SIGHUP).
fn reloads(o: &mut Out, st: &ReloadStatus) {
    let name = "sightline_config_reloads_total";
    o.family(name, Kind::Counter, "Config reloads, by result.");
    o.sample(name, &[("result", "ok")], st.count_ok);
    o.sample(name, &[("result", "refused")], st.count_failed);
}

/// The client-connection gauges and counters (process-wide, see `telemetry::connections`).
fn connections(o: &mut Out) {
    let c = crate::telemetry::connections::connections().figures();
    o.one(
        "sightline_connections_open",
        Kind::Gauge,
        "Client connections open.",
        c.open,
    );
    o.one(
        "sightline_connections_half_open",
        Kind::Gauge,
        "Client connections that have not finished a request header.",
        c.half_open,
    );
    o.one(
        "sightline_connections_shed_total",
        Kind::Counter,
        "Half-open client connections closed to make room at max_connections.",
        c.shed,
    );
    o.one(
        "sightline_connections_refused_total",
        Kind::Counter,
        "Client connections refused at max_connections.",
        c.refused,
    );
    o.one(
        "sightline_connections_header_timeouts_total",
        Kind::Counter,
        "Client connections closed because a request header exceeded header_timeout.",
        c.header_timeouts,
    );
    o.one(
        "sightline_connections_idle_closed_total",
        Kind::Counter,
        "Keep-alive client connections closed after idle_timeout.",
        c.idle_closed,
    );
    o.one(
        "sightline_connections_client_errors_total",
        Kind::Counter,
        "Client-caused connection errors (hang-ups, resets, garbage), logged at debug.",
        c.client_errors,
    );
}

/// A minimal parser of the exposition for tests: checks the structure and returns samples.
#[cfg(test)]
#[path = "prometheus_check.rs"]
pub(crate) mod check;

#[cfg(test)]
mod tests;
