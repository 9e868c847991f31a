//! What a config reload changes: old model vs new model → the list of changed fields, each
//! classified as applied in place or left as it was until a restart. Pure; `crate::reload`
//! applies the result.
//!
//! A new section is one more line in `fields!`: `applied` if `crate::reload` knows how to
//! change it on a running process, `restart` otherwise.

use super::Config;

/// Whether a changed field takes effect on the running process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Changed in place, without closing a connection.
    Applied,
    /// Needs a new listener, runtime or process: the running value is left as it was.
    NeedsRestart,
}

/// One changed config field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// Dotted field path, as in the config file (`upstreams.servers`).
    pub field: &'static str,
    /// What happens to it.
    pub effect: Effect,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.effect {
            Effect::Applied => write!(f, "{}: applied", self.field),
            Effect::NeedsRestart => write!(f, "{}: needs restart, left as it was", self.field),
        }
    }
}

/// Declares every compared field once: `compare` lists the changes, `keep_running` copies
/// the restart-only fields back from the running config.
macro_rules! fields {
    (applied: [$($an:literal => $($a:ident).+),* $(,)?],
     restart: [$($rn:literal => $($r:ident).+),* $(,)?]) => {
        fn compare(old: &Config, new: &Config, out: &mut Vec<Change>) {
            $(if old.$($a).+ != new.$($a).+ {
                out.push(Change { field: $an, effect: Effect::Applied });
            })*
            $(if old.$($r).+ != new.$($r).+ {
                out.push(Change { field: $rn, effect: Effect::NeedsRestart });
            })*
        }

        fn keep_running(old: &Config, new: &mut Config) {
            $(new.$($r).+ = old.$($r).+.clone();)*
        }
    };
}

fields! {
    applied: [
        "upstreams.servers" => upstreams.servers,
        "upstreams.health_check" => upstreams.health_check,
        "telemetry.sample_ratio" => telemetry.sample_ratio,
        "alerts.rules" => alerts.rules,
        "proxy.tls" => proxy.tls,
    ],
    restart: [
        "proxy.listen" => proxy.listen,
        "proxy.threads" => proxy.threads,
        "proxy.grace_period" => proxy.grace_period,
        "proxy.max_request_header_bytes" => proxy.max_request_header_bytes,
        "proxy.max_body_bytes" => proxy.max_body_bytes,
        "proxy.header_timeout" => proxy.header_timeout,
        "proxy.idle_timeout" => proxy.idle_timeout,
        "proxy.max_connections" => proxy.max_connections,
        "proxy.trusted_proxies" => proxy.trusted_proxies,
        "proxy.h2c" => proxy.h2c,
        "proxy.server_names" => proxy.server_names,
        "upstreams.host" => upstreams.host,
        "proxy.upgrade_socket" => proxy.upgrade_socket,
        "upstreams.tls" => upstreams.tls,
        "upstreams.http2" => upstreams.http2,
        "upstreams.connect_timeout" => upstreams.connect_timeout,
        "upstreams.read_timeout" => upstreams.read_timeout,
        "upstreams.retries" => upstreams.retries,
        "upstreams.keepalive_pool" => upstreams.keepalive_pool,
        "upstreams.outlier" => upstreams.outlier,
        "cache.enabled" => cache.enabled,
        "cache.max_size" => cache.max_size,
        "cache.max_object_size" => cache.max_object_size,
        "cache.default_ttl" => cache.default_ttl,
        "telemetry.service_name" => telemetry.service_name,
        "telemetry.resource_attributes" => telemetry.resource_attributes,
        "telemetry.otlp_endpoint" => telemetry.otlp_endpoint,
        "telemetry.protocol" => telemetry.protocol,
        "telemetry.traces" => telemetry.traces,
        "telemetry.metrics" => telemetry.metrics,
        "telemetry.metrics_interval" => telemetry.metrics_interval,
        "telemetry.jaeger_ui_url" => telemetry.jaeger_ui_url,
        "telemetry.trace_response_header" => telemetry.trace_response_header,
        "telemetry.max_buffer" => telemetry.max_buffer,
        "telemetry.embedded_ui" => telemetry.embedded_ui,
        "telemetry.embedded_ui_max_traces" => telemetry.embedded_ui_max_traces,
        "telemetry.embedded_ui_max_bytes" => telemetry.embedded_ui_max_bytes,
        "admin.listen" => admin.listen,
        "admin.token" => admin.token,
        "dashboard.console" => dashboard.console,
        "dashboard.interval" => dashboard.interval,
        "dashboard.window" => dashboard.window,
        "alerts.cooldown" => alerts.cooldown,
        "alerts.webhook" => alerts.webhook,
        "alerts.upstream_down_rule" => alerts.upstream_down_rule,
    ]
}

/// Every field that differs between the running config and the new one, applied fields first.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    compare(old, new, &mut out);
    out
}

/// The config the process runs after a reload: `new`, except that every field needing a
/// restart keeps its running value (so the next reload reports it again until a restart).
pub fn effective(old: &Config, new: &Config) -> Config {
    let mut eff = new.clone();
    keep_running(old, &mut eff);
    eff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        let mut c = Config::defaults();
        c.upstreams.servers = vec!["127.0.0.1:9001".parse().unwrap()];
        c
    }

    #[test]
    fn identical_configs_have_no_changes() {
        assert!(diff(&base(), &base()).is_empty());
    }

    #[test]
    fn upstream_list_is_applied_in_place() {
        let mut new = base();
        new.upstreams
            .servers
            .push("127.0.0.1:9002".parse().unwrap());
        let changes = diff(&base(), &new);
        assert_eq!(
            changes,
            vec![Change {
                field: "upstreams.servers",
                effect: Effect::Applied
            }]
        );
        assert_eq!(effective(&base(), &new), new);
    }

    #[test]
    fn listen_address_needs_restart_and_keeps_running_value() {
        let mut new = base();
        new.proxy.listen = vec!["127.0.0.1:1".parse().unwrap()];
        new.telemetry.sample_ratio = 0.5;
        let changes = diff(&base(), &new);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].field, "telemetry.sample_ratio");
        assert_eq!(changes[0].effect, Effect::Applied);
        assert_eq!(changes[1].field, "proxy.listen");
        assert_eq!(changes[1].effect, Effect::NeedsRestart);
        let eff = effective(&base(), &new);
        assert_eq!(eff.proxy.listen, base().proxy.listen);
        assert_eq!(eff.telemetry.sample_ratio, 0.5);
        // The left-over change is reported again on the next reload.
        assert_eq!(diff(&eff, &new), vec![changes[1].clone()]);
    }

    #[test]
    fn health_check_and_admin_changes_are_classified() {
        let mut new = base();
        new.upstreams.health_check.interval = std::time::Duration::from_millis(500);
        new.admin.listen = "127.0.0.1:1".parse().unwrap();
        let fields: Vec<_> = diff(&base(), &new)
            .into_iter()
            .map(|c| (c.field, c.effect))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("upstreams.health_check", Effect::Applied),
                ("admin.listen", Effect::NeedsRestart)
            ]
        );
    }

    #[test]
    fn display_says_what_happened() {
        let c = Change {
            field: "proxy.listen",
            effect: Effect::NeedsRestart,
        };
        assert_eq!(c.to_string(), "proxy.listen: needs restart, left as it was");
    }
}
