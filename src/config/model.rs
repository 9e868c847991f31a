//! Validated configuration: the only config types the rest of the crate may use.
//!
//! Everything here is already parsed (addresses, durations, sizes, CIDRs) and checked, so the
//! request path never touches a string from the config file.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use ipnet::IpNet;

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Client-facing listener and limits.
    pub proxy: ProxyConfig,
    /// Upstream servers, timeouts and health checks.
    pub upstreams: UpstreamsConfig,
    /// The in-memory response cache.
    pub cache: CacheConfig,
    /// OpenTelemetry export.
    pub telemetry: TelemetryConfig,
    /// The admin HTTP listener.
    pub admin: AdminConfig,
    /// The console and HTTP text dashboard.
    pub dashboard: DashboardConfig,
    /// Alert rules and their sinks.
    pub alerts: AlertsConfig,
}

/// `[proxy]`: the client-facing side.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// Addresses the proxy listens on (at least one).
    pub listen: Vec<SocketAddr>,
    /// Worker threads.
    pub threads: NonZeroUsize,
    /// How long in-flight requests may run after SIGTERM.
    pub grace_period: Duration,
    /// Request headers larger than this get 431.
    pub max_request_header_bytes: NonZeroUsize,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: u64,
    /// A client must send its request headers within this.
    pub header_timeout: Duration,
    /// Idle keep-alive client connections are closed after this.
    pub idle_timeout: Duration,
    /// Client connections accepted at once.
    pub max_connections: NonZeroUsize,
    /// Peers whose `X-Forwarded-For` is appended to; others have it replaced.
    pub trusted_proxies: Vec<IpNet>,
    /// TLS listeners with their certificates (`[[proxy.tls]]`).
    pub tls: Vec<TlsListener>,
    /// Accept HTTP/2 prior knowledge (h2c) on the plain listeners.
    pub h2c: bool,
    /// Unix socket for handing listeners to a `run --upgrade` process.
    pub upgrade_socket: std::path::PathBuf,
    /// Host names (lower-case, no port; `*.` prefix for a subdomain wildcard) the proxy serves;
    /// empty means every host. Requests for other hosts get 421.
    pub server_names: Vec<String>,
}

/// `[upstreams]`: where requests go.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamsConfig {
    /// Upstream addresses, in round-robin order (at least one for `run`).
    pub servers: Vec<SocketAddr>,
    /// TCP connect timeout to an upstream.
    pub connect_timeout: Duration,
    /// Time allowed between reads of the upstream response.
    pub read_timeout: Duration,
    /// Retries of idempotent requests on another upstream after a connect failure.
    pub retries: u32,
    /// Idle upstream connections kept for reuse (pool size).
    pub keepalive_pool: usize,
    /// Active health checking.
    pub health_check: HealthCheckConfig,
    /// Passive health: ejection of upstreams that keep failing real requests.
    pub outlier: OutlierConfig,
    /// TLS to upstreams (`upstreams.tls = true`), `None` for plain TCP.
    pub tls: Option<UpstreamTls>,
    /// Speak HTTP/2 to upstreams (over TLS by ALPN, else prior knowledge).
    pub http2: bool,
    /// The `Host` sent upstream.
    pub host: UpstreamHost,
}

/// `[upstreams.outlier]`: passive health (outlier detection).
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Whether failing upstreams are ejected at all.
    pub enabled: bool,
    /// Connect failures or 5xx responses in a row that eject an upstream.
    pub consecutive_failures: NonZeroU32,
    /// First ejection's length; each repeat ejection doubles it.
    pub base_ejection: Duration,
    /// Cap on the doubled ejection length.
    pub max_ejection: Duration,
}

/// `upstreams.host`: which `Host` the upstream sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamHost {
    /// The client's `Host`, as sent (the default).
    Preserve,
    /// This fixed host name (nginx's `proxy_set_header Host`).
    Fixed(String),
}

/// How upstream health is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// `GET path` must answer 2xx.
    Http,
    /// A TCP connect must succeed.
    Tcp,
    /// No active checks: every upstream is always in rotation.
    None,
}

/// `[upstreams.health_check]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckConfig {
    /// The probe kind.
    pub kind: HealthCheckKind,
    /// Path requested by HTTP checks (starts with `/`).
    pub path: String,
    /// Time between probes.
    pub interval: Duration,
    /// Consecutive failures that take an upstream out of rotation.
    pub unhealthy_after: NonZeroU32,
    /// Consecutive successes that bring it back.
    pub healthy_after: NonZeroU32,
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Whether responses are cached at all.
    pub enabled: bool,
    /// Hard bound on bytes held (bodies + headers).
    pub max_size: u64,
    /// Responses larger than this are not stored.
    pub max_object_size: u64,
    /// Freshness given to cacheable responses that carry none.
    pub default_ttl: Duration,
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (port 4317 by convention).
    Grpc,
    /// OTLP over HTTP with protobuf bodies (port 4318 by convention).
    HttpProtobuf,
}

/// `[telemetry]`, after the `OTEL_*` environment overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `service.name` resource attribute.
    pub service_name: String,
    /// Extra resource attributes (from `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// Collector endpoint, e.g. `http://127.0.0.1:4317`.
    pub otlp_endpoint: String,
    /// OTLP transport.
    pub protocol: OtlpProtocol,
    /// Export traces.
    pub traces: bool,
    /// Export metrics.
    pub metrics: bool,
    /// Parent-based ratio sampler's ratio, in `0.0..=1.0`.
    pub sample_ratio: f64,
    /// Metric export period.
    pub metrics_interval: Duration,
    /// Jaeger UI base URL for trace links (empty: no links).
    pub jaeger_ui_url: String,
    /// Sampled responses carry the W3C `traceresponse` header.
    pub trace_response_header: bool,
    /// Bytes of spans the exporter may hold (queued and in flight); beyond it spans are dropped.
    pub max_buffer: u64,
    /// Keep the last traces in memory and serve the Jaeger UI at admin `/jaeger/`.
    pub embedded_ui: bool,
    /// Most traces the built-in view keeps (oldest evicted first).
    pub embedded_ui_max_traces: std::num::NonZeroU32,
    /// Most bytes (estimated) the built-in view's store holds (oldest evicted first).
    pub embedded_ui_max_bytes: u64,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// Admin listener address.
    pub listen: SocketAddr,
    /// Bearer token required on every admin request but `/health` (None: open).
    pub token: Option<String>,
}

/// `[dashboard]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardConfig {
    /// Print the text dashboard to stdout.
    pub console: bool,
    /// Period of the console dashboard.
    pub interval: Duration,
    /// Sliding window for rates and averages.
    pub window: Duration,
}

/// Comparison used by an alert rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Informational.
    Info,
    /// Degrades `/health`.
    Warning,
    /// Makes `/health` unhealthy.
    Critical,
}

/// The figures an alert rule can watch (spec §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertMetric {
    /// Mean latency over the window, ms.
    AvgResponseTimeMs,
    /// p99 latency over the window, ms.
    P99ResponseTimeMs,
    /// Requests per second over the window.
    RequestsPerSecond,
    /// 5xx share over the window, percent.
    ErrorRatePercent,
    /// Cache hits over cacheable lookups in the window, percent.
    CacheHitRatioPercent,
    /// Process RSS, MiB.
    MemoryUsageMb,
    /// Upstreams in rotation.
    HealthyUpstreams,
}

/// One `[[alerts.rules]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Unique rule name.
    pub name: String,
    /// Watched figure.
    pub metric: AlertMetric,
    /// Comparison.
    pub op: AlertOp,
    /// Threshold the figure is compared with.
    pub threshold: f64,
    /// The condition must hold this long before firing.
    pub for_: Duration,
    /// Severity when firing.
    pub severity: Severity,
    /// The rule only evaluates once the window holds at least this many cacheable requests
    /// (used by the default hit-ratio rule; 0 elsewhere).
    pub min_samples: u64,
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// A resolved rule does not re-fire sooner than this.
    pub cooldown: Duration,
    /// Optional Alertmanager-style webhook URL.
    pub webhook: Option<String>,
    /// Rules (the spec's defaults when the file has none).
    pub rules: Vec<AlertRule>,
    /// Whether the "any single upstream down" warning is active (on with the default rules).
    pub upstream_down_rule: bool,
}

/// One `[[proxy.tls]]` entry: a certificate served on a TLS listener (several entries may share
/// a listener; the client's SNI picks the certificate).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsListener {
    /// The listener address.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub cert: std::path::PathBuf,
    /// PEM private key.
    pub key: std::path::PathBuf,
}

/// How upstream TLS connections are made.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTls {
    /// SNI and verified name; `None`: the upstream's address.
    pub sni: Option<String>,
    /// Verify the certificate chain and name.
    pub verify: bool,
    /// CA bundle instead of the system roots.
    pub ca_file: Option<std::path::PathBuf>,
}
