//! Raw file values → validated [`Config`], collecting every semantic error instead of stopping.
//!
//! Each check that fails records a [`ConfigError`] and yields the default, so later checks still
//! run and one `sightline check` shows everything wrong with a file.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use ipnet::IpNet;

use super::model::*;
use super::raw::{self, Listen, RawConfig, Scalar};
use super::units::{parse_duration, parse_size, size_from_int};
use super::ConfigError;

mod alerts;
mod embedded;
mod outlier;
mod request;
mod tls;

/// Validates `raw`, appending a [`ConfigError`] to `errs` for every problem found.
/// The returned config is only meaningful when `errs` stayed empty.
pub fn build(raw: RawConfig, errs: &mut Vec<ConfigError>) -> Config {
    let d = Config::defaults();
    let mut c = Checker(errs);
    let RawConfig {
        proxy,
        upstreams,
        cache,
        telemetry,
        admin,
        dashboard,
        alerts,
    } = raw;
    Config {
        proxy: c.proxy(proxy, d.proxy),
        upstreams: c.upstreams(upstreams, d.upstreams),
        cache: c.cache(cache, d.cache),
        telemetry: c.telemetry(telemetry, d.telemetry),
        admin: c.admin(admin, d.admin),
        dashboard: c.dashboard(dashboard, d.dashboard),
        alerts: c.alerts(alerts, d.alerts),
    }
}

/// Parses `grpc` | `http/protobuf`.
pub fn parse_protocol(s: &str) -> Result<OtlpProtocol, String> {
    match s {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        _ => Err("expected \"grpc\" or \"http/protobuf\"".into()),
    }
}

/// Accepts `http://…` and `https://…` URLs with a host.
pub fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(()),
        _ => Err("expected an http:// or https:// URL".into()),
    }
}

/// Collects errors while converting.
struct Checker<'a>(&'a mut Vec<ConfigError>);

impl Checker<'_> {
    fn err(&mut self, field: impl Into<String>, value: impl Display, reason: impl Into<String>) {
        self.0.push(ConfigError {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        });
    }

    /// Records `Err` and substitutes `default`.
    fn or<T>(&mut self, field: &str, value: impl Display, r: Result<T, String>, default: T) -> T {
        r.unwrap_or_else(|why| {
            self.err(field, value, why);
            default
        })
    }

    fn duration(&mut self, field: &str, raw: Option<Scalar>, default: Duration) -> Duration {
        let Some(v) = raw else { return default };
        let r = match &v {
            Scalar::Str(s) => parse_duration(s),
            Scalar::Int(_) => Err(format!("missing unit; {}", super::units::DURATION_HELP)),
        };
        self.or(field, &v, r, default)
    }

    /// A duration that must be greater than zero (timeouts and periods).
    fn positive(&mut self, field: &str, raw: Option<Scalar>, default: Duration) -> Duration {
        let shown = raw.clone();
        let d = self.duration(field, raw, default);
        if d.is_zero() {
            self.err(
                field,
                shown.expect("a zero duration came from the file"),
                "must be greater than 0",
            );
            return default;
        }
        d
    }

    fn size(&mut self, field: &str, raw: Option<Scalar>, default: u64) -> u64 {
        let Some(v) = raw else { return default };
        let r = match &v {
            Scalar::Str(s) => parse_size(s),
            Scalar::Int(i) => size_from_int(*i),
        };
        self.or(field, &v, r, default)
    }

    fn nonzero_usize(
        &mut self,
        field: &str,
        raw: Option<i64>,
        default: NonZeroUsize,
    ) -> NonZeroUsize {
        let Some(v) = raw else { return default };
        let r = usize::try_from(v)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or("must be a positive integer".to_string());
        self.or(field, v, r, default)
    }

    fn nonzero_u32(&mut self, field: &str, raw: Option<i64>, default: NonZeroU32) -> NonZeroU32 {
        let Some(v) = raw else { return default };
        let r = u32::try_from(v)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or("must be an integer from 1 to 4294967295".to_string());
        self.or(field, v, r, default)
    }

    fn count<T: TryFrom<i64>>(&mut self, field: &str, raw: Option<i64>, default: T) -> T {
        let Some(v) = raw else { return default };
        let r = T::try_from(v).map_err(|_| "must be a non-negative integer in range".to_string());
        self.or(field, v, r, default)
    }

    fn addr(&mut self, field: &str, s: &str) -> Option<SocketAddr> {
        let r = s.parse::<SocketAddr>();
        if r.is_err() {
            self.err(field, format!("{s:?}"), "expected IP:port, e.g. \"127.0.0.1:9001\" or \"[::1]:9001\" (host names are not resolved)");
        }
        r.ok()
    }

    /// Parses a list of addresses, reporting bad and repeated entries by index.
    fn addrs(&mut self, field: &str, list: Vec<String>) -> Vec<SocketAddr> {
        let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
        let mut out = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(a) = self.addr(&f, s) else { continue };
            if let Some(first) = seen.insert(a, i) {
                self.err(
                    f,
                    format!("{s:?}"),
                    format!("duplicate of {field}[{first}]"),
                );
            } else {
                out.push(a);
            }
        }
        out
    }

    fn url(&mut self, field: &str, s: String) -> String {
        let r = check_url(&s).map(|()| s.clone());
        self.or(field, format!("{s:?}"), r, String::new())
    }

    fn proxy(&mut self, r: raw::RawProxy, d: ProxyConfig) -> ProxyConfig {
        let listen = match r.listen {
            None => d.listen,
            Some(Listen::One(s)) => self
                .addr("proxy.listen", &s)
                .map(|a| vec![a])
                .unwrap_or(d.listen),
            Some(Listen::Many(v)) if v.is_empty() => {
                self.err(
                    "proxy.listen",
                    "[]",
                    "at least one listen address is required",
                );
                d.listen
            }
            Some(Listen::Many(v)) => self.addrs("proxy.listen", v),
        };
        let header_bytes = r.max_request_header_bytes.map(|v| {
            let n = self.size(
                "proxy.max_request_header_bytes",
                Some(v.clone()),
                d.max_request_header_bytes.get() as u64,
            );
            let nz = usize::try_from(n)
                .ok()
                .and_then(NonZeroUsize::new)
                .ok_or("must be greater than 0".to_string());
            self.or(
                "proxy.max_request_header_bytes",
                v,
                nz,
                d.max_request_header_bytes,
            )
        });
        let trusted = r
            .trusted_proxies
            .unwrap_or_default()
            .into_iter()
            .enumerate();
        let trusted_proxies = trusted
            .filter_map(|(i, s)| {
                let net = s
                    .parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from));
                if net.is_err() {
                    self.err(
                        format!("proxy.trusted_proxies[{i}]"),
                        format!("{s:?}"),
                        "expected a CIDR such as \"10.0.0.0/8\" or an IP address",
                    );
                }
                net.ok()
            })
            .collect();
        let tls = self.tls_listeners(r.tls, &listen);
        ProxyConfig {
            listen,
            threads: self.nonzero_usize("proxy.threads", r.threads, d.threads),
            grace_period: self.duration("proxy.grace_period", r.grace_period, d.grace_period),
            max_request_header_bytes: header_bytes.unwrap_or(d.max_request_header_bytes),
            max_body_bytes: self.size("proxy.max_body_bytes", r.max_body_bytes, d.max_body_bytes),
            header_timeout: self.positive(
                "proxy.header_timeout",
                r.header_timeout,
                d.header_timeout,
            ),
            idle_timeout: self.positive("proxy.idle_timeout", r.idle_timeout, d.idle_timeout),
            max_connections: self.nonzero_usize(
                "proxy.max_connections",
                r.max_connections,
                d.max_connections,
            ),
            trusted_proxies,
            tls,
            h2c: r.h2c.unwrap_or(d.h2c),
            upgrade_socket: r.upgrade_socket.map_or(d.upgrade_socket, Into::into),
            server_names: self.server_names(r.server_names),
        }
    }

    fn upstreams(&mut self, r: raw::RawUpstreams, d: UpstreamsConfig) -> UpstreamsConfig {
        let h = r.health_check;
        let dh = d.health_check;
        let kind = h.kind.map(|k| {
            let parsed = match k.as_str() {
                "http" => Ok(HealthCheckKind::Http),
                "tcp" => Ok(HealthCheckKind::Tcp),
                "none" => Ok(HealthCheckKind::None),
                _ => Err("expected \"http\", \"tcp\" or \"none\"".to_string()),
            };
            self.or(
                "upstreams.health_check.kind",
                format!("{k:?}"),
                parsed,
                dh.kind,
            )
        });
        let path = h.path.map(|p| {
            let ok = if p.starts_with('/') {
                Ok(p.clone())
            } else {
                Err("must start with '/'".to_string())
            };
            self.or(
                "upstreams.health_check.path",
                format!("{p:?}"),
                ok,
                dh.path.clone(),
            )
        });
        let tls = self.upstream_tls(r.tls, r.sni, r.verify, r.ca_file);
        UpstreamsConfig {
            tls,
            http2: r.http2.unwrap_or(d.http2),
            servers: self.addrs("upstreams.servers", r.servers.unwrap_or_default()),
            connect_timeout: self.positive(
                "upstreams.connect_timeout",
                r.connect_timeout,
                d.connect_timeout,
            ),
            read_timeout: self.positive("upstreams.read_timeout", r.read_timeout, d.read_timeout),
            retries: self.count("upstreams.retries", r.retries, d.retries),
            keepalive_pool: self.count(
                "upstreams.keepalive_pool",
                r.keepalive_pool,
                d.keepalive_pool,
            ),
            health_check: HealthCheckConfig {
                kind: kind.unwrap_or(dh.kind),
                path: path.unwrap_or(dh.path),
                interval: self.positive("upstreams.health_check.interval", h.interval, dh.interval),
                unhealthy_after: self.nonzero_u32(
                    "upstreams.health_check.unhealthy_after",
                    h.unhealthy_after,
                    dh.unhealthy_after,
                ),
                healthy_after: self.nonzero_u32(
                    "upstreams.health_check.healthy_after",
                    h.healthy_after,
                    dh.healthy_after,
                ),
            },
            outlier: self.outlier(r.outlier, d.outlier),
            host: self.upstream_host(r.host, d.host),
        }
    }

    fn cache(&mut self, r: raw::RawCache, d: CacheConfig) -> CacheConfig {
        let enabled = r.enabled.unwrap_or(d.enabled);
        let shown_max = r.max_size.clone();
        let max_size = self.size("cache.max_size", r.max_size, d.max_size);
        if enabled && max_size == 0 {
            let shown = shown_max.map_or_else(|| "0".to_string(), |v| v.to_string());
            self.err("cache.max_size", shown, "must be greater than 0 while the cache is enabled (set cache.enabled = false instead)");
        }
        let shown_obj = r.max_object_size.clone();
        let max_object_size = self.size(
            "cache.max_object_size",
            r.max_object_size,
            d.max_object_size,
        );
        if max_object_size > max_size {
            let shown = shown_obj.map_or_else(|| max_object_size.to_string(), |v| v.to_string());
            self.err(
                "cache.max_object_size",
                shown,
                format!("must not exceed cache.max_size ({max_size} bytes)"),
            );
        }
        CacheConfig {
            enabled,
            max_size,
            max_object_size,
            default_ttl: self.duration("cache.default_ttl", r.default_ttl, d.default_ttl),
        }
    }

    fn telemetry(&mut self, r: raw::RawTelemetry, d: TelemetryConfig) -> TelemetryConfig {
        let service_name = r.service_name.map(|s| {
            let ok = if s.trim().is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(s.clone())
            };
            self.or(
                "telemetry.service_name",
                format!("{s:?}"),
                ok,
                d.service_name.clone(),
            )
        });
        let protocol = r.protocol.map(|p| {
            let parsed = parse_protocol(&p);
            self.or("telemetry.protocol", format!("{p:?}"), parsed, d.protocol)
        });
        let sample_ratio = r.sample_ratio.map(|x| {
            let ok = if (0.0..=1.0).contains(&x) {
                Ok(x)
            } else {
                Err("must be a number from 0.0 to 1.0".to_string())
            };
            self.or("telemetry.sample_ratio", x, ok, d.sample_ratio)
        });
        let jaeger = r
            .jaeger_ui_url
            .filter(|s| !s.is_empty())
            .map(|s| self.url("telemetry.jaeger_ui_url", s));
        TelemetryConfig {
            service_name: service_name.unwrap_or(d.service_name),
            resource_attributes: d.resource_attributes,
            otlp_endpoint: r
                .otlp_endpoint
                .map_or(d.otlp_endpoint, |s| self.url("telemetry.otlp_endpoint", s)),
            protocol: protocol.unwrap_or(d.protocol),
            traces: r.traces.unwrap_or(d.traces),
            metrics: r.metrics.unwrap_or(d.metrics),
            sample_ratio: sample_ratio.unwrap_or(d.sample_ratio),
            metrics_interval: self.positive(
                "telemetry.metrics_interval",
                r.metrics_interval,
                d.metrics_interval,
            ),
            jaeger_ui_url: jaeger.unwrap_or(d.jaeger_ui_url),
            trace_response_header: r.trace_response_header.unwrap_or(d.trace_response_header),
            max_buffer: self.size("telemetry.max_buffer", r.max_buffer, d.max_buffer),
            embedded_ui: r.embedded_ui.unwrap_or(d.embedded_ui),
            embedded_ui_max_traces: self
                .embedded_max_traces(r.embedded_ui_max_traces, d.embedded_ui_max_traces),
            embedded_ui_max_bytes: self
                .embedded_max_bytes(r.embedded_ui_max_bytes, d.embedded_ui_max_bytes),
        }
    }

    fn admin(&mut self, r: raw::RawAdmin, d: AdminConfig) -> AdminConfig {
        AdminConfig {
            listen: r
                .listen
                .and_then(|s| self.addr("admin.listen", &s))
                .unwrap_or(d.listen),
            token: r.token.filter(|t| !t.is_empty()).or(d.token),
        }
    }

    fn dashboard(&mut self, r: raw::RawDashboard, d: DashboardConfig) -> DashboardConfig {
        let shown = r.window.clone();
        let mut window = self.duration("dashboard.window", r.window, d.window);
        if window < Duration::from_secs(1) {
            self.err(
                "dashboard.window",
                shown.expect("a short window came from the file"),
                "must be at least 1s",
            );
            window = d.window;
        }
        DashboardConfig {
            console: r.console.unwrap_or(d.console),
            interval: self.positive("dashboard.interval", r.interval, d.interval),
            window,
        }
    }
}
