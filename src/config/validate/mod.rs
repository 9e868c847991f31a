//! Raw file values → validated [`Config`], collecting every semantic error instead of stopping.
//!
//! Each check that fails records a [`ConfigError`] and yields the default, so later checks still
//! run and one `sightline check` shows everything wrong with a file.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use super::model::*;
use super::raw::{self, RawConfig, Scalar};
use super::units::{parse_duration, parse_size, size_from_int};
use super::ConfigError;

mod alerts;
mod embedded;
mod outlier;
mod proxy;
mod request;
mod tls;
mod upstreams;

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
