//! Exemplars: `/metrics` with `Accept: application/openmetrics-text` is OpenMetrics that a real
//! parser (Python's `prometheus_client`) accepts, its latency buckets name traces the built-in
//! view holds, and without the header `/metrics` stays Prometheus text.
//!
//! Needs `python3` with `prometheus_client` (`.ci/run` installs it). Without it the test says
//! so and passes, unless `REQUIRE_PROMETHEUS_CLIENT` is set (`.ci/run` sets it), where it fails.

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{jaeger_trace, span, trace_id, with_view};
use crate::util::{client, fetch, poll_for, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

/// Parses stdin with `prometheus_client`'s OpenMetrics parser (argument `openmetrics`) or its
/// Prometheus text parser (`prometheus`); prints the families, `sightline_requests_total` and
/// every exemplar as JSON, or fails with the parser's error.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus
parse = openmetrics if sys.argv[1] == "openmetrics" else prometheus
families = list(parse(sys.stdin.read()))
requests, exemplars = None, []
for f in families:
    for s in f.samples:
        if s.name == "sightline_requests_total":
            requests = s.value
        e = s.exemplar
        if e is not None:
            ts = e.timestamp
            ts = ts.sec + ts.nsec / 1e9 if hasattr(ts, "sec") else ts
            exemplars.append({"family": f.name, "type": f.type, "le": s.labels.get("le"),
                              "labels": e.labels, "value": e.value, "timestamp": ts})
print(json.dumps({"families": [[f.name, f.type, f.unit] for f in families],
                  "requests": requests, "exemplars": exemplars}))
"#;

/// Whether `python3` can import `prometheus_client`.
fn parser_available() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `text` parsed by `prometheus_client` in `format` (`openmetrics` or `prometheus`).
fn parse(text: &str, format: &str) -> Result<Value, String> {
    let mut child = Command::new("python3")
        .args(["-c", PARSE, format])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing to the parser: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("parser output: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_exemplars_name_traces_the_built_in_view_holds() {
    if !parser_available() {
        assert!(
            std::env::var_os("REQUIRE_PROMETHEUS_CLIENT").is_none(),
            "REQUIRE_PROMETHEUS_CLIENT is set but python3 cannot import prometheus_client \
             (pip install prometheus_client)"
        );
        eprintln!(
            "skipped: python3 with prometheus_client not found (pip install prometheus_client)"
        );
        return;
    }
    let slow = Duration::from_millis(120);
    let origin = TestOrigin::spawn(move |req| {
        let r = TestResponse::ok("item").header("cache-control", "no-store");
        if req.path().starts_with("/slow/") {
            r.delay(slow)
        } else {
            r
        }
    })
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(with_view(cfg)).await;
    let admin = proxy.admin_url("");
    let admin = admin.trim_end_matches('/');
    let http = client();

    let (mut sent, mut slow_ids) = (HashSet::new(), HashSet::new());
    for i in 0..4 {
        for path in [format!("/fast/{i}"), format!("/slow/{i}")] {
            let r = fetch(http.get(proxy.url(&path))).await;
            assert_eq!(r.status, 200, "{r:?}");
            if path.starts_with("/slow/") {
                slow_ids.insert(trace_id(&r));
            }
            sent.insert(trace_id(&r));
        }
    }

    // The snapshot is taken once a second: wait until it has counted every request.
    let metrics = format!("{admin}/metrics");
    let scraped = poll_for(Duration::from_secs(10), || {
        let req = http.get(&metrics).header("accept", OPENMETRICS);
        let want = sent.len() as f64;
        async move {
            let r = fetch(req).await;
            let doc = parse(&r.body, "openmetrics")
                .unwrap_or_else(|e| panic!("not OpenMetrics: {e}\n{}", r.body));
            (doc["requests"].as_f64() == Some(want)).then_some((r, doc))
        }
    })
    .await;
    let (r, doc) = scraped.expect("/metrics never counted every request");
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let families = doc["families"].as_array().unwrap();
    assert!(
        families
            .iter()
            .any(|f| f[0] == "sightline_requests" && f[1] == "counter"),
        "counters are named without _total: {families:?}"
    );
    let exemplars = doc["exemplars"].as_array().unwrap();
    assert!(!exemplars.is_empty(), "no exemplar: {}", r.body);

    for e in exemplars {
        assert_eq!(e["family"], "http_server_request_duration_seconds", "{e}");
        let id = e["labels"]["trace_id"].as_str().unwrap();
        assert!(
            sent.contains(id),
            "exemplar {e} names a trace no request had"
        );
        let value = e["value"].as_f64().unwrap();
        let le = e["le"].as_str().unwrap().parse::<f64>().unwrap();
        assert!(value <= le, "{e}: above its bucket");
        // Found in the embedded store, and the span it names is that trace's SERVER span.
        let trace = jaeger_trace(admin, id, 1, None).await;
        let server = span(&trace, "GET", "server");
        assert_eq!(server.len(), 1, "{trace}");
        assert_eq!(server[0]["spanID"], e["labels"]["span_id"], "{e}");
    }
    // The slowest bucket hit holds one of the slow requests.
    let slowest = exemplars
        .iter()
        .max_by(|a, b| {
            a["value"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["value"].as_f64().unwrap())
        })
        .unwrap();
    let id = slowest["labels"]["trace_id"].as_str().unwrap();
    assert!(slow_ids.contains(id), "{slowest}");
    assert!(
        slowest["value"].as_f64().unwrap() >= slow.as_secs_f64(),
        "{slowest}"
    );
    eprintln!(
        "exemplars: {} buckets point to traces in the embedded store, slowest {slowest}",
        exemplars.len()
    );

    // Without the header: Prometheus text, no exemplars, counters typed with _total.
    let plain = fetch(http.get(&metrics)).await;
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let doc = parse(&plain.body, "prometheus")
        .unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{}", plain.body));
    assert_eq!(doc["requests"].as_f64(), Some(sent.len() as f64));
    assert!(
        plain
            .body
            .contains("# TYPE sightline_requests_total counter\n"),
        "{}",
        plain.body
    );
    for openmetrics_only in [" # {", "# EOF", "# UNIT"] {
        assert!(!plain.body.contains(openmetrics_only), "{}", plain.body);
    }
}
