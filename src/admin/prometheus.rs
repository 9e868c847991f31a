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
        let samples = parse(&render(&s, None, Format::Prometheus)).unwrap();
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

    /// A snapshot after sampled requests of these latencies (trace ids 1, 2, ...) and one
    /// unsampled request (trace id 0xee) of the first latency.
    fn traced(latencies: &[Duration]) -> MetricsSnapshot {
        use crate::telemetry::stats::test_support::feed_traced;
        let f = Fixture::new(1, Duration::from_secs(10));
        for (i, &d) in latencies.iter().enumerate() {
            let n = i as u8 + 1;
            feed_traced(f.obs.stats(), d, [n; 16], [n; 8], true);
        }
        feed_traced(f.obs.stats(), latencies[0], [0xee; 16], [0xee; 8], false);
        f.second();
        MetricsSnapshot::clone(&f.obs.snapshot())
    }

    #[test]
    fn openmetrics_buckets_carry_the_sampled_requests_as_exemplars() {
        let ms = Duration::from_millis;
        let latencies = [ms(3), ms(30), ms(60), Duration::from_secs(12)];
        let s = traced(&latencies);
        let text = render(&s, None, Format::OpenMetrics);
        let (samples, exemplars) = check::parse_openmetrics(&text).unwrap();
        assert_eq!(
            exemplars.len(),
            latencies.len(),
            "one per bucket hit: {text}"
        );
        let bounds: Vec<f64> = s
            .totals
            .latency
            .buckets
            .iter()
            .map(|b| b.le.unwrap_or(f64::INFINITY))
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        for (i, d) in latencies.iter().enumerate() {
            let n = i as u8 + 1;
            let trace = crate::telemetry::recent::hex(&[n; 16]);
            let e = exemplars
                .iter()
                .find(|e| e.labels["trace_id"] == trace)
                .unwrap_or_else(|| panic!("no exemplar for {d:?}: {text}"));
            assert_eq!(e.labels["span_id"], crate::telemetry::recent::hex(&[n; 8]));
            assert_eq!(e.value, d.as_secs_f64());
            let le: f64 = e.le.parse().unwrap();
            let below = bounds
                .iter()
                .copied()
                .filter(|&b| b < le)
                .fold(0.0, f64::max);
            assert!(
                below < e.value && e.value <= le,
                "{} not in bucket {le}",
                e.value
            );
            assert!(
                (e.timestamp - now).abs() < 60.0,
                "timestamp {}",
                e.timestamp
            );
        }
        let unsampled = crate::telemetry::recent::hex(&[0xee; 16]);
        assert!(
            !text.contains(&unsampled),
            "an unsampled request became an exemplar"
        );
        // The same figures as the Prometheus text.
        let plain = check::parse(&render(&s, None, Format::Prometheus)).unwrap();
        assert_eq!(samples.len(), plain.len());
        let h = "http_server_request_duration_seconds_count";
        assert_eq!(value(&samples, h, &[]), value(&plain, h, &[]));
        let total = "sightline_requests_total";
        assert_eq!(
            value(&samples, total, &[]),
            Some(latencies.len() as f64 + 1.0)
        );
        assert!(text.contains("# TYPE sightline_requests counter\n"));
        assert!(text.contains("# TYPE sightline_build info\n"));
        assert!(text.contains("le=\"1.0\""), "canonical bounds");
    }

    #[test]
    fn prometheus_text_shows_no_exemplars() {
        let s = traced(&[Duration::from_millis(3), Duration::from_millis(300)]);
        let text = render(&s, None, Format::Prometheus);
        let mut bare = s.clone();
        bare.totals
            .latency
            .buckets
            .iter_mut()
            .for_each(|b| b.exemplar = None);
        assert_eq!(text, render(&bare, None, Format::Prometheus));
        for openmetrics_only in [" # {", "# EOF", "# UNIT", "le=\"1.0\""] {
            assert!(
                !text.contains(openmetrics_only),
                "{openmetrics_only} in {text}"
            );
        }
        assert!(text.contains("# TYPE sightline_requests_total counter\n"));
        assert!(text.contains("# TYPE sightline_build_info gauge\n"));
        assert!(text.contains("le=\"1\""));
    }

    #[test]
    fn the_accept_header_picks_the_format() {
        for (accept, want) in [
            (None, Format::Prometheus),
            (Some("text/plain"), Format::Prometheus),
            (Some("*/*"), Format::Prometheus),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (Some("Application/OpenMetrics-Text; version=1.0.0"), Format::OpenMetrics),
            (Some("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"), Format::OpenMetrics),
            (Some("text/plain, application/openmetrics-text;q=0"), Format::Prometheus),
            (Some("application/openmetrics-text;q=zero"), Format::Prometheus),
        ] {
            assert_eq!(Format::from_accept(accept), want, "{accept:?}");
        }
        let om = Format::OpenMetrics.content_type();
        assert!(om.starts_with("application/openmetrics-text; version=1.0.0"));
    }

    #[test]
    fn openmetrics_checker_rejects_what_the_format_forbids() {
        let ok = "# HELP c h\n# TYPE c counter\nc_total 1 # {trace_id=\"ab\"} 1 2\n# EOF\n";
        assert!(check::parse_openmetrics(ok).is_ok());
        let cases = [
            (ok.replace("# EOF\n", ""), "no EOF"),
            (ok.replace("c counter", "c gauge"), "exemplar on a gauge"),
            (
                ok.replace("TYPE c ", "TYPE c_total ")
                    .replace("HELP c ", "HELP c_total "),
                "_total family",
            ),
            (ok.replace("ab", &"a".repeat(130)), "long exemplar"),
            (ok.replace("# EOF", "\n# EOF"), "blank line"),
            (
                format!("{}{ok}", ok.replace("# EOF\n", "")),
                "two families c",
            ),
            (
                ok.replace("# EOF", "# UNIT c seconds\n# EOF"),
                "unit not in the name",
            ),
        ];
        for (text, why) in cases {
            assert!(check::parse_openmetrics(&text).is_err(), "{why}: {text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(out::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
