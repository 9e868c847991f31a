//! The `[upstreams]` section: the origins and how sightline talks to them and checks them.

use super::Checker;
use crate::config::model::{HealthCheckConfig, HealthCheckKind, UpstreamsConfig};
use crate::config::raw;

impl Checker<'_> {
    /// `[upstreams]`: servers, timeouts, pool, health checks, outlier detection, TLS, Host.
    pub(super) fn upstreams(
        &mut self,
        r: raw::RawUpstreams,
        d: UpstreamsConfig,
    ) -> UpstreamsConfig {
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
}
