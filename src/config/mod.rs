//! Configuration: TOML text → raw serde structs → validated [`Config`]; `OTEL_*` overrides.
//!
//! PLACEHOLDER parsing until the config work lands: only defaults.

pub mod model;

pub use model::*;

use std::path::Path;

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
pub fn parse(_text: &str, _env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    Ok(Config::defaults())
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

impl Config {
    /// Errors unless at least one upstream is configured (required by `run`).
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

    /// The configuration an empty file yields (no upstreams).
    pub fn defaults() -> Config {
        use std::time::Duration;
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
                rules: vec![],
                upstream_down_rule: true,
            },
        }
    }
}
