//! The store under load stays within `embedded_ui_max_bytes` and `embedded_ui_max_traces`,
//! oldest traces evicted first, and the process's RSS stays bounded; also measures what 1,000
//! traces cost held (printed; `--nocapture`).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{trace_id, with_view};
use crate::util::{client, fetch, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

async fn store(admin: &str) -> Value {
    client()
        .get(format!("{admin}/jaeger/api/sightline/store"))
        .send()
        .await
        .expect("store figures")
        .json()
        .await
        .expect("json")
}

async fn found(admin: &str, id: &str) -> bool {
    let r = client()
        .get(format!("{admin}/jaeger/api/traces/{id}"))
        .send()
        .await
        .expect("trace");
    r.status() == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_stays_within_its_bounds_under_ten_seconds_of_load() {
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("x").header("cache-control", "no-store")).await;
    let max_bytes: u64 = 512 << 10;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("telemetry.embedded_ui_max_bytes", "512KiB")
        .set("telemetry.embedded_ui_max_traces", 100_000)
        // Spans of ~7 KiB at a fast machine's rate fill the default 16 MiB export buffer
        // within one 1 s batch tick (CI once lost the newest trace that way); this test is
        // about the view's bound, so the export buffer must not drop.
        .set("telemetry.max_buffer", "256MiB");
    let proxy = ProxyProcess::start_with_admin(with_view(cfg)).await;
    let admin = proxy.admin_url("");
    let admin = admin.trim_end_matches('/').to_owned();
    let http = client();
    let first = trace_id(&fetch(http.get(proxy.url("/first"))).await);
    let start_rss = rss_kib(proxy.pid());
    let started = Instant::now();
    let mut sent = 1u64;
    let mut last = String::new();
    let mut peak_bytes = 0u64;
    let mut peak_rss = start_rss;
    // RSS and requests sent once the pools, allocator and store have warmed up (3 s).
    let mut warm: Option<(u64, u64)> = None;
    while started.elapsed() < Duration::from_secs(10) {
        let batch: Vec<_> = (0..8)
            .map(|i| {
                let h = http.clone();
                // A long path: every span carries it, so each trace weighs a few KiB.
                let url = proxy.url(&format!("/load/{sent}/{i}/{}", "p".repeat(1500)));
                tokio::spawn(async move { fetch(h.get(url)).await })
            })
            .collect();
        for b in batch {
            let r = b.await.unwrap();
            assert_eq!(r.status, 200);
            last = trace_id(&r);
            sent += 1;
        }
        let s = store(&admin).await;
        let bytes = s["bytes"].as_u64().unwrap();
        peak_bytes = peak_bytes.max(bytes);
        assert!(bytes <= max_bytes, "over the byte bound: {s}");
        let rss = rss_kib(proxy.pid());
        peak_rss = peak_rss.max(rss);
        if warm.is_none() && started.elapsed() > Duration::from_secs(3) {
            warm = Some((rss, sent));
        }
    }
    // The newest trace arrives; the first is gone.
    let mut s = store(&admin).await;
    for _ in 0..100 {
        if found(&admin, &last).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        s = store(&admin).await;
    }
    assert!(
        found(&admin, &last).await,
        "newest trace held: {s}\n{}",
        proxy.stderr_text()
    );
    assert!(!found(&admin, &first).await, "oldest trace evicted: {s}");
    // Nothing was dropped before the view (else a missing trace proves nothing about it).
    let metrics = fetch(http.get(proxy.admin_url("/metrics"))).await.body;
    let buffer_full = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sightline_telemetry_spans_dropped_buffer_full_total "))
        .expect("buffer-full counter");
    assert_eq!(buffer_full.trim(), "0", "spans dropped at max_buffer");
    assert!(s["evicted"].as_u64().unwrap() > 0, "{s}");
    assert!(s["traces"].as_u64().unwrap() > 10, "{s}");
    let (warm_rss, warm_sent) = warm.expect("the load ran past 3 s");
    let grown = peak_rss.saturating_sub(warm_rss);
    // Held unbounded, the traces sent after warm-up would take what the ledger charges each
    // (which is ~1.4 times the RSS measured in the next test: halved to stay on the safe side).
    let per_trace = s["bytes"].as_u64().unwrap() / s["traces"].as_u64().unwrap().max(1);
    let unbounded = (sent - warm_sent) * per_trace / 2 / 1024;
    println!(
        "embedded store under load: {sent} requests in 10 s, {} traces held, peak {peak_bytes} B charged of {max_bytes}, RSS {start_rss} -> peak {peak_rss} KiB",
        s["traces"]
    );
    println!(
        "after warm-up: RSS +{grown} KiB for {} more requests (unbounded: ~{unbounded} KiB)",
        sent - warm_sent
    );
    // Measured, not judged tightly: on a shared 2-core box too few requests go through for RSS
    // alone to tell bounded from unbounded (the store's own figures above do); this catches
    // only a gross leak.
    assert!(grown < 64 * 1024, "RSS grew {grown} KiB after warm-up: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_held_per_thousand_traces() {
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("x").header("cache-control", "no-store")).await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("telemetry.embedded_ui_max_bytes", "1GiB")
        .set("telemetry.embedded_ui_max_traces", 100_000);
    let proxy = ProxyProcess::start_with_admin(with_view(cfg)).await;
    let admin = proxy.admin_url("");
    let admin = admin.trim_end_matches('/').to_owned();
    let http = client();
    let send = |n: u64, from: u64| {
        let (http, proxy_url) = (http.clone(), proxy.url("/m"));
        async move {
            for i in (from..from + n).step_by(8) {
                let batch: Vec<_> = (i..i + 8)
                    .map(|j| tokio::spawn(fetch(http.get(format!("{proxy_url}/{j}")))))
                    .collect();
                for b in batch {
                    assert_eq!(b.await.unwrap().status, 200);
                }
            }
        }
    };
    let held = |want: u64| {
        let admin = admin.clone();
        async move {
            for _ in 0..200 {
                if store(&admin).await["traces"].as_u64().unwrap() >= want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("store never reached {want} traces");
        }
    };
    // Warm up allocator and connection pools first, then measure 4,000 more traces.
    send(1_000, 0).await;
    held(1_000).await;
    let before = rss_kib(proxy.pid());
    let charged_before = store(&admin).await["bytes"].as_u64().unwrap();
    send(4_000, 1_000).await;
    held(5_000).await;
    let after = rss_kib(proxy.pid());
    let s = store(&admin).await;
    let charged = s["bytes"].as_u64().unwrap() - charged_before;
    let per_1000_kib = after.saturating_sub(before) / 4;
    println!(
        "embedded store: {per_1000_kib} KiB RSS per 1,000 traces (3 spans each); ledger charges {} KiB per 1,000 ({s})",
        charged / 4 / 1024
    );
    assert!(per_1000_kib > 0, "holding traces costs memory: {s}");
}
