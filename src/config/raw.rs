//! The config file as written: serde structs mirroring spec §2, checked only for shape.
//!
//! Every key is optional (`None` means "use the default", taken from [`super::Config::defaults`]
//! so the defaults live in one place) and unknown keys are rejected. Values stay as written
//! (strings, raw integers) so that validation can report them verbatim.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// `[proxy]`
    pub proxy: RawProxy,
    /// `[upstreams]`
    pub upstreams: RawUpstreams,
    /// `[cache]`
    pub cache: RawCache,
    /// `[telemetry]`
    pub telemetry: RawTelemetry,
    /// `[admin]`
    pub admin: RawAdmin,
    /// `[dashboard]`
    pub dashboard: RawDashboard,
    /// `[alerts]`
    pub alerts: RawAlerts,
}

/// `[proxy]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawProxy {
    /// One address or an array of them.
    pub listen: Option<Listen>,
    /// Worker threads.
    pub threads: Option<i64>,
    /// Shutdown grace period.
    pub grace_period: Option<Scalar>,
    /// Request header limit (a size).
    pub max_request_header_bytes: Option<Scalar>,
    /// Request body limit (a size).
    pub max_body_bytes: Option<Scalar>,
    /// Request header read timeout.
    pub header_timeout: Option<Scalar>,
    /// Keep-alive idle timeout.
    pub idle_timeout: Option<Scalar>,
    /// Client connection limit.
    pub max_connections: Option<i64>,
    /// CIDRs trusted to forward `X-Forwarded-For`.
    pub trusted_proxies: Option<Vec<String>>,
    /// `[[proxy.tls]]` listeners.
    pub tls: Option<Vec<RawTls>>,
    /// HTTP/2 prior knowledge (h2c) on the plain listeners.
    pub h2c: Option<bool>,
    /// Unix socket the listening sockets are handed over on during `run --upgrade`.
    pub upgrade_socket: Option<String>,
    /// Host names served; others get 421.
    pub server_names: Option<Vec<String>>,
}

/// One `[[proxy.tls]]` entry: a TLS listener address and one certificate for it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    /// `IP:port`.
    pub listen: Option<String>,
    /// PEM certificate chain path.
    pub cert: Option<String>,
    /// PEM private key path.
    pub key: Option<String>,
}

/// `[upstreams]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawUpstreams {
    /// `IP:port` of each upstream.
    pub servers: Option<Vec<String>>,
    /// Connect timeout.
    pub connect_timeout: Option<Scalar>,
    /// Read timeout.
    pub read_timeout: Option<Scalar>,
    /// Retries on connect failure.
    pub retries: Option<i64>,
    /// Idle pooled upstream connections.
    pub keepalive_pool: Option<i64>,
    /// `[upstreams.health_check]`
    pub health_check: RawHealthCheck,
    /// `[upstreams.outlier]`
    pub outlier: RawOutlier,
    /// Connect to upstreams over TLS.
    pub tls: Option<bool>,
    /// SNI (and verified name) sent to upstreams.
    pub sni: Option<String>,
    /// Verify the upstream certificate.
    pub verify: Option<bool>,
    /// PEM CA bundle for upstream verification (default: system roots).
    pub ca_file: Option<String>,
    /// Speak HTTP/2 to upstreams.
    pub http2: Option<bool>,
    /// `"preserve"` or a fixed `Host` sent upstream.
    pub host: Option<String>,
}

/// `[upstreams.outlier]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOutlier {
    /// Outlier detection on/off.
    pub enabled: Option<bool>,
    /// Failures in a row that eject.
    pub consecutive_failures: Option<i64>,
    /// First ejection length.
    pub base_ejection: Option<Scalar>,
    /// Longest ejection.
    pub max_ejection: Option<Scalar>,
}

/// `[upstreams.health_check]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHealthCheck {
    /// `http` | `tcp` | `none`.
    pub kind: Option<String>,
    /// HTTP probe path.
    pub path: Option<String>,
    /// Probe period.
    pub interval: Option<Scalar>,
    /// Failures before leaving rotation.
    pub unhealthy_after: Option<i64>,
    /// Successes before rejoining.
    pub healthy_after: Option<i64>,
}

/// `[cache]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCache {
    /// Cache on/off.
    pub enabled: Option<bool>,
    /// Total bytes bound (a size).
    pub max_size: Option<Scalar>,
    /// Largest storable response (a size).
    pub max_object_size: Option<Scalar>,
    /// Freshness for cacheable responses without any.
    pub default_ttl: Option<Scalar>,
}

/// `[telemetry]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTelemetry {
    /// `service.name`.
    pub service_name: Option<String>,
    /// Collector URL.
    pub otlp_endpoint: Option<String>,
    /// `grpc` | `http/protobuf`.
    pub protocol: Option<String>,
    /// Export traces.
    pub traces: Option<bool>,
    /// Export metrics.
    pub metrics: Option<bool>,
    /// Sampler ratio.
    pub sample_ratio: Option<f64>,
    /// Metric export period.
    pub metrics_interval: Option<Scalar>,
    /// Jaeger UI base URL (empty: none).
    pub jaeger_ui_url: Option<String>,
    /// Emit `traceresponse`.
    pub trace_response_header: Option<bool>,
    /// Bytes of spans held by the exporter (a size).
    pub max_buffer: Option<Scalar>,
    /// Built-in Jaeger UI on the admin listener.
    pub embedded_ui: Option<bool>,
    /// Traces the built-in view keeps.
    pub embedded_ui_max_traces: Option<i64>,
    /// Bytes the built-in view's store may hold (a size).
    pub embedded_ui_max_bytes: Option<Scalar>,
}

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAdmin {
    /// Admin listener.
    pub listen: Option<String>,
    /// Bearer token (empty: none).
    pub token: Option<String>,
}

/// `[dashboard]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDashboard {
    /// Print to stdout.
    pub console: Option<bool>,
    /// Print period.
    pub interval: Option<Scalar>,
    /// Sliding window.
    pub window: Option<Scalar>,
}

/// `[alerts]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAlerts {
    /// Re-fire cooldown.
    pub cooldown: Option<Scalar>,
    /// Webhook URL (empty: none).
    pub webhook: Option<String>,
    /// The "any single upstream down" warning.
    pub upstream_down: Option<bool>,
    /// `[[alerts.rules]]`; absent means the spec's default rules, `[]` means none.
    pub rules: Option<Vec<RawRule>>,
}

/// One `[[alerts.rules]]` entry. Required keys are `Option` too, so that every missing one is
/// reported together with the other errors instead of stopping at the first.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRule {
    /// Unique name.
    pub name: Option<String>,
    /// Metric name (spec §7).
    pub metric: Option<String>,
    /// `>` `>=` `<` `<=`.
    pub op: Option<String>,
    /// Threshold.
    pub threshold: Option<f64>,
    /// Hold time before firing.
    #[serde(rename = "for")]
    pub for_: Option<Scalar>,
    /// `info` | `warning` | `critical`.
    pub severity: Option<String>,
    /// Minimum cacheable requests in the window.
    pub min_samples: Option<i64>,
}

/// `proxy.listen`: a string or an array of strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Listen {
    /// `listen = "0.0.0.0:8080"`
    One(String),
    /// `listen = ["0.0.0.0:8080", "[::]:8080"]`
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Listen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an address string or an array of address strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Listen, E> {
                Ok(Listen::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Listen, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    all.push(s);
                }
                Ok(Listen::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration or size as written: a string, or a bare TOML integer.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `"5s"`, `"64MiB"`
    Str(String),
    /// `65536`
    Int(i64),
}

impl fmt::Display for Scalar {
    /// Shows the value the way it was written in TOML.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Int(i) => write!(f, "{i}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string such as \"5s\" or \"64MiB\", or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
        }
        d.deserialize_any(V)
    }
}
