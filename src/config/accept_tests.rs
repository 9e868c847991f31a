//! Tests of accepted configs: defaults, the shipped file (golden), env overrides, value forms.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use super::tests::{addr, error_at, errors, no_env};
use super::*;

#[test]
fn empty_file_gives_the_defaults() {
    let c = parse("", &no_env).expect("empty file is valid");
    assert_eq!(c, Config::defaults());
    assert!(c.upstreams.servers.is_empty());
    let err = c.require_upstreams().expect_err("run needs upstreams");
    assert_eq!(err.0[0].field, "upstreams.servers");
    assert_eq!(err.0[0].reason, "at least one upstream is required");
}

#[test]
fn listen_takes_a_string_or_an_array() {
    let one = parse("[proxy]\nlisten = \"127.0.0.1:8081\"\n", &no_env).unwrap();
    assert_eq!(one.proxy.listen, [addr("127.0.0.1:8081")]);
    let many = parse(
        "[proxy]\nlisten = [\"0.0.0.0:8080\", \"[::]:8080\"]\n",
        &no_env,
    )
    .unwrap();
    assert_eq!(many.proxy.listen, [addr("0.0.0.0:8080"), addr("[::]:8080")]);
    let errs = errors("[proxy]\nlisten = []\n");
    assert_eq!(
        error_at(&errs, "proxy.listen").reason,
        "at least one listen address is required"
    );
    let errs = errors("[proxy]\nlisten = [\"0.0.0.0:1\", \"nope\"]\n");
    error_at(&errs, "proxy.listen[1]");
    let errs = errors("[proxy]\nlisten = 8080\n");
    assert!(error_at(&errs, "proxy.listen")
        .reason
        .contains("an address string or an array"));
}

#[test]
fn alert_defaults_apply_only_without_rules() {
    let d = parse("", &no_env).unwrap().alerts;
    assert!(d.upstream_down_rule);
    let summary: Vec<_> = d
        .rules
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.metric,
                r.op,
                r.threshold,
                r.for_.as_secs(),
                r.severity,
                r.min_samples,
            )
        })
        .collect();
    use {AlertMetric as M, AlertOp as O, Severity as S};
    assert_eq!(
        summary,
        [
            (
                "high_latency",
                M::AvgResponseTimeMs,
                O::Gt,
                200.0,
                10,
                S::Warning,
                0
            ),
            (
                "low_cache_hit_ratio",
                M::CacheHitRatioPercent,
                O::Lt,
                50.0,
                30,
                S::Warning,
                20
            ),
            (
                "high_error_rate",
                M::ErrorRatePercent,
                O::Gt,
                5.0,
                10,
                S::Critical,
                0
            ),
            (
                "no_healthy_upstreams",
                M::HealthyUpstreams,
                O::Lt,
                1.0,
                0,
                S::Critical,
                0
            ),
        ]
    );

    let own = parse(
        "[alerts]\nupstream_down = false\n[[alerts.rules]]\nname = \"mem\"\nmetric = \
         \"memory_usage_mb\"\nop = \">=\"\nthreshold = 512.5\n",
        &no_env,
    )
    .unwrap()
    .alerts;
    assert!(!own.upstream_down_rule);
    assert_eq!(
        own.rules,
        [AlertRule {
            name: "mem".into(),
            metric: M::MemoryUsageMb,
            op: O::Ge,
            threshold: 512.5,
            for_: Duration::ZERO,
            severity: S::Warning,
            min_samples: 0,
        }]
    );
    let none = parse("[alerts]\nrules = []\n", &no_env).unwrap().alerts;
    assert!(none.rules.is_empty() && none.upstream_down_rule);
}

#[test]
fn env_overrides_win_over_the_file() {
    let file = "[telemetry]\nservice_name = \"from-file\"\notlp_endpoint = \"http://file:4317\"\n\
                sample_ratio = 0.5\n";
    let env = |k: &str| {
        Some(
            match k {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://collector:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL" => "http/protobuf",
                "OTEL_SERVICE_NAME" => "from-env",
                "OTEL_RESOURCE_ATTRIBUTES" => {
                    "service.name=ignored,deployment.environment=prod%2Feu"
                }
                "OTEL_TRACES_SAMPLER" => "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG" => "0.1",
                "OTEL_SDK_DISABLED" => "true",
                _ => return None,
            }
            .to_string(),
        )
    };
    let t = parse(file, &env).unwrap().telemetry;
    assert_eq!(t.otlp_endpoint, "http://collector:4318");
    assert_eq!(t.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(t.service_name, "from-env");
    assert_eq!(
        t.resource_attributes,
        [("deployment.environment".to_string(), "prod/eu".to_string())]
    );
    assert_eq!(t.sample_ratio, 0.1);
    assert!(!t.traces && !t.metrics);

    // Without the variables, the file's values stand; an empty variable counts as unset.
    let empty = |_: &str| Some(String::new());
    let t = parse(file, &empty).unwrap().telemetry;
    assert_eq!(
        (t.service_name.as_str(), t.sample_ratio),
        ("from-file", 0.5)
    );
    assert!(t.traces && t.metrics);
}

#[test]
fn bad_env_values_name_the_variable() {
    let env = |k: &str| {
        Some(
            match k {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => "collector:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL" => "http/json",
                "OTEL_TRACES_SAMPLER" => "traceidratio",
                "OTEL_TRACES_SAMPLER_ARG" => "lots",
                "OTEL_SDK_DISABLED" => "yes",
                _ => return None,
            }
            .to_string(),
        )
    };
    let errs = parse("[proxy]\nthreads = 0\n", &env).unwrap_err().0;
    let vars = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_SDK_DISABLED",
        "proxy.threads",
    ];
    for v in vars {
        error_at(&errs, v);
    }
    assert_eq!(errs.len(), vars.len(), "{errs:#?}");
    assert_eq!(error_at(&errs, "OTEL_TRACES_SAMPLER_ARG").value, "\"lots\"");
}

#[test]
fn empty_token_and_webhook_mean_none() {
    let c = parse("[admin]\ntoken = \"\"\n[alerts]\nwebhook = \"\"\n", &no_env).unwrap();
    assert_eq!((c.admin.token, c.alerts.webhook), (None, None));
    let c = parse(
        "[admin]\ntoken = \"s3cret\"\n[alerts]\nwebhook = \"http://am:9093/hook\"\n",
        &no_env,
    )
    .unwrap();
    assert_eq!(c.admin.token.as_deref(), Some("s3cret"));
    assert_eq!(c.alerts.webhook.as_deref(), Some("http://am:9093/hook"));
}

#[test]
fn shipped_config_is_exactly_the_documented_one() {
    let c = parse(include_str!("../../config/sightline.toml"), &no_env)
        .expect("shipped config is valid");
    let s = Duration::from_secs;
    let expected = Config {
        proxy: ProxyConfig {
            listen: vec![addr("0.0.0.0:8080")],
            threads: NonZeroUsize::new(2).unwrap(),
            grace_period: s(10),
            max_request_header_bytes: NonZeroUsize::new(65536).unwrap(),
            max_body_bytes: 100 * 1024 * 1024,
            header_timeout: s(10),
            idle_timeout: s(60),
            max_connections: NonZeroUsize::new(10000).unwrap(),
            trusted_proxies: vec![],
            tls: vec![],
            h2c: false,
            upgrade_socket: "/tmp/sightline-upgrade.sock".into(),
            server_names: vec![],
        },
        upstreams: UpstreamsConfig {
            servers: vec![
                addr("127.0.0.1:9001"),
                addr("127.0.0.1:9002"),
                addr("127.0.0.1:9003"),
            ],
            connect_timeout: s(1),
            read_timeout: s(30),
            retries: 1,
            keepalive_pool: 1024,
            health_check: HealthCheckConfig {
                kind: HealthCheckKind::Http,
                path: "/healthz".into(),
                interval: s(2),
                unhealthy_after: NonZeroU32::new(2).unwrap(),
                healthy_after: NonZeroU32::new(1).unwrap(),
            },
            outlier: OutlierConfig {
                enabled: true,
                consecutive_failures: NonZeroU32::new(5).unwrap(),
                base_ejection: s(30),
                max_ejection: s(300),
            },
            tls: None,
            http2: false,
            host: UpstreamHost::Preserve,
        },
        cache: CacheConfig {
            enabled: true,
            max_size: 64 * 1024 * 1024,
            max_object_size: 1024 * 1024,
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
            listen: addr("127.0.0.1:9190"),
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
            rules: vec![
                AlertRule {
                    name: "high_latency".into(),
                    metric: AlertMetric::AvgResponseTimeMs,
                    op: AlertOp::Gt,
                    threshold: 200.0,
                    for_: s(10),
                    severity: Severity::Warning,
                    min_samples: 0,
                },
                AlertRule {
                    name: "low_cache_hit_ratio".into(),
                    metric: AlertMetric::CacheHitRatioPercent,
                    op: AlertOp::Lt,
                    threshold: 50.0,
                    for_: s(30),
                    severity: Severity::Warning,
                    min_samples: 20,
                },
                AlertRule {
                    name: "high_error_rate".into(),
                    metric: AlertMetric::ErrorRatePercent,
                    op: AlertOp::Gt,
                    threshold: 5.0,
                    for_: s(10),
                    severity: Severity::Critical,
                    min_samples: 0,
                },
                AlertRule {
                    name: "no_healthy_upstreams".into(),
                    metric: AlertMetric::HealthyUpstreams,
                    op: AlertOp::Lt,
                    threshold: 1.0,
                    for_: s(0),
                    severity: Severity::Critical,
                    min_samples: 0,
                },
            ],
            upstream_down_rule: true,
        },
    };
    assert_eq!(c, expected);
}
