//! The web dashboard in a real headless Chromium against the real binary: the rendered page
//! shows the live request rate of the load sent, an alert fired by a slow origin appears
//! without a reload, the page reconnects by itself after the proxy restarts on the same ports,
//! and what it shows agrees with `/api/summary` for the same sample.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sightline::observe::format::figure;

use crate::load::{finished_between, measuring_alone, unix_ms_now, Load};
use crate::util::{client, with_healthz, Browser, ConfigBuilder, ProxyProcess, TestOrigin};
use crate::util::{free_addr, TestResponse};

/// The page as the test reads it: connection state, sample, every card, alerts, upstream rows.
const PAGE_STATE: &str = r##"(() => ({
  conn: document.body.dataset.conn,
  seq: Number(document.body.dataset.seq || 0),
  uptime: Number(document.body.dataset.uptime || -1),
  marker: window.__marker || 0,
  meta: document.getElementById("meta").textContent,
  cards: Object.fromEntries([...document.querySelectorAll(".card")].map(c =>
    [c.dataset.key, { value: c.dataset.value === undefined ? null : Number(c.dataset.value), text: c.querySelector(".v").textContent }])),
  alerts: [...document.querySelectorAll("#alerts tr[data-alert-id]")].map(r => ({ name: r.dataset.alertName, state: r.dataset.state })),
  upstreams: [...document.querySelectorAll("#upstreams tr[data-address]")].map(r => [...r.cells].map(c => c.textContent)),
  slowest: [...document.querySelectorAll("#slowest tr")].slice(1).map(r => [...r.cells].map(c => c.textContent)),
  marks: [...document.querySelectorAll(".chart .marks a.mark")].map(a => a.getAttribute("href")),
}))()"##;

const RULES: &str = r#"
[[alerts.rules]]
name = "high_latency"
metric = "avg_response_time_ms"
op = ">"
threshold = 150
for = "1s"
severity = "warning"
"#;

fn card(page: &Value, key: &str) -> f64 {
    page["cards"][key]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no card {key}: {page}"))
}

/// An origin answering after `delay_ms` (changeable while running).
async fn origin_with_delay(delay_ms: Arc<AtomicU64>) -> TestOrigin {
    TestOrigin::spawn(with_healthz(move |_| {
        TestResponse::ok("item")
            .header("cache-control", "no-store")
            .delay(Duration::from_millis(delay_ms.load(Relaxed)))
    }))
    .await
}

#[tokio::test]
async fn the_page_follows_the_stream_live_alerts_and_a_restart() {
    let _alone = measuring_alone().await;
    let delay = Arc::new(AtomicU64::new(0));
    let origin = origin_with_delay(delay.clone()).await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("dashboard.window", "3s")
        .set("admin.token", "s3cret")
        .extra(RULES);
    let toml = cfg.to_toml();
    let mut proxy = ProxyProcess::start_with_admin(cfg).await;
    let mut browser = Browser::launch().await;
    // The token travels in the fragment; the stream needs it too (as ?access_token=).
    browser.open(&proxy.admin_url("/#token=s3cret")).await;
    browser.eval("window.__marker = 1").await;
    let live = r#"document.body.dataset.conn === "live""#;
    assert!(
        browser
            .wait_for(live, Duration::from_secs(15))
            .await
            .is_some(),
        "the page never went live: {}",
        browser.eval(PAGE_STATE).await
    );

    // Live req/s: 40 requests a second for the 3 s window, read off the rendered card.
    let started = unix_ms_now();
    let load = Load::paced(proxy.url("/item"), Duration::from_millis(25));
    // The first sample whose whole window lies inside the load.
    let full = |p: &Value| p["seq"].as_u64().unwrap_or(0) >= started + 4_000;
    let page = browser
        .poll(PAGE_STATE, Duration::from_secs(20), full)
        .await
        .expect("the page never showed the load");
    // The client's own count over the 3 s the page's sample covers.
    let seq = page["seq"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = finished_between(&load.outcomes(), seq - 3000, seq).len() as f64 / 3.0;
    let shown = card(&page, "rps");
    eprintln!(
        "web: page shows {shown} req/s (text {:?}); the client finished {sent:.1}/s in that window",
        page["cards"]["rps"]["text"]
    );
    assert!(
        (shown - sent).abs() <= 0.1 * sent && sent >= 30.0,
        "page shows {shown} req/s, the client sent {sent:.1}/s"
    );
    assert_eq!(page["cards"]["rps"]["text"], figure(shown));

    // A slow origin fires high_latency; the row appears in the same page (no reload).
    delay.store(300, Relaxed);
    let firing = r#"document.querySelector('#alerts tr[data-alert-name="high_latency"][data-state="firing"]') && window.__marker === 1"#;
    assert!(
        browser
            .wait_for(firing, Duration::from_secs(20))
            .await
            .is_some(),
        "the alert never appeared: {}",
        browser.eval(PAGE_STATE).await
    );
    delay.store(0, Relaxed);
    drop(load.stop().await);

    // The proxy restarts on the same ports; the page reconnects by itself and shows new figures.
    let before = browser.eval(PAGE_STATE).await;
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit(Duration::from_secs(15)).await.is_some());
    let lost = r#"document.body.dataset.conn !== "live""#;
    assert!(
        browser
            .wait_for(lost, Duration::from_secs(15))
            .await
            .is_some(),
        "the page did not notice the proxy going away"
    );
    let mut proxy = ProxyProcess::spawn(&toml, proxy.proxy_addr(), proxy.admin_addr());
    proxy.wait_ready().await;
    let load = Load::paced(proxy.url("/item"), Duration::from_millis(50));
    let fresh = |page: &Value| {
        page["conn"] == "live"
            && page["uptime"].as_f64() < before["uptime"].as_f64()
            && card(page, "rps") > 0.0
    };
    let after = browser
        .poll(PAGE_STATE, Duration::from_secs(30), fresh)
        .await;
    drop(load.stop().await);
    let after =
        after.unwrap_or_else(|| panic!("no new figures after the restart; before {before}"));
    eprintln!(
        "web: before the restart uptime {} s, after {} s, {} req/s",
        before["uptime"], after["uptime"], after["cards"]["rps"]["value"]
    );
    assert_eq!(after["marker"], 1, "reconnected without a reload");
    assert!(after["seq"].as_u64() > before["seq"].as_u64());
    browser.quit().await;
}

#[tokio::test]
async fn the_page_agrees_with_the_summary_for_the_same_sample() {
    let origin = TestOrigin::spawn(with_healthz(|r| match r.path() {
        "/static" => TestResponse::ok("s").header("cache-control", "max-age=60"),
        "/fail" => TestResponse::status(503),
        _ => TestResponse::ok("i").header("cache-control", "no-store"),
    }))
    .await;
    // Traces on (to a collector that is not there: ids are still made and linked).
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("telemetry.traces", true)
        .set("telemetry.otlp_endpoint", format!("http://{}", free_addr()))
        .set("telemetry.jaeger_ui_url", "http://jaeger.example:16686");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let mut browser = Browser::launch().await;
    browser.open(&proxy.admin_url("/")).await;
    let http = client();
    for i in 0..30 {
        let path = ["/static", "/item", "/fail"][i % 3];
        http.get(proxy.url(path)).send().await.unwrap();
    }
    // Read the page, then the summary; keep the pair that describes one sample.
    let mut pair = None;
    for _ in 0..60 {
        let page = browser.eval(PAGE_STATE).await;
        let sum: Value = http
            .get(proxy.admin_url("/api/summary"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let same = page["seq"].as_u64() == sum["generated_unix_ms"].as_u64();
        if same && sum["totals"]["requests"] == 30 {
            pair = Some((page, sum));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (page, sum) = pair.expect("never read the page and the summary on one sample");
    let f = |ptr: &str| sum.pointer(ptr).and_then(Value::as_f64).unwrap();
    let checks = [
        ("rps", "/window/requests_per_second", ""),
        ("avg", "/window/avg_response_time_ms", " ms"),
        ("p99", "/window/p99_ms", " ms"),
        ("errors", "/window/error_rate_percent", " %"),
        ("hit", "/window/cache_hit_ratio_percent", " %"),
        ("cpu", "/cpu_percent", " %"),
        ("inflight", "/queue_size", ""),
        ("connections", "/connections", ""),
        ("memory", "/memory_usage_bytes", ""),
        ("bytes_out", "/bytes_sent_per_second", ""),
        ("bytes_in", "/bytes_received_per_second", ""),
    ];
    for (key, ptr, unit) in checks {
        assert_eq!(card(&page, key), f(ptr), "{key} vs {ptr}");
        if !unit.is_empty() || key == "rps" {
            assert_eq!(
                page["cards"][key]["text"],
                format!("{}{unit}", figure(f(ptr))),
                "{key}"
            );
        }
    }
    assert!(f("/window/error_rate_percent") > 0.0 && f("/window/cache_hit_ratio_percent") > 0.0);
    let window = format!("window {} s", figure(f("/window/window_seconds")));
    assert!(
        page["meta"].as_str().unwrap().contains(&window),
        "{}",
        page["meta"]
    );
    let row = &page["upstreams"][0];
    let up = &sum["upstreams"][0];
    assert_eq!(row[0], up["address"]);
    assert_eq!(row[3], up["requests"].to_string());
    assert_eq!(row[4], up["errors"].to_string());
    let slowest = &sum["slowest"][0];
    assert_eq!(page["slowest"][0][2], slowest["path"]);
    assert_eq!(
        page["slowest"][0][4],
        format!("{} ms", figure(slowest["latency_ms"].as_f64().unwrap()))
    );
    // The latency chart marks its slowest samples with links to those samples' slowest traces.
    let history: Value = http
        .get(proxy.admin_url("/api/metrics/history?duration=300"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let traced: Vec<String> = history["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["slowest"]["trace_id"].as_str())
        .map(|id| format!("http://jaeger.example:16686/trace/{id}"))
        .collect();
    let marks = page["marks"].as_array().unwrap();
    assert!(
        !marks.is_empty(),
        "no trace marks on the latency chart: {page}"
    );
    for m in marks {
        assert!(
            traced.iter().any(|t| m == t),
            "mark {m} links no sample's slowest trace"
        );
    }
    eprintln!(
        "web: page and /api/summary agree on sample {}: {}",
        sum["generated_unix_ms"], page["cards"]
    );
    browser.quit().await;
}
