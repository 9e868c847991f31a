//! The optional alert webhook: an Alertmanager-style JSON POST per transition, sent from its
//! own task with a 2 s timeout so evaluation never waits on the receiver.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::engine::{AlertEvent, AlertEventKind};

/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Posts alert transitions to a URL.
#[derive(Debug, Clone)]
pub struct Webhook {
    url: String,
    client: Option<reqwest::Client>,
}

fn rfc3339(unix_ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// The Alertmanager webhook (version 4) body for one transition.
pub fn payload(e: &AlertEvent) -> Value {
    let r = &e.record;
    let status = match e.kind {
        AlertEventKind::Firing => "firing",
        AlertEventKind::Resolved => "resolved",
    };
    let mut labels = json!({
        "alertname": r.name,
        "severity": r.severity.as_str(),
        "service": "sightline",
        "metric": r.metric,
    });
    if let Some(t) = &r.target {
        labels["upstream"] = json!(t);
    }
    let annotations = json!({
        "summary": e.line,
        "value": r.value.to_string(),
        "peak": r.peak.to_string(),
        "threshold": r.threshold.to_string(),
        "trace_ids": r.trace_ids.join(","),
    });
    // Alertmanager's zero time means "no end yet".
    let ends_at = r
        .ended_unix_ms
        .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339);
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{}\"}}", r.name),
        "status": status,
        "receiver": "sightline",
        "groupLabels": {"alertname": r.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(r.started_unix_ms),
            "endsAt": ends_at,
            "generatorURL": "",
            "fingerprint": format!("{:016x}", r.id),
        }],
    })
}

impl Webhook {
    /// A webhook posting to `url`.
    pub fn new(url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| tracing::warn!(error = %e, "alert webhook disabled: no HTTP client"))
            .ok();
        Webhook {
            url: url.to_owned(),
            client,
        }
    }

    /// Sends one transition in the background (dropped when no tokio runtime is running).
    pub fn send(&self, e: &AlertEvent) {
        let (Some(client), Ok(rt)) = (&self.client, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let req = client.post(&self.url).json(&payload(e));
        let url = self.url.clone();
        let started = SystemTime::now();
        rt.spawn(async move {
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {}
                Ok(resp) => tracing::warn!(%url, status = %resp.status(), "alert webhook refused"),
                Err(err) => {
                    let took = started.elapsed().unwrap_or_default();
                    tracing::warn!(%url, error = %err, ?took, "alert webhook failed");
                }
            }
        });
    }
}
