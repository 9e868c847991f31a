//! The optional alert webhook: an Alertmanager-style JSON POST per transition, sent from its
//! own task with a 2 s timeout so evaluation never waits on the receiver.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::sink::{AlertEvent, AlertEventKind};

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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::routing::post;
    use axum::Json;

    use crate::alerts::engine::tests::{config, latency_rule, VecSink};
    use crate::alerts::AlertEngine;
    use crate::observe::snapshot::MetricsSnapshot;
    use crate::telemetry::clock::ManualClock;

    fn slow_snapshot(avg: f64) -> MetricsSnapshot {
        let mut s = MetricsSnapshot::default();
        s.window.requests = 10;
        s.window.avg_response_time_ms = avg;
        s
    }

    fn engine_posting_to(url: String) -> Arc<AlertEngine> {
        let mut cfg = config(vec![latency_rule(0)], false);
        cfg.webhook = Some(url);
        cfg.cooldown = Duration::ZERO;
        let sink = Arc::new(VecSink::default());
        AlertEngine::new(&cfg, Arc::new(ManualClock::new()), sink)
    }

    #[tokio::test]
    async fn posts_alertmanager_json_for_each_transition() {
        let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let store = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |Json(v): Json<serde_json::Value>| async move {
                store.lock().unwrap().push(v);
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let engine = engine_posting_to(url);
        engine.evaluate(&slow_snapshot(300.0));
        engine.evaluate(&slow_snapshot(10.0));
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.lock().unwrap().len() < 2 {
            assert!(Instant::now() < deadline, "webhook not called twice");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut bodies = got.lock().unwrap().clone();
        bodies.sort_by_key(|b| b["status"].as_str().unwrap_or_default().to_owned());
        let firing = &bodies[0];
        assert_eq!(firing["status"], "firing");
        assert_eq!(firing["version"], "4");
        let alert = &firing["alerts"][0];
        assert_eq!(alert["labels"]["alertname"], "high_latency");
        assert_eq!(alert["labels"]["severity"], "warning");
        assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
        assert!(alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("ALERT FIRING warning high_latency"));
        assert_eq!(bodies[1]["status"], "resolved");
        assert_ne!(bodies[1]["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    }

    #[tokio::test]
    async fn a_silent_receiver_never_blocks_evaluation() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        let engine = engine_posting_to(url);
        let started = Instant::now();
        let mut transitions = 0;
        for i in 0..20 {
            let avg = if i % 2 == 0 { 300.0 } else { 10.0 };
            transitions += engine.evaluate(&slow_snapshot(avg)).len();
        }
        assert_eq!(transitions, 20);
        // Evaluation only spawns the POSTs; it must not wait for the 2 s timeout.
        assert!(
            started.elapsed() < super::TIMEOUT,
            "{:?}",
            started.elapsed()
        );
    }
}
