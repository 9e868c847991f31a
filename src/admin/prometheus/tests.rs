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
