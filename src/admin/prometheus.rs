//! `GET /metrics`: the Prometheus text exposition (format 0.0.4) of one snapshot, so it always
//! agrees with `/api/summary`. Names follow the spec's OpenTelemetry names in Prometheus style
//! (`http.server.request.duration` → `http_server_request_duration_seconds`).

use std::fmt::Write;

use crate::observe::snapshot::{AlertLevel, MetricsSnapshot};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric of a snapshot.
pub fn render(s: &MetricsSnapshot) -> String {
    let mut o = Out(String::with_capacity(4096));
    let t = &s.totals;
    let w = &s.window;

    let h = "http_server_request_duration_seconds";
    o.family(h, "histogram", "Duration of HTTP server requests.");
    for b in &t.latency.buckets {
        let le = b.le.map_or_else(|| "+Inf".to_owned(), |v| v.to_string());
        o.sample(&format!("{h}_bucket"), &[("le", &le)], b.count);
    }
    o.sample(&format!("{h}_sum"), &[], t.latency.sum_seconds);
    o.sample(&format!("{h}_count"), &[], t.latency.count);

    o.one(
        "http_server_active_requests",
        "gauge",
        "Requests in flight.",
        s.queue_size,
    );
    o.one(
        "sightline_requests_total",
        "counter",
        "Requests finished since start.",
        t.requests,
    );
    o.family(
        "sightline_responses_total",
        "counter",
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
        "counter",
        "Requests answered 5xx or not at all.",
        t.errors,
    );
    o.one(
        "sightline_bytes_sent_total",
        "counter",
        "Response body bytes sent.",
        t.bytes_sent,
    );
    o.one(
        "sightline_telemetry_dropped_total",
        "counter",
        "Spans and metric points the OTLP exporter dropped.",
        s.telemetry.spans_dropped + s.telemetry.metric_points_dropped,
    );
    o.one(
        "sightline_telemetry_spans_dropped_buffer_full_total",
        "counter",
        "Spans dropped because the exporter held telemetry.max_buffer bytes.",
        s.telemetry.spans_dropped_buffer_full,
    );
    o.one(
        "sightline_telemetry_spans_exported_total",
        "counter",
        "Spans the OTLP collector accepted.",
        s.telemetry.spans_exported,
    );

    o.family(
        "sightline_http_rejected_total",
        "counter",
        "Requests refused before reaching an origin, by reason.",
    );
    for (reason, n) in &s.rejected {
        o.sample("sightline_http_rejected_total", &[("reason", reason)], n);
    }
    o.family(
        "sightline_cache_requests_total",
        "counter",
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
        "gauge",
        "Bytes the cache holds.",
        s.cache.size_bytes,
    );
    o.one(
        "sightline_cache_entries",
        "gauge",
        "Entries the cache holds.",
        s.cache.entries,
    );

    type Pick = fn(&crate::observe::snapshot::UpstreamFigures) -> f64;
    let per_upstream: [(&str, &str, &str, Pick); 7] = [
        (
            "sightline_upstream_healthy",
            "gauge",
            "1 when the upstream is in rotation.",
            |u| u8::from(u.healthy).into(),
        ),
        (
            "sightline_upstream_in_flight",
            "gauge",
            "Requests waiting on the upstream.",
            |u| u.in_flight as f64,
        ),
        (
            "sightline_upstream_requests_total",
            "counter",
            "Attempts sent to the upstream.",
            |u| u.requests as f64,
        ),
        (
            "sightline_upstream_errors_total",
            "counter",
            "Attempts failed or answered 5xx.",
            |u| u.errors as f64,
        ),
        (
            "sightline_upstream_latency_seconds_total",
            "counter",
            "Sum of attempt latencies.",
            |u| u.latency_sum_seconds,
        ),
        (
            "sightline_upstream_ejected",
            "gauge",
            "1 while outlier detection holds the upstream out of rotation.",
            |u| u8::from(u.ejected).into(),
        ),
        (
            "sightline_upstream_ejections_total",
            "counter",
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
        "gauge",
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
        "gauge",
        "Resident set size.",
        s.memory_usage_bytes,
    );

    let win = format!("{}", w.window_seconds);
    let wl = [("window_seconds", win.as_str())];
    o.family(
        "sightline_window_requests_per_second",
        "gauge",
        "Requests per second over the sliding window.",
    );
    o.sample(
        "sightline_window_requests_per_second",
        &wl,
        w.requests_per_second,
    );
    o.family(
        "sightline_window_response_time_seconds",
        "gauge",
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
        "gauge",
        "Errors over requests in the sliding window.",
    );
    o.sample(
        "sightline_window_error_ratio",
        &wl,
        w.error_rate_percent / 100.0,
    );
    o.family(
        "sightline_window_cache_hit_ratio",
        "gauge",
        "Hits over cacheable lookups in the sliding window.",
    );
    o.sample(
        "sightline_window_cache_hit_ratio",
        &wl,
        w.cache_hit_ratio_percent / 100.0,
    );

    o.family(
        "sightline_alerts_active",
        "gauge",
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
        "gauge",
        "Always 1; labels say the version.",
    );
    o.sample("sightline_build_info", &[("version", &s.version)], 1);
    connections(&mut o);
    o.0
}

/// The client-connection gauges and counters (process-wide, see `telemetry::connections`).
fn connections(o: &mut Out) {
    let c = crate::telemetry::connections::connections().figures();
    o.one(
        "sightline_connections_open",
        "gauge",
        "Client connections open.",
        c.open,
    );
    o.one(
        "sightline_connections_half_open",
        "gauge",
        "Client connections that have not finished a request header.",
        c.half_open,
    );
    o.one(
        "sightline_connections_shed_total",
        "counter",
        "Half-open client connections closed to make room at max_connections.",
        c.shed,
    );
    o.one(
        "sightline_connections_refused_total",
        "counter",
        "Client connections refused at max_connections.",
        c.refused,
    );
    o.one(
        "sightline_connections_header_timeouts_total",
        "counter",
        "Client connections closed because a request header exceeded header_timeout.",
        c.header_timeouts,
    );
    o.one(
        "sightline_connections_idle_closed_total",
        "counter",
        "Keep-alive client connections closed after idle_timeout.",
        c.idle_closed,
    );
    o.one(
        "sightline_connections_client_errors_total",
        "counter",
        "Client-caused connection errors (hang-ups, resets, garbage), logged at debug.",
        c.client_errors,
    );
}

/// A minimal parser of the exposition for tests: checks the structure and returns samples.
#[cfg(test)]
#[path = "prometheus_check.rs"]
pub(crate) mod check;

#[cfg(test)]
mod tests {
    use super::check::{parse, value};
    use super::*;
    use crate::observe::observatory::tests::Fixture;
    use crate::telemetry::record::CacheOutcome;
    use std::time::Duration;

    #[test]
    fn exposition_parses_and_matches_the_snapshot() {
        let f = Fixture::new(2, Duration::from_secs(10));
        f.feed(10, 200, CacheOutcome::Miss, 3);
        f.feed(30, 200, CacheOutcome::Hit, 1);
        f.feed(2, 502, CacheOutcome::Bypass, 40);
        f.obs.board().set_healthy(1, false);
        f.second();
        let s = f.obs.snapshot();
        let samples = parse(&render(&s)).unwrap();
        let v = |n: &str, l: &[(&str, &str)]| value(&samples, n, l).unwrap();
        assert_eq!(v("sightline_requests_total", &[]), 42.0);
        assert_eq!(
            v("sightline_cache_requests_total", &[("result", "hit")]),
            30.0
        );
        assert_eq!(v("sightline_responses_total", &[("class", "5xx")]), 2.0);
        assert_eq!(v("http_server_request_duration_seconds_count", &[]), 42.0);
        assert_eq!(
            v(
                "http_server_request_duration_seconds_bucket",
                &[("le", "0.005")]
            ),
            40.0
        );
        assert_eq!(
            v(
                "http_server_request_duration_seconds_bucket",
                &[("le", "0.05")]
            ),
            42.0
        );
        let sum = v("http_server_request_duration_seconds_sum", &[]);
        assert!((sum - 0.14).abs() < 1e-9, "{sum}");
        let up = [("upstream", "127.0.0.1:9002")];
        assert_eq!(v("sightline_upstream_healthy", &up), 0.0);
        assert_eq!(
            v(
                "sightline_upstream_requests_total",
                &[("upstream", "127.0.0.1:9001")]
            ),
            42.0
        );
        assert_eq!(v("sightline_cache_entries", &[]), 42.0);
    }

    #[test]
    fn checker_rejects_broken_expositions() {
        assert!(parse("x 1\n").is_err(), "no TYPE");
        assert!(
            parse("# HELP x h\n# TYPE x gauge\nx one\n").is_err(),
            "bad value"
        );
        let split = "# HELP a h\n# TYPE a gauge\n# HELP b h\n# TYPE b gauge\na 1\nb 1\na 2\n";
        assert!(parse(split).is_err(), "not contiguous");
        let hist = "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n";
        assert!(parse(hist).is_err(), "not cumulative");
        assert!(parse("# HELP a h\n# TYPE a gauge\na{l=\"q\\\"x\"} 1\n").is_ok());
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
