//! The text dashboard (spec §7): a pure function of a snapshot.
//!
//! Rates, averages and the error rate are over `dashboard.window`; hit and miss counts, and the
//! hit ratio printed next to them, are since start. A stale entry counts as a miss (it cost an
//! upstream trip), so the ratio always equals hits / (hits + misses) as printed.

use std::fmt::Write;

use crate::observe::format::{one_decimal, uptime_long};
use crate::observe::snapshot::MetricsSnapshot;

// Re-exported only so `dashboard/tui.rs` (rewritten on another branch) still builds; new code
// imports it from `observe::format`.
#[doc(hidden)]
pub use crate::observe::format::figure;

const RULE: &str = "-----------------------------------";

/// Renders the dashboard, one line per figure, ending with a newline.
pub fn render(s: &MetricsSnapshot) -> String {
    let w = &s.window;
    let c = &s.totals.cache;
    let misses = c.misses_incl_stale();
    let mut out = String::with_capacity(512);
    // Writing into a String cannot fail.
    let _ = (|| -> std::fmt::Result {
        writeln!(out, "Real-Time Metrics Dashboard:")?;
        writeln!(out, "{RULE}")?;
        writeln!(
            out,
            "Requests per second: {}",
            figure(w.requests_per_second)
        )?;
        writeln!(
            out,
            "Average Response Time: {} ms (p50 {} ms, p99 {} ms)",
            figure(w.avg_response_time_ms),
            figure(w.p50_ms),
            figure(w.p99_ms)
        )?;
        writeln!(
            out,
            "Cache Hit Ratio: {:.0}% (Cache Hits: {}, Cache Misses: {})",
            s.totals.cache_hit_ratio_percent, c.hit, misses
        )?;
        writeln!(out, "Error Rate: {}%", one_decimal(w.error_rate_percent))?;
        let up = &s.components;
        writeln!(
            out,
            "HTTP Server Uptime: {}",
            uptime_long(up.http_server.uptime_seconds)
        )?;
        writeln!(
            out,
            "Load Balancer Uptime: {}",
            uptime_long(up.load_balancer.uptime_seconds)
        )?;
        writeln!(
            out,
            "Cache Uptime: {}",
            uptime_long(up.cache.uptime_seconds)
        )?;
        writeln!(
            out,
            "Upstreams: {}/{} healthy",
            s.healthy_upstreams, s.total_upstreams
        )?;
        for u in s.upstreams.iter().filter(|u| u.ejected) {
            let left = u
                .ejected_until_unix_ms
                .map(|t| t.saturating_sub(s.generated_unix_ms) as f64 / 1000.0)
                .unwrap_or(0.0);
            writeln!(
                out,
                "Ejected: {} for {} s more ({})",
                u.address,
                one_decimal(left),
                u.ejection_reason.as_deref().unwrap_or("outlier detection")
            )?;
        }
        writeln!(out, "Active Alerts: {}", alerts_line(s))?;
        writeln!(out, "{RULE}")
    })();
    out
}

fn alerts_line(s: &MetricsSnapshot) -> String {
    if s.alerts.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<String> = s
        .alerts
        .iter()
        .map(|a| format!("{} [{}]", a.label(), a.severity.as_str()))
        .collect();
    format!("{} ({})", s.alerts.len(), names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::snapshot::*;

    fn golden_snapshot() -> MetricsSnapshot {
        let day = 86_400.0;
        let mut s = MetricsSnapshot {
            healthy_upstreams: 3,
            total_upstreams: 3,
            ..Default::default()
        };
        s.window.requests_per_second = 120.2;
        s.window.avg_response_time_ms = 85.2;
        s.window.p50_ms = 40.4;
        s.window.p99_ms = 310.0;
        s.window.error_rate_percent = 0.2;
        s.totals.cache = CacheCounts {
            hit: 300,
            miss: 90,
            stale: 10,
            bypass: 7,
        };
        s.totals.cache_hit_ratio_percent = s.totals.cache.hit_ratio_percent();
        s.components.http_server.uptime_seconds = 2.0 * day + 4.0 * 3600.0 + 12.0 * 60.0 + 5.0;
        s.components.load_balancer.uptime_seconds = 2.0 * day + 4.0 * 3600.0 + 10.0 * 60.0;
        s.components.cache.uptime_seconds = 2.0 * day + 4.0 * 3600.0 + 12.0 * 60.0;
        s
    }

    #[test]
    fn golden_render_matches_the_spec() {
        let want = "\
Real-Time Metrics Dashboard:
-----------------------------------
Requests per second: 120
Average Response Time: 85 ms (p50 40 ms, p99 310 ms)
Cache Hit Ratio: 75% (Cache Hits: 300, Cache Misses: 100)
Error Rate: 0.2%
HTTP Server Uptime: 2 days, 4 hours, 12 minutes
Load Balancer Uptime: 2 days, 4 hours, 10 minutes
Cache Uptime: 2 days, 4 hours, 12 minutes
Upstreams: 3/3 healthy
Active Alerts: none
-----------------------------------
";
        assert_eq!(render(&golden_snapshot()), want);
    }

    #[test]
    fn alerts_and_small_figures() {
        let mut s = golden_snapshot();
        s.window.requests_per_second = 2.5;
        s.window.avg_response_time_ms = 0.42;
        s.window.error_rate_percent = 0.0;
        s.healthy_upstreams = 2;
        s.alerts = vec![
            ActiveAlert {
                name: "high_latency".into(),
                severity: AlertLevel::Warning,
                ..Default::default()
            },
            ActiveAlert {
                name: "upstream_down".into(),
                target: Some("127.0.0.1:9002".into()),
                severity: AlertLevel::Warning,
                ..Default::default()
            },
        ];
        let out = render(&s);
        assert!(out.contains("Requests per second: 2.5\n"), "{out}");
        assert!(out.contains("Average Response Time: 0.4 ms"), "{out}");
        assert!(out.contains("Error Rate: 0%\n"), "{out}");
        assert!(out.contains("Upstreams: 2/3 healthy\n"), "{out}");
        assert!(!out.contains("Ejected"), "{out}");
        assert!(out.contains(
            "Active Alerts: 2 (high_latency [warning], upstream_down(127.0.0.1:9002) [warning])\n"
        ));
    }

    #[test]
    fn ejected_upstreams_get_a_line() {
        let mut s = golden_snapshot();
        s.generated_unix_ms = 1_000_000;
        s.upstreams = vec![UpstreamFigures {
            address: "127.0.0.1:9002".into(),
            healthy: true,
            ejected: true,
            ejected_until_unix_ms: Some(1_012_500),
            ejection_reason: Some("5 consecutive failures (last: 5xx responses)".into()),
            ejections: 1,
            ..Default::default()
        }];
        let out = render(&s);
        assert!(
            out.contains("Ejected: 127.0.0.1:9002 for 12.5 s more (5 consecutive failures (last: 5xx responses))\n"),
            "{out}"
        );
    }
}
