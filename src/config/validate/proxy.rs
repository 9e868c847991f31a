//! The `[proxy]` section: where sightline listens and what it accepts from clients.

use std::net::IpAddr;
use std::num::NonZeroUsize;

use ipnet::IpNet;

use super::Checker;
use crate::config::model::ProxyConfig;
use crate::config::raw::{self, Listen};

impl Checker<'_> {
    /// `[proxy]`: listeners, limits, timeouts, trusted proxies, TLS listeners, server names.
    pub(super) fn proxy(&mut self, r: raw::RawProxy, d: ProxyConfig) -> ProxyConfig {
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
}
