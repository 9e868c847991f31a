//! In-process tests: the admin router on 127.0.0.1:0, queried with reqwest.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::prometheus::check;
use super::*;
use crate::alerts::engine::tests::{config as alerts_config, latency_rule, VecSink};
use crate::config::{AlertMetric, AlertOp, AlertRule, Severity};
use crate::observe::observatory::tests::Fixture;
use crate::telemetry::record::CacheOutcome;

/// A critical rule: any error in the window.
fn errors_rule() -> AlertRule {
    AlertRule {
        name: "errors".into(),
        metric: AlertMetric::ErrorRatePercent,
        op: AlertOp::Gt,
        threshold: 0.0,
        for_: Duration::ZERO,
        severity: Severity::Critical,
        min_samples: 0,
    }
}

#[derive(Default)]
struct FakePurger(Mutex<Vec<String>>);

impl CachePurger for FakePurger {
    fn purge_path(&self, path: &str) -> usize {
        self.0.lock().unwrap().push(path.to_owned());
        2
    }
    fn purge_all(&self) -> usize {
        self.0.lock().unwrap().push("*".to_owned());
        7
    }
}

/// An admin server on 127.0.0.1:0 over a test fixture (also used by `sightline top` tests).
pub(crate) struct Admin {
    pub(crate) url: String,
    pub(crate) f: Fixture,
    pub(crate) engine: Arc<AlertEngine>,
    purger: Arc<FakePurger>,
    http: reqwest::Client,
    stopper: tokio::sync::watch::Sender<bool>,
}

impl Admin {
    pub(crate) async fn start(token: Option<&str>, jaeger: &str) -> Admin {
        let f = Fixture::new(2, Duration::from_secs(10));
        let engine = AlertEngine::new(
            &alerts_config(vec![latency_rule(0), errors_rule()], true),
            f.clock.clone(),
            Arc::new(VecSink::default()),
        );
        let purger = Arc::new(FakePurger::default());
        let mut cfg = Config::defaults();
        cfg.admin.token = token.map(str::to_owned);
        cfg.telemetry.jaeger_ui_url = jaeger.to_owned();
        let state = AdminState::new(
            f.obs.clone(),
            engine.clone(),
            Some(purger.clone() as Arc<dyn CachePurger>),
            &cfg,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stopper, mut stopped) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        tokio::spawn(serve(listener, state, shutdown));
        Admin {
            url,
            f,
            engine,
            purger,
            http: reqwest::Client::new(),
            stopper,
        }
    }

    /// Shuts the admin server down.
    pub(crate) fn stop(&self) {
        let _ = self.stopper.send(true);
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let (code, text) = self.get(path).await;
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let code = r.status();
        (code, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn health_reports_healthy_degraded_unhealthy() {
    let a = Admin::start(None, "").await;
    let (code, v) = a.json("/health").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["components"]["http_server"]["status"], "healthy");
    assert_eq!(v["upstreams"].as_array().unwrap().len(), 2);
    assert!(v["memory_usage_mb"].as_f64().unwrap() > 0.0);

    a.f.obs.board().set_healthy(0, false);
    a.f.second();
    let (code, v) = a.json("/health").await;
    assert_eq!(
        (code, v["status"].as_str()),
        (StatusCode::OK, Some("degraded"))
    );

    a.f.obs.board().set_healthy(1, false);
    a.f.second();
    let (code, v) = a.json("/health").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["components"]["load_balancer"]["status"], "unhealthy");

    a.f.obs.board().set_healthy(0, true);
    a.f.obs.board().set_healthy(1, true);
    a.f.second();
    a.f.feed(1, 503, CacheOutcome::Bypass, 1);
    a.f.second();
    a.engine.evaluate(&a.f.obs.snapshot());
    let (code, v) = a.json("/health").await;
    assert_eq!(
        (code, v["alerts"]["active"].as_u64()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(1))
    );
}

#[tokio::test]
async fn token_guards_everything_but_health() {
    let a = Admin::start(Some("s3cret"), "").await;
    assert_eq!(a.get("/health").await.0, StatusCode::OK);
    assert_eq!(
        a.get("/").await.0,
        StatusCode::OK,
        "the page shell holds no figures"
    );
    for path in [
        "/api/summary",
        "/metrics",
        "/dashboard",
        "/api/stream",
        "/nope",
    ] {
        assert_eq!(a.get(path).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    let with = |token: &str| {
        a.http
            .get(format!("{}/api/summary", a.url))
            .header("Authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(
        with("wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with("s3cre").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = with("s3cret").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let v: Value = ok.json().await.unwrap();
    assert_eq!(v["status"], "healthy");
}

#[tokio::test]
async fn dashboard_shows_exact_cache_counts() {
    let a = Admin::start(None, "").await;
    a.f.feed(10, 200, CacheOutcome::Miss, 5);
    a.f.feed(30, 200, CacheOutcome::Hit, 1);
    a.f.second();
    let (code, text) = a.get("/dashboard").await;
    assert_eq!(code, StatusCode::OK);
    assert!(text.starts_with("Real-Time Metrics Dashboard:\n"), "{text}");
    assert!(
        text.contains("Cache Hit Ratio: 75% (Cache Hits: 30, Cache Misses: 10)\n"),
        "{text}"
    );
    assert!(text.contains("Requests per second: 40\n"), "{text}");
    assert!(text.contains("Upstreams: 2/2 healthy\n"), "{text}");
}

#[tokio::test]
async fn metrics_parse_and_agree_with_the_summary() {
    let a = Admin::start(None, "").await;
    a.f.feed(10, 200, CacheOutcome::Miss, 5);
    a.f.feed(30, 200, CacheOutcome::Hit, 1);
    a.f.feed(3, 500, CacheOutcome::Bypass, 80);
    a.f.second();
    let (code, text) = a.get("/metrics").await;
    assert_eq!(code, StatusCode::OK);
    let samples = check::parse(&text).unwrap();
    let (_, sum) = a.json("/api/summary").await;
    let m = |name: &str, labels: &[(&str, &str)]| check::value(&samples, name, labels).unwrap();
    let t = &sum["totals"];
    assert_eq!(
        m("sightline_requests_total", &[]),
        t["requests"].as_f64().unwrap()
    );
    assert_eq!(
        m("sightline_errors_total", &[]),
        t["errors"].as_f64().unwrap()
    );
    for result in ["hit", "miss", "stale", "bypass"] {
        let want = t["cache"][result].as_f64().unwrap();
        assert_eq!(
            m("sightline_cache_requests_total", &[("result", result)]),
            want
        );
    }
    assert_eq!(
        m("http_server_request_duration_seconds_count", &[]),
        t["latency"]["count"].as_f64().unwrap()
    );
    let win = &sum["window"];
    let rps = m("sightline_window_requests_per_second", &[]);
    assert_eq!(rps, win["requests_per_second"].as_f64().unwrap());
    assert_eq!(rps, 43.0);
    assert_eq!(
        m("http_server_active_requests", &[]),
        sum["queue_size"].as_f64().unwrap()
    );
    assert_eq!(sum["totals"]["requests"], 43);
}

#[tokio::test]
async fn metrics_answer_openmetrics_when_accepted() {
    let a = Admin::start(None, "").await;
    a.f.feed(5, 200, CacheOutcome::Miss, 20);
    a.f.second();
    let get = |accept: Option<&'static str>| {
        let mut req = a.http.get(format!("{}/metrics", a.url));
        if let Some(v) = accept {
            req = req.header("accept", v);
        }
        async move {
            let r = req.send().await.unwrap();
            let header = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
            let (ct, vary) = (header("content-type"), header("vary"));
            (ct, vary, r.text().await.unwrap())
        }
    };
    let (ct, vary, text) = get(Some("application/openmetrics-text; version=1.0.0")).await;
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(vary, "Accept");
    let (samples, exemplars) = check::parse_openmetrics(&text).unwrap();
    assert_eq!(exemplars.len(), 1, "{text}");
    assert_eq!(
        check::value(&samples, "sightline_requests_total", &[]),
        Some(5.0)
    );

    let (ct, _, plain) = get(None).await;
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    check::parse(&plain).unwrap();
    assert!(
        !plain.contains("# EOF") && !plain.contains(" # {"),
        "{plain}"
    );
    let (ct_too, _, _) = get(Some("text/plain;q=0.9, application/openmetrics-text;q=0")).await;
    assert_eq!(ct_too, ct);
}

#[tokio::test]
async fn summary_lists_slowest_with_jaeger_links() {
    let a = Admin::start(None, "http://jaeger:16686/").await;
    a.f.feed(3, 200, CacheOutcome::Miss, 250);
    a.f.second();
    let (_, v) = a.json("/api/summary").await;
    let slow = &v["slowest"][0];
    let id = "07".repeat(16);
    assert_eq!(slow["trace_id"], id);
    assert_eq!(slow["trace_url"], format!("http://jaeger:16686/trace/{id}"));
    assert_eq!(v["jaeger_ui_url"], "http://jaeger:16686");
    let (_, recent) = a.json("/api/requests/recent").await;
    let list = recent["requests"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["path"], "/test");
    assert_eq!(list[0]["upstream"], "127.0.0.1:9001");
    assert!(list[0]["trace_url"].is_string());
}

#[tokio::test]
async fn history_and_upstreams_validate_parameters() {
    let a = Admin::start(None, "").await;
    for _ in 0..8 {
        a.f.feed(2, 200, CacheOutcome::Hit, 1);
        a.f.second();
    }
    let (code, v) = a.json("/api/metrics/history?duration=5").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["samples"].as_array().unwrap().len(), 5);
    assert_eq!(v["samples"][4]["requests"], 2);
    assert_eq!(v["resolution_seconds"], 1);
    assert_eq!(v["samples"][4]["resolution_seconds"], 1);
    let (code, v) = a.json("/api/metrics/history?duration=abc").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("duration"));
    // Past 300 s: one-minute samples (two minutes of seconds make at least one closed minute).
    for _ in 0..120 {
        a.f.second();
    }
    let (_, v) = a.json("/api/metrics/history?duration=301").await;
    assert_eq!(
        (v["resolution_seconds"].as_u64(), v["kept_minutes"].as_u64()),
        (Some(60), Some(1440))
    );
    let minutes = v["samples"].as_array().unwrap();
    assert!(!minutes.is_empty() && minutes.iter().all(|m| m["resolution_seconds"] == 60));

    let (_, v) = a.json("/api/upstreams").await;
    assert_eq!(v["upstreams"][1]["address"], "127.0.0.1:9002");
    let (code, v) = a.json("/api/upstreams/127.0.0.1:9001?duration=3").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["upstream"]["requests"], 16);
    assert_eq!(v["history"].as_array().unwrap().len(), 3);
    assert_eq!(
        a.json("/api/upstreams/127.0.0.1:1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.json("/api/upstreams/nonsense").await.0,
        StatusCode::BAD_REQUEST
    );
    let bad = a.json("/api/upstreams/127.0.0.1:9001?duration=0").await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST);
    let (code, v) = a.json("/no/such/path").await;
    assert_eq!(
        (code, v["error"].is_string()),
        (StatusCode::NOT_FOUND, true)
    );
}

#[tokio::test]
async fn alerts_list_and_ack() {
    let a = Admin::start(None, "").await;
    a.f.feed(5, 200, CacheOutcome::Miss, 400);
    a.f.second();
    assert_eq!(a.engine.evaluate(&a.f.obs.snapshot()).len(), 1);
    let (_, v) = a.json("/api/alerts").await;
    let id = v["active"][0]["id"].as_u64().unwrap();
    assert_eq!(v["active"][0]["name"], "high_latency");
    assert_eq!(v["history"].as_array().unwrap().len(), 1);
    let (code, v) = a.post(&format!("/api/alerts/{id}/ack"), "").await;
    assert_eq!(
        (code, &v["alert"]["acknowledged"]),
        (StatusCode::OK, &Value::Bool(true))
    );
    assert!(a.engine.published().active[0].acknowledged);
    let (_, sum) = a.json("/api/summary").await;
    assert_eq!(
        sum["alerts"][0]["acknowledged"], true,
        "readers combine the engine's list"
    );
    assert_eq!(
        a.post("/api/alerts/999/ack", "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.post("/api/alerts/x/ack", "").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn alert_rules_show_the_configured_thresholds() {
    let a = Admin::start(None, "").await;
    let (code, v) = a.json("/api/alerts/rules").await;
    assert_eq!(code, StatusCode::OK);
    let r = &v["rules"][0];
    assert_eq!(
        (&r["name"], &r["metric"], &r["op"], r["threshold"].as_f64()),
        (
            &Value::from("high_latency"),
            &Value::from("avg_response_time_ms"),
            &Value::from(">"),
            Some(200.0)
        )
    );
    assert_eq!(r["severity"], "warning");
    assert_eq!(
        v["rules"][1]["name"], "errors",
        "every configured rule, in order"
    );
    assert_eq!(v["rules"].as_array().unwrap().len(), 2);
    assert_eq!(v["upstream_down"], true);
}

#[tokio::test]
async fn purge_calls_the_cache() {
    let a = Admin::start(None, "").await;
    let (code, v) = a.post("/api/cache/purge", r#"{"path": "/x"}"#).await;
    assert_eq!((code, v["purged"].as_u64()), (StatusCode::OK, Some(2)));
    let (code, v) = a.post("/api/cache/purge", r#"{"all": true}"#).await;
    assert_eq!((code, v["purged"].as_u64()), (StatusCode::OK, Some(7)));
    assert_eq!(*a.purger.0.lock().unwrap(), ["/x", "*"]);
    for bad in [
        "{}",
        "nope",
        r#"{"path": "x"}"#,
        r#"{"all": false}"#,
        r#"{"path":"/x","all":true}"#,
        r#"{"paths":"/x"}"#,
    ] {
        let (code, v) = a.post("/api/cache/purge", bad).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}");
        assert!(v["error"].is_string());
    }
}

#[tokio::test]
async fn web_page_is_served() {
    let a = Admin::start(None, "").await;
    let r = a.http.get(format!("{}/", a.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let text = r.text().await.unwrap();
    assert!(text.contains("<canvas") && text.contains("/web/app.js"));
    let js = a
        .http
        .get(format!("{}/web/app.js", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(
        js.text().await.unwrap().contains("/api/stream"),
        "fed by the stream"
    );
    assert_eq!(a.get("/web/nope.js").await.0, StatusCode::NOT_FOUND);
}
