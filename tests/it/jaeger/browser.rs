//! The built-in Jaeger UI in a real headless Chromium against a running `sightline demo`: the
//! trace of a response's `traceresponse` renders with its server span and `cache lookup`, and
//! the search page lists the `sightline` service and its traces.
//! `SIGHTLINE_JAEGER_SCREENSHOT=path.png` saves the trace page (the README's screenshot).

use std::process::{Child, Stdio};
use std::time::Duration;

use super::trace_id;
use crate::util::{client, fetch, free_addr, poll_until, sightline_command, Browser};

/// A running `sightline demo` on free ports; killed on drop.
struct Demo {
    child: Child,
    proxy: std::net::SocketAddr,
    admin: std::net::SocketAddr,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn demo() -> Demo {
    let (proxy, admin) = (free_addr(), free_addr());
    let child = sightline_command([
        "demo",
        "--listen",
        &proxy.to_string(),
        "--admin",
        &admin.to_string(),
        "--latency-ms",
        "20",
    ])
    // No collector runs here; the built-in view needs none.
    .env(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://{}", free_addr()),
    )
    .env("OTEL_BSP_SCHEDULE_DELAY", "200")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn sightline demo");
    let demo = Demo {
        child,
        proxy,
        admin,
    };
    let http = client();
    let health = format!("http://{admin}/health");
    assert!(
        poll_until(Duration::from_secs(20), || async {
            http.get(&health).send().await.is_ok()
        })
        .await,
        "the demo's admin API never answered"
    );
    assert!(
        poll_until(Duration::from_secs(20), || crate::util::accepts_tcp(proxy)).await,
        "the demo's proxy never listened"
    );
    demo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_a_demo_trace_in_the_built_in_jaeger_ui() {
    let demo = demo().await;
    let http = client();
    let r = fetch(http.get(format!("http://{}/api/items/42", demo.proxy))).await;
    assert_eq!(r.status, 200, "{r:?}");
    let id = trace_id(&r);
    let admin = format!("http://{}", demo.admin);
    super::jaeger_trace(&admin, &id, 3, None).await;

    let mut browser = Browser::launch().await;
    browser.open(&format!("{admin}/jaeger/trace/{id}")).await;
    let text = "document.body.innerText";
    let shown = browser
        .poll(text, Duration::from_secs(20), |v| {
            v.as_str()
                .is_some_and(|t| t.contains("cache lookup") && t.contains("sightline: GET"))
        })
        .await;
    assert!(
        shown.is_some(),
        "the trace page shows the server span and `cache lookup`: {}",
        browser.eval(text).await
    );
    if let Ok(path) = std::env::var("SIGHTLINE_JAEGER_SCREENSHOT") {
        // The timeline as an operator first sees it.
        browser.screenshot(std::path::Path::new(&path)).await;
    }

    browser
        .open(&format!("{admin}/jaeger/search?service=sightline&limit=20"))
        .await;
    let listed = browser
        .poll(text, Duration::from_secs(20), |v| {
            v.as_str().is_some_and(|t| {
                t.contains("sightline") && t.contains(&id[..7]) && t.contains("Traces")
            })
        })
        .await;
    assert!(
        listed.is_some(),
        "the search page lists the sightline service's traces: {}",
        browser.eval(text).await
    );
    browser.quit().await;
}
