//! Configuration: TOML text → raw serde structs → validated [`Config`]; `OTEL_*` overrides.
//!
//! `parse` runs in three stages, each reporting with a field path: TOML syntax (line and
//! column), shape (unknown keys, wrong types: [`raw`] via `serde_path_to_error`), then meaning
//! ([`validate`], which collects every error). The `OTEL_*` variables ([`env`](mod@env)) are applied last.

pub mod diff;
pub mod env;
pub mod model;
pub mod pem;
pub mod raw;
pub mod units;
pub mod validate;

#[cfg(test)]
mod accept_tests;
#[cfg(test)]
mod tests;

pub use model::*;

use std::path::Path;
use std::time::Duration;

use serde_path_to_error::Segment;

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason} (got {value})")]
pub struct ConfigError {
    /// Dotted field path, e.g. `upstreams.servers[1]`.
    pub field: String,
    /// The offending value as written.
    pub value: String,
    /// Why it is wrong.
    pub reason: String,
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} config error(s): {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Parses and validates config text, then applies the `OTEL_*` overrides read by `env`.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigErrors(vec![syntax_error(text, &e)]))?;
    let (raw, shape_errs) = deserialize_all(table);
    let mut errs = Vec::new();
    let mut config = validate::build(raw, &mut errs);
    // A key dropped for a shape error must not be reported again as "missing" or the like.
    errs.retain(|e| !shape_errs.iter().any(|s| is_under(&e.field, &s.field)));
    env::apply(&mut config.telemetry, env, &mut errs);
    let all: Vec<ConfigError> = shape_errs.into_iter().chain(errs).collect();
    if all.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(all))
    }
}

/// Reads, parses and validates a config file with the process environment's overrides.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            field: "(file)".into(),
            value: path.display().to_string(),
            reason: e.to_string(),
        }])
    })?;
    parse(&text, &|k| std::env::var(k).ok())
}

/// One line per error, `error: <field>: <why> (value: <value>)`, for `sightline check`.
pub fn render_errors(errs: &ConfigErrors) -> String {
    errs.0
        .iter()
        .map(|e| format!("error: {}: {} (value: {})\n", e.field, e.reason, e.value))
        .collect()
}

/// The spec §7 alert rules used when the file has no `[[alerts.rules]]`.
pub fn default_alert_rules() -> Vec<AlertRule> {
    use {AlertMetric as M, AlertOp as O, Severity as S};
    // (name, metric, op, threshold, for seconds, severity, min_samples)
    #[rustfmt::skip]
    let table = [
        ("high_latency", M::AvgResponseTimeMs, O::Gt, 200.0, 10, S::Warning, 0),
        ("low_cache_hit_ratio", M::CacheHitRatioPercent, O::Lt, 50.0, 30, S::Warning, 20),
        ("high_error_rate", M::ErrorRatePercent, O::Gt, 5.0, 10, S::Critical, 0),
        ("no_healthy_upstreams", M::HealthyUpstreams, O::Lt, 1.0, 0, S::Critical, 0),
    ];
    table
        .into_iter()
        .map(
            |(name, metric, op, threshold, secs, severity, min_samples)| AlertRule {
                name: name.into(),
                metric,
                op,
                threshold,
                for_: Duration::from_secs(secs),
                severity,
                min_samples,
            },
        )
        .collect()
}

/// Upper bound on shape errors gathered from one file; each costs a re-deserialization.
const MAX_SHAPE_ERRORS: usize = 32;

/// Deserializes the raw structs, and on each shape error records it, removes the offending
/// entry and tries again, so one run reports every unknown key and wrong type.
fn deserialize_all(table: toml::Table) -> (raw::RawConfig, Vec<ConfigError>) {
    let mut doc = toml::Value::Table(table);
    let mut errs = Vec::new();
    loop {
        let err = match serde_path_to_error::deserialize(doc.clone()) {
            Ok(raw) => return (raw, errs),
            Err(e) => e,
        };
        let segments: Vec<Segment> = err.path().iter().cloned().collect();
        let value = lookup(&doc, &segments).map_or_else(|| "(missing)".into(), |v| v.to_string());
        let removed = remove(&mut doc, &segments);
        errs.push(ConfigError {
            field: err.path().to_string(),
            value,
            reason: plain_words(err.into_inner().message()),
        });
        if !removed || errs.len() >= MAX_SHAPE_ERRORS {
            return (raw::RawConfig::default(), errs);
        }
    }
}

/// Rewrites serde's Rust-flavoured type names in TOML terms (`i64` → an integer, …).
fn plain_words(message: &str) -> String {
    let mut m = message
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array");
    if let Some(at) = m.find("expected struct ") {
        m.replace_range(at.., "expected a table");
    }
    m
}

/// The value at `path`, if it exists.
fn lookup<'a>(mut v: &'a toml::Value, path: &[Segment]) -> Option<&'a toml::Value> {
    for seg in path {
        v = match seg {
            Segment::Map { key } => v.as_table()?.get(key)?,
            Segment::Seq { index } => v.as_array()?.get(*index)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Removes the entry `path` points at. An error on an array element removes the whole array,
/// so that the indexes of later elements are never shifted and misreported.
fn remove(v: &mut toml::Value, path: &[Segment]) -> bool {
    let only_indexes = |rest: &[Segment]| rest.iter().all(|s| matches!(s, Segment::Seq { .. }));
    match path {
        [Segment::Map { key }, rest @ ..] if only_indexes(rest) => {
            v.as_table_mut().and_then(|t| t.remove(key)).is_some()
        }
        [Segment::Map { key }, rest @ ..] => v
            .as_table_mut()
            .and_then(|t| t.get_mut(key))
            .is_some_and(|child| remove(child, rest)),
        [Segment::Seq { index }, rest @ ..] => v
            .as_array_mut()
            .and_then(|a| a.get_mut(*index))
            .is_some_and(|child| remove(child, rest)),
        _ => false,
    }
}

/// Whether `field` is `prefix` or lies inside it (`prefix.x`, `prefix[3]`).
fn is_under(field: &str, prefix: &str) -> bool {
    field
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// A TOML syntax error, placed by line and column (both from 1) of the offending text.
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let at = e.span().map_or(0, |r| r.start).min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..at].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or("");
    ConfigError {
        field: format!("line {line}, column {column}"),
        value: format!("{:?}", line_text.trim()),
        reason: format!("TOML syntax error: {}", e.message().trim()),
    }
}

impl Config {
    /// `run` needs somewhere to send requests; `parse` alone accepts an empty list.
    pub fn require_upstreams(&self) -> Result<(), ConfigErrors> {
        if self.upstreams.servers.is_empty() {
            return Err(ConfigErrors(vec![ConfigError {
                field: "upstreams.servers".into(),
                value: "[]".into(),
                reason: "at least one upstream is required".into(),
            }]));
        }
        Ok(())
    }

    /// The configuration an empty file yields: no upstreams, the spec's default alert rules.
    pub fn defaults() -> Config {
        let s = Duration::from_secs;
        Config {
            proxy: ProxyConfig {
                listen: vec!["0.0.0.0:8080".parse().expect("literal address")],
                threads: std::num::NonZeroUsize::new(2).expect("2 > 0"),
                grace_period: s(10),
                max_request_header_bytes: std::num::NonZeroUsize::new(65536).expect("> 0"),
                max_body_bytes: 100 << 20,
                header_timeout: s(10),
                idle_timeout: s(60),
                max_connections: std::num::NonZeroUsize::new(10000).expect("> 0"),
                trusted_proxies: vec![],
                tls: vec![],
                h2c: false,
                upgrade_socket: "/tmp/sightline-upgrade.sock".into(),
                server_names: vec![],
            },
            upstreams: UpstreamsConfig {
                servers: vec![],
                connect_timeout: s(1),
                read_timeout: s(30),
                retries: 1,
                keepalive_pool: 1024,
                health_check: HealthCheckConfig {
                    kind: HealthCheckKind::Http,
                    path: "/healthz".into(),
                    interval: s(2),
                    unhealthy_after: std::num::NonZeroU32::new(2).expect("> 0"),
                    healthy_after: std::num::NonZeroU32::new(1).expect("> 0"),
                },
                outlier: OutlierConfig {
                    enabled: true,
                    consecutive_failures: std::num::NonZeroU32::new(5).expect("> 0"),
                    base_ejection: s(30),
                    max_ejection: s(300),
                },
                tls: None,
                http2: false,
                host: UpstreamHost::Preserve,
            },
            cache: CacheConfig {
                enabled: true,
                max_size: 64 << 20,
                max_object_size: 1 << 20,
                default_ttl: Duration::ZERO,
            },
            telemetry: TelemetryConfig {
                service_name: "sightline".into(),
                resource_attributes: vec![],
                otlp_endpoint: "http://127.0.0.1:4317".into(),
                protocol: OtlpProtocol::Grpc,
                traces: true,
                metrics: true,
                sample_ratio: 1.0,
                metrics_interval: s(10),
                jaeger_ui_url: String::new(),
                trace_response_header: true,
                max_buffer: 16 << 20,
                embedded_ui: false,
                embedded_ui_max_traces: std::num::NonZeroU32::new(1000).expect("> 0"),
                embedded_ui_max_bytes: 32 << 20,
            },
            admin: AdminConfig {
                listen: "127.0.0.1:9190".parse().expect("literal address"),
                token: None,
            },
            dashboard: DashboardConfig {
                console: true,
                interval: s(5),
                window: s(10),
            },
            alerts: AlertsConfig {
                cooldown: s(60),
                webhook: None,
                rules: default_alert_rules(),
                upstream_down_rule: true,
            },
        }
    }
}
