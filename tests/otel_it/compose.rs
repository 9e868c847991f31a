//! The shipped docker-compose.yml, collector and Jaeger configs are wired together: there is no
//! Docker engine here, so the wiring (ports, endpoints, mounts, pipelines) is checked by parsing.

use std::path::Path;

use serde_yaml::Value;

fn load(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    get(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match v.get(k) {
        Some(next) => next,
        None => panic!("missing {k} in {path}"),
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .expect("a list")
        .iter()
        .map(|x| x.as_str().expect("a string").to_string())
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_mapping()
        .expect("a map")
        .keys()
        .map(|k| k.as_str().expect("string keys").to_string())
        .collect()
}

/// "host:port" / "scheme://host:port" → (host, port).
fn host_port(endpoint: &str) -> (String, u16) {
    let rest = endpoint.split("://").last().unwrap();
    let (h, p) = rest.rsplit_once(':').expect("host:port");
    (
        h.to_string(),
        p.trim_end_matches('/').parse().expect("numeric port"),
    )
}

/// Every pipeline names only components the config defines.
fn pipelines_are_defined(cfg: &Value) {
    for (name, p) in get(cfg, "service.pipelines").as_mapping().unwrap() {
        for kind in ["receivers", "processors", "exporters"] {
            let Some(list) = p.get(kind) else { continue };
            let defined = keys(get(cfg, kind));
            for c in strings(list) {
                assert!(
                    defined.contains(&c),
                    "pipeline {name:?} uses undefined {kind} {c}"
                );
            }
        }
    }
    let defined = cfg.get("extensions").map(keys).unwrap_or_default();
    if let Some(exts) = get(cfg, "service").get("extensions") {
        for e in strings(exts) {
            assert!(defined.contains(&e), "undefined extension {e}");
        }
    }
}

/// The config file a compose service runs with (its `--config` argument, mounted from `file`).
fn mounted_config(svc: &Value, file: &str) {
    let cmd = strings(get(svc, "command"));
    let at = cmd.iter().position(|a| a == "--config").expect("--config") + 1;
    let mount = format!("./{file}:{}:ro", cmd[at]);
    assert!(
        strings(get(svc, "volumes")).contains(&mount),
        "{mount} not mounted"
    );
}

fn published(svc: &Value, port: u16) -> bool {
    strings(get(svc, "ports"))
        .iter()
        .any(|p| p == &format!("{port}:{port}"))
}

#[test]
fn compose_collector_and_jaeger_are_wired_together() {
    let compose = load("docker-compose.yml");
    let collector = load("otel-collector/config.yaml");
    let jaeger = load("jaeger/config.yaml");
    let services = get(&compose, "services");
    let svc = |n: &str| get(services, n);

    // sightline → collector (OTLP gRPC).
    let sightline = svc("sightline");
    assert_eq!(s(sightline, "build"), ".");
    let cmd = strings(get(sightline, "command"));
    assert_eq!(
        cmd,
        [
            "demo",
            "--listen",
            "0.0.0.0:8080",
            "--admin",
            "0.0.0.0:9190"
        ]
    );
    assert!(published(sightline, 8080) && published(sightline, 9190));
    let (host, port) = host_port(s(sightline, "environment.OTEL_EXPORTER_OTLP_ENDPOINT"));
    assert_eq!(host, "otel-collector");
    assert_eq!(
        s(sightline, "environment.OTEL_EXPORTER_OTLP_PROTOCOL"),
        "grpc"
    );
    let grpc_in = host_port(s(&collector, "receivers.otlp.protocols.grpc.endpoint"));
    let http_in = host_port(s(&collector, "receivers.otlp.protocols.http.endpoint"));
    assert_eq!((grpc_in.1, http_in.1), (4317, 4318));
    assert_eq!(
        port, grpc_in.1,
        "sightline sends where the collector listens"
    );
    assert!(strings(get(sightline, "depends_on")).contains(&"otel-collector".to_string()));

    // collector: mounted config, exporters, pipelines.
    let col = svc("otel-collector");
    mounted_config(col, "otel-collector/config.yaml");
    assert!(published(col, 4317) && published(col, 4318) && published(col, 8889));
    pipelines_are_defined(&collector);
    let to_jaeger = host_port(s(&collector, "exporters.otlp/jaeger.endpoint"));
    assert_eq!(to_jaeger.0, "jaeger");
    assert_eq!(
        get(&collector, "exporters.otlp/jaeger.tls.insecure").as_bool(),
        Some(true)
    );
    assert_eq!(
        host_port(s(&collector, "exporters.prometheus.endpoint")).1,
        8889
    );
    assert!(get(&collector, "exporters").get("debug").is_some());
    let traces = strings(get(&collector, "service.pipelines.traces.exporters"));
    assert!(traces.contains(&"otlp/jaeger".into()) && traces.contains(&"debug".into()));
    let metrics = strings(get(&collector, "service.pipelines.metrics.exporters"));
    assert!(metrics.contains(&"prometheus".into()) && metrics.contains(&"debug".into()));

    // collector → Jaeger: the port Jaeger's OTLP receiver listens on; UI published.
    let jg = svc("jaeger");
    mounted_config(jg, "jaeger/config.yaml");
    assert_eq!(
        to_jaeger.1,
        host_port(s(&jaeger, "receivers.otlp.protocols.grpc.endpoint")).1
    );
    assert!(
        s(jg, "image").contains("jaegertracing/jaeger:2."),
        "Jaeger v2"
    );
    pipelines_are_defined(&jaeger);
    assert_eq!(
        strings(get(&jaeger, "service.pipelines.traces.receivers")),
        ["otlp"]
    );
    let ui = host_port(s(&jaeger, "extensions.jaeger_query.http.endpoint"));
    assert_eq!(ui.1, 16686);
    assert!(published(jg, 16686));

    // Jaeger stores in memory, and the UI reads the store the exporter writes.
    let store = s(&jaeger, "exporters.jaeger_storage_exporter.trace_storage");
    assert_eq!(s(&jaeger, "extensions.jaeger_query.storage.traces"), store);
    let backend = get(&jaeger, "extensions.jaeger_storage.backends")
        .get(store)
        .expect("backend");
    assert!(backend.get("memory").is_some(), "in-memory store");
}

#[test]
fn dockerfile_builds_and_runs_the_binary() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("cargo build --release --locked --bin sightline"));
    assert!(text.contains(r#"ENTRYPOINT ["sightline"]"#));
}
