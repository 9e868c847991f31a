//! The built-in trace view (`telemetry.embedded_ui`) against the real binary: the Jaeger UI's
//! own query API returns the proxied requests' spans with their attributes, the admin token
//! reaches the UI through a cookie, the store stays within its bounds under load, the page
//! renders a trace in headless Chromium against `sightline demo`, and the OpenMetrics `/metrics`
//! has exemplars that open there.

mod api;
mod bounds;
mod browser;
mod exemplars;
mod marks;

use std::time::Duration;

use serde_json::Value;

use crate::util::{client, free_addr, poll_for, ConfigBuilder, Fetched};

/// A config with traces on (all sampled), exported quickly to a collector nobody runs, and
/// the built-in view on.
pub fn with_view(cfg: ConfigBuilder) -> ConfigBuilder {
    cfg.set("telemetry.traces", true)
        .set("telemetry.sample_ratio", 1.0)
        .set("telemetry.otlp_endpoint", format!("http://{}", free_addr()))
        .set("telemetry.embedded_ui", true)
}

/// The trace id of a sampled response (its `traceresponse`).
pub fn trace_id(r: &Fetched) -> String {
    let v = r
        .header("traceresponse")
        .unwrap_or_else(|| panic!("no traceresponse: {r:?}"));
    v.split('-').nth(1).expect("version-00 context").to_owned()
}

/// Polls `/jaeger/api/traces/{id}` (with `cookie` when given) until the trace is there with at
/// least `spans` spans; returns its Jaeger JSON (`data[0]`).
pub async fn jaeger_trace(admin: &str, id: &str, spans: usize, cookie: Option<&str>) -> Value {
    let http = client();
    let url = format!("{admin}/jaeger/api/traces/{id}");
    let found = poll_for(Duration::from_secs(20), || {
        let mut req = http.get(&url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move {
            let r = req.send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            let v: Value = r.json().await.ok()?;
            let t = v["data"][0].clone();
            (t["spans"].as_array().map_or(0, Vec::len) >= spans).then_some(t)
        }
    })
    .await;
    found.unwrap_or_else(|| panic!("trace {id} never reached the embedded store"))
}

/// The span named `name` of kind `kind` in a Jaeger trace.
pub fn span<'a>(trace: &'a Value, name: &str, kind: &str) -> Vec<&'a Value> {
    trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .filter(|s| s["operationName"] == name && tag(s, "span.kind").as_deref() == Some(kind))
        .collect()
}

/// A span's tag value, as text.
pub fn tag(span: &Value, key: &str) -> Option<String> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| match &t["value"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        })
}
