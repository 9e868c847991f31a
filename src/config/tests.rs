//! Tests of rejected configs: every error names its field, value and reason.

use std::net::SocketAddr;

use super::*;

pub(super) fn no_env(_: &str) -> Option<String> {
    None
}

pub(super) fn errors(text: &str) -> Vec<ConfigError> {
    parse(text, &no_env)
        .expect_err("config should be rejected")
        .0
}

/// The single error for `field`, failing when there is none or several.
pub(super) fn error_at<'a>(errs: &'a [ConfigError], field: &str) -> &'a ConfigError {
    let found: Vec<_> = errs.iter().filter(|e| e.field == field).collect();
    assert_eq!(found.len(), 1, "one error at {field} expected in {errs:#?}");
    found[0]
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address literal")
}

#[test]
fn unknown_keys_are_named_by_path_all_at_once() {
    let errs = errors(
        "colour = 1\n[proxy]\nlisten = \"0.0.0.0:80\"\nlisen = \"x\"\n\
         [upstreams.health_check]\nkinf = \"tcp\"\n[[alerts.rules]]\nname = \"a\"\nmetric = \
         \"requests_per_second\"\nop = \">\"\nthreshold = 1\nnmae = \"b\"\n",
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");
    for field in [
        "colour",
        "proxy.lisen",
        "upstreams.health_check.kinf",
        "alerts.rules[0].nmae",
    ] {
        assert!(error_at(&errs, field).reason.contains("unknown field"));
    }
    assert_eq!(error_at(&errs, "proxy.lisen").value, "\"x\"");
}

#[test]
fn type_errors_are_named_by_path() {
    let errs = errors(
        "dashboard = 5\n[proxy]\nthreads = \"two\"\n[upstreams]\nservers = [\"127.0.0.1:1\", 5]\n\
         [[alerts.rules]]\nname = \"a\"\nmetric = \"requests_per_second\"\nop = 1\n\
         threshold = 1\n",
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");
    let threads = error_at(&errs, "proxy.threads");
    assert_eq!(threads.value, "\"two\"");
    assert_eq!(
        threads.reason,
        "invalid type: string \"two\", expected an integer"
    );
    assert!(error_at(&errs, "dashboard")
        .reason
        .ends_with("expected a table"));
    assert_eq!(error_at(&errs, "upstreams.servers[1]").value, "5");
    // The rule's `op` was dropped for its type error; it is not reported again as missing.
    assert!(error_at(&errs, "alerts.rules[0].op")
        .reason
        .contains("invalid type"));
}

#[test]
fn syntax_errors_name_line_and_column() {
    let errs = errors("[proxy]\nthreads = 2\nlisten = = \"x\"\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "line 3, column 10");
    assert_eq!(errs[0].value, "\"listen = = \\\"x\\\"\"");
    assert!(
        errs[0].reason.starts_with("TOML syntax error"),
        "{:?}",
        errs[0]
    );
}

#[test]
fn bad_duration_is_reported() {
    let errs = errors("[proxy]\ngrace_period = \"10x\"\n[dashboard]\ninterval = 5\n");
    let e = error_at(&errs, "proxy.grace_period");
    assert_eq!(e.value, "\"10x\"");
    assert!(e.reason.contains("unknown unit \"x\""), "{e:?}");
    assert!(error_at(&errs, "dashboard.interval")
        .reason
        .contains("missing unit"));
}

#[test]
fn bad_size_is_reported() {
    let errs = errors("[cache]\nmax_size = \"64MB!\"\n[proxy]\nmax_body_bytes = -1\n");
    let e = error_at(&errs, "cache.max_size");
    assert_eq!(e.value, "\"64MB!\"");
    assert!(e.reason.contains("unknown unit"), "{e:?}");
    assert!(error_at(&errs, "proxy.max_body_bytes")
        .reason
        .contains("negative"));
}

#[test]
fn bad_address_is_reported() {
    let errs = errors("[upstreams]\nservers = [\"127.0.0.1:9001\", \"localhost:9002\"]\n");
    let e = error_at(&errs, "upstreams.servers[1]");
    assert_eq!(e.value, "\"localhost:9002\"");
    assert!(e.reason.contains("IP:port"), "{e:?}");
    let errs = errors("[admin]\nlisten = \"127.0.0.1\"\n");
    assert_eq!(error_at(&errs, "admin.listen").value, "\"127.0.0.1\"");
}

#[test]
fn bad_cidr_is_reported_and_good_ones_parse() {
    let errs = errors("[proxy]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n");
    assert_eq!(errs.len(), 1);
    let e = error_at(&errs, "proxy.trusted_proxies[1]");
    assert_eq!(e.value, "\"10.0.0.0/33\"");
    assert!(e.reason.contains("CIDR"));
    let c = parse(
        "[proxy]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n",
        &no_env,
    )
    .unwrap();
    let nets: Vec<String> = c
        .proxy
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "::1/128"]);
}

#[test]
fn every_semantic_error_is_reported_at_once() {
    let errs = errors(
        r#"
[proxy]
threads = 0
[upstreams]
servers = ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9001"]
[upstreams.health_check]
kind = "udp"
path = "healthz"
interval = "0s"
[cache]
max_size = "1MiB"
max_object_size = "2MiB"
[telemetry]
protocol = "http/json"
sample_ratio = 1.5
[dashboard]
window = "500ms"
[alerts]
webhook = "hooks.example"
[[alerts.rules]]
name = "a"
metric = "latency"
op = "=="
threshold = inf
severity = "fatal"
[[alerts.rules]]
name = "a"
metric = "memory_usage_mb"
op = ">="
threshold = 512
[[alerts.rules]]
metric = "healthy_upstreams"
"#,
    );
    let expected = [
        "proxy.threads",
        "upstreams.servers[2]",
        "upstreams.health_check.kind",
        "upstreams.health_check.path",
        "upstreams.health_check.interval",
        "cache.max_object_size",
        "telemetry.protocol",
        "telemetry.sample_ratio",
        "dashboard.window",
        "alerts.webhook",
        "alerts.rules[0].metric",
        "alerts.rules[0].op",
        "alerts.rules[0].threshold",
        "alerts.rules[0].severity",
        "alerts.rules[1].name",
        "alerts.rules[2].name",
        "alerts.rules[2].op",
        "alerts.rules[2].threshold",
    ];
    for field in expected {
        error_at(&errs, field);
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    assert_eq!(
        error_at(&errs, "upstreams.servers[2]").reason,
        "duplicate of upstreams.servers[0]"
    );
    assert_eq!(
        error_at(&errs, "alerts.rules[1].name").reason,
        "duplicate of alerts.rules[0].name"
    );
    assert_eq!(error_at(&errs, "alerts.rules[2].op").value, "(missing)");
    assert_eq!(error_at(&errs, "alerts.rules[0].threshold").value, "inf");
}

#[test]
fn errors_render_one_line_each() {
    let errs = parse("[proxy]\nthreads = 0\ngrace_period = \"1y\"\n", &no_env).unwrap_err();
    let text = render_errors(&errs);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        "error: proxy.threads: must be a positive integer (value: 0)"
    );
    assert!(
        lines[1].starts_with("error: proxy.grace_period: unknown unit \"y\""),
        "{text}"
    );
    assert!(lines[1].ends_with("(value: \"1y\")"), "{text}");
}

#[test]
fn load_reads_a_file_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, "[upstreams]\nservers = [\"127.0.0.1:7000\"]\n").unwrap();
    let c = load(&path).unwrap();
    assert_eq!(c.upstreams.servers, [addr("127.0.0.1:7000")]);
    c.require_upstreams().unwrap();
    let errs = load(&dir.path().join("absent.toml")).unwrap_err().0;
    assert_eq!(errs[0].field, "(file)");
}
