//! The shapes readers answer with, each a pure function of one snapshot: the health status
//! rule, the `/health` body (spec §6 field names), and the [`Summary`] of `/api/summary`, the
//! stream and `sightline top`, with trace links.
//!
//! healthy: every upstream up and no warning or critical alert; degraded: some upstream down or
//! a warning alert; unhealthy (HTTP 503): no upstream up or a critical alert. The hit ratio is
//! since start, like the text dashboard's; rates and averages are over `dashboard.window`.

use serde::{Deserialize, Serialize};

use super::format::{mib, round, uptime_short};
use super::snapshot::{AlertLevel, MetricsSnapshot};
use crate::telemetry::recent::RequestInfo;

/// The overall or a component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything in order.
    Healthy,
    /// Serving, with something wrong.
    Degraded,
    /// Not able to serve (HTTP 503).
    Unhealthy,
    /// Switched off by config (the cache).
    Disabled,
}

/// The overall status of a snapshot.
pub fn status(s: &MetricsSnapshot) -> HealthStatus {
    let worst = s.worst_alert();
    if s.healthy_upstreams == 0 || worst == Some(AlertLevel::Critical) {
        HealthStatus::Unhealthy
    } else if s.healthy_upstreams < s.total_upstreams || worst == Some(AlertLevel::Warning) {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    }
}

/// One component's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentHealth {
    /// Its state.
    pub status: HealthStatus,
    /// Uptime in words ("2 days 4 hours").
    pub uptime: String,
    /// Uptime, whole seconds.
    pub uptime_seconds: u64,
}

/// The three components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentsHealth {
    /// The client-facing server.
    pub http_server: ComponentHealth,
    /// The response cache.
    pub cache: ComponentHealth,
    /// The balancer.
    pub load_balancer: ComponentHealth,
}

/// One upstream's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamHealthEntry {
    /// Address.
    pub address: String,
    /// In rotation.
    pub healthy: bool,
    /// Requests waiting on it.
    pub in_flight: u64,
    /// Attempts since start.
    pub requests: u64,
    /// Failed or 5xx attempts since start.
    pub errors: u64,
    /// Mean attempt latency since start, ms.
    pub avg_response_time_ms: f64,
}

/// Alert counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertCounts {
    /// Firing now.
    pub active: usize,
    /// Of which critical.
    pub critical: usize,
    /// Of which warnings.
    pub warning: usize,
}

/// The `/health` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthBody {
    /// Overall state.
    pub status: HealthStatus,
    /// Uptime in words.
    pub uptime: String,
    /// Uptime, whole seconds.
    pub uptime_seconds: u64,
    /// Resident memory, MiB.
    pub memory_usage_mb: f64,
    /// Process CPU over the last second, percent of one core.
    #[serde(default)]
    pub cpu_percent: f64,
    /// Client connections open now.
    #[serde(default)]
    pub connections: u64,
    /// Bytes the cache holds, MiB.
    pub cache_size_mb: f64,
    /// Entries the cache holds.
    pub cache_entries: u64,
    /// Requests in flight.
    pub queue_size: u64,
    /// Over the window.
    pub requests_per_second: f64,
    /// Over the window, ms.
    pub avg_response_time_ms: f64,
    /// Hits over cacheable lookups since start, 0..=1.
    pub cache_hit_ratio: f64,
    /// Per component.
    pub components: ComponentsHealth,
    /// Per upstream.
    pub upstreams: Vec<UpstreamHealthEntry>,
    /// Alerts firing.
    pub alerts: AlertCounts,
    /// The window rates and averages are over, seconds.
    pub window_seconds: f64,
    /// sightline's version.
    pub version: String,
}

fn component(status: HealthStatus, seconds: f64) -> ComponentHealth {
    ComponentHealth {
        status,
        uptime: uptime_short(seconds),
        uptime_seconds: seconds as u64,
    }
}

/// The body for a snapshot.
pub fn body(s: &MetricsSnapshot) -> HealthBody {
    let lb = if s.healthy_upstreams == 0 {
        HealthStatus::Unhealthy
    } else if s.healthy_upstreams < s.total_upstreams {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    let cache = if s.cache.enabled {
        HealthStatus::Healthy
    } else {
        HealthStatus::Disabled
    };
    let count = |l: AlertLevel| s.alerts.iter().filter(|a| a.severity == l).count();
    HealthBody {
        status: status(s),
        uptime: uptime_short(s.uptime_seconds),
        uptime_seconds: s.uptime_seconds as u64,
        memory_usage_mb: round(s.memory_usage_mb(), 1),
        cpu_percent: round(s.cpu_percent, 1),
        connections: s.connections,
        cache_size_mb: round(mib(s.cache.size_bytes), 1),
        cache_entries: s.cache.entries,
        queue_size: s.queue_size,
        requests_per_second: round(s.window.requests_per_second, 1),
        avg_response_time_ms: round(s.window.avg_response_time_ms, 1),
        cache_hit_ratio: round(s.totals.cache_hit_ratio_percent / 100.0, 4),
        components: ComponentsHealth {
            http_server: component(
                HealthStatus::Healthy,
                s.components.http_server.uptime_seconds,
            ),
            cache: component(cache, s.components.cache.uptime_seconds),
            load_balancer: component(lb, s.components.load_balancer.uptime_seconds),
        },
        upstreams: s
            .upstreams
            .iter()
            .map(|u| UpstreamHealthEntry {
                address: u.address.clone(),
                healthy: u.healthy,
                in_flight: u.in_flight,
                requests: u.requests,
                errors: u.errors,
                avg_response_time_ms: round(u.avg_response_time_ms, 1),
            })
            .collect(),
        alerts: AlertCounts {
            active: s.alerts.len(),
            critical: count(AlertLevel::Critical),
            warning: count(AlertLevel::Warning),
        },
        window_seconds: s.window.window_seconds,
        version: s.version.clone(),
    }
}

/// A request with its trace link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedRequest {
    /// The request.
    #[serde(flatten)]
    pub request: RequestInfo,
    /// `{jaeger_ui_url}/trace/{trace_id}` when both are known.
    pub trace_url: Option<String>,
}

/// Where trace ids link to: `telemetry.jaeger_ui_url` (or the embedded UI's `/jaeger`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceLinks {
    base: String,
}

impl TraceLinks {
    /// Links under `base` (a trailing `/` is dropped; empty: no links).
    pub fn new(base: &str) -> Self {
        TraceLinks {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The base, when links are on.
    pub fn base(&self) -> Option<&str> {
        (!self.base.is_empty()).then_some(self.base.as_str())
    }

    /// `{base}/trace/{id}` for a trace id, when links are on.
    pub fn url(&self, trace_id: Option<&str>) -> Option<String> {
        Some(format!("{}/trace/{}", self.base()?, trace_id?))
    }

    /// The request with its link.
    pub fn link(&self, request: RequestInfo) -> LinkedRequest {
        LinkedRequest {
            trace_url: self.url(request.trace_id.as_deref()),
            request,
        }
    }
}

/// `GET /api/summary`: every current figure (also each stream message's `summary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `/health`'s overall status.
    pub status: HealthStatus,
    /// The snapshot's figures, at the top level.
    #[serde(flatten)]
    pub snapshot: MetricsSnapshot,
    /// The 10 slowest requests in the window, slowest first, with trace links.
    pub slowest: Vec<LinkedRequest>,
    /// The trace UI base links point under, when configured.
    pub jaeger_ui_url: Option<String>,
    /// Half-open connections shed at `max_connections` (`connections`, open now, is in the
    /// snapshot above).
    #[serde(default)]
    pub connections_shed: u64,
    /// Every client-connection figure: open, half-open, shed, refused, timeouts, client errors.
    #[serde(default)]
    pub connection_stats: crate::telemetry::connections::ConnectionFigures,
}

impl Summary {
    /// The summary of a snapshot (its `alerts` already combined in by the reader).
    pub fn new(snapshot: MetricsSnapshot, links: &TraceLinks) -> Self {
        let slowest = snapshot
            .window
            .slowest
            .iter()
            .cloned()
            .map(|r| links.link(r))
            .collect();
        let conns = crate::telemetry::connections::connections().figures();
        Summary {
            status: status(&snapshot),
            snapshot,
            slowest,
            jaeger_ui_url: links.base().map(str::to_owned),
            connections_shed: conns.shed,
            connection_stats: conns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::snapshot::{ActiveAlert, UpstreamFigures};

    fn snap(healthy: &[bool], alerts: &[AlertLevel]) -> MetricsSnapshot {
        let upstreams: Vec<UpstreamFigures> = healthy
            .iter()
            .map(|&healthy| UpstreamFigures {
                healthy,
                ..Default::default()
            })
            .collect();
        MetricsSnapshot {
            healthy_upstreams: healthy.iter().filter(|&&h| h).count(),
            total_upstreams: healthy.len(),
            upstreams,
            alerts: alerts
                .iter()
                .map(|&severity| ActiveAlert {
                    severity,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn status_rules() {
        use AlertLevel::*;
        use HealthStatus::*;
        let cases: [(&[bool], &[AlertLevel], HealthStatus); 7] = [
            (&[true, true], &[], Healthy),
            (&[true, true], &[Info], Healthy),
            (&[true, false], &[], Degraded),
            (&[true, true], &[Warning], Degraded),
            (&[false, false], &[], Unhealthy),
            (&[true, true], &[Warning, Critical], Unhealthy),
            (&[], &[], Unhealthy),
        ];
        for (up, alerts, want) in cases {
            assert_eq!(status(&snap(up, alerts)), want, "{up:?} {alerts:?}");
        }
    }

    #[test]
    fn body_uses_the_spec_field_names() {
        let mut s = snap(&[true, false], &[AlertLevel::Warning]);
        s.uptime_seconds = 187_200.0;
        s.components.load_balancer.uptime_seconds = 187_200.0;
        s.totals.cache_hit_ratio_percent = 75.0;
        s.cache.size_bytes = 50 << 20;
        let v = serde_json::to_value(body(&s)).unwrap();
        for key in [
            "status",
            "uptime",
            "uptime_seconds",
            "memory_usage_mb",
            "cpu_percent",
            "connections",
            "cache_size_mb",
            "cache_entries",
            "queue_size",
            "requests_per_second",
            "avg_response_time_ms",
            "cache_hit_ratio",
            "components",
            "upstreams",
            "alerts",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["status"], "degraded");
        assert_eq!(v["uptime"], "2 days 4 hours");
        assert_eq!(v["cache_hit_ratio"], 0.75);
        assert_eq!(v["cache_size_mb"], 50.0);
        assert_eq!(v["components"]["load_balancer"]["status"], "degraded");
        assert_eq!(v["components"]["cache"]["status"], "disabled");
        assert_eq!(v["components"]["http_server"]["uptime_seconds"], 0);
        assert_eq!(v["alerts"]["active"], 1);
        for key in ["address", "healthy", "in_flight", "requests", "errors"] {
            assert!(v["upstreams"][0].get(key).is_some(), "upstream {key}");
        }
    }

    #[test]
    fn summary_links_slow_requests_to_traces() {
        let mut s = snap(&[true], &[]);
        let req = |trace: Option<&str>| RequestInfo {
            unix_ms: 1,
            method: "GET".into(),
            path: "/slow".into(),
            status: 200,
            latency_ms: 300.0,
            cache: "miss".into(),
            upstream: None,
            trace_id: trace.map(str::to_owned),
        };
        s.window.slowest = vec![req(Some("ab12")), req(None)];
        let on = Summary::new(s.clone(), &TraceLinks::new("/jaeger/"));
        assert_eq!(on.jaeger_ui_url.as_deref(), Some("/jaeger"));
        assert_eq!(
            on.slowest[0].trace_url.as_deref(),
            Some("/jaeger/trace/ab12")
        );
        assert_eq!(on.slowest[1].trace_url, None);
        assert_eq!(on.status, HealthStatus::Healthy);
        let off = Summary::new(s, &TraceLinks::new(""));
        assert_eq!(
            (off.jaeger_ui_url, off.slowest[0].trace_url.clone()),
            (None, None)
        );
    }
}
