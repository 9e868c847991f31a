//! A real collector (rotel) paused with SIGSTOP under load, traces at 100 %: the proxy keeps
//! serving every request at the collector-up rate, and what the exporter holds stays within
//! `telemetry.max_buffer` (RSS growth under `max_buffer` + 8 MiB) — the spans beyond it are
//! dropped and counted. Both rates are measured in this test, so the comparison is a ratio.
//!
//! Needs `pip install rotel` (or `$ROTEL_AGENT`); skipped loudly without it unless
//! `REQUIRE_ROTEL` is set (`.ci/run` sets it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::telemetry::otlp_receiver::rotel::{rotel_agent, Rotel};
use crate::telemetry::{rss_kib, traced, Receiver};
use crate::util::{client, try_fetch, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse};

/// Keep-alive clients in the load.
const CLIENTS: usize = 8;
/// `telemetry.max_buffer` here: below the default (16 MiB) so that a debug build's rate fills
/// it within the phase — an unbounded exporter would then exceed the RSS bound.
const MAX_BUFFER_KIB: u64 = 2 * 1024;

fn phase_secs() -> Duration {
    Duration::from_secs(
        std::env::var("LOAD_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
    )
}

/// Resumes the paused collector whatever happens to the test.
struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Paused {
        // SAFETY: signalling a child process this test started.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// Figures of one load phase.
#[derive(Debug)]
struct Phase {
    ok: u64,
    failed: u64,
    rate: f64,
    peak_rss_kib: u64,
}

/// `CLIENTS` keep-alive clients against `url` for `secs`, sampling the proxy's RSS meanwhile.
async fn load(url: &str, secs: Duration, pid: u32) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, ok, failed, url) =
                (stop.clone(), ok.clone(), failed.clone(), url.to_owned());
            tokio::spawn(async move {
                let http = client();
                while !stop.load(Ordering::Relaxed) {
                    match try_fetch(http.get(&url)).await {
                        Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut peak = rss_kib(pid);
    while started.elapsed() < secs {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_kib(pid));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("load worker");
    }
    let took = started.elapsed().as_secs_f64();
    peak = peak.max(rss_kib(pid));
    let ok = ok.load(Ordering::Relaxed);
    Phase {
        ok,
        failed: failed.load(Ordering::Relaxed),
        rate: ok as f64 / took,
        peak_rss_kib: peak,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paused_collector_costs_no_requests_no_throughput_and_bounded_memory() {
    let Some(bin) = rotel_agent() else {
        assert!(
            std::env::var_os("REQUIRE_ROTEL").is_none(),
            "REQUIRE_ROTEL is set but rotel-agent was not found (pip install rotel)"
        );
        eprintln!("SKIPPED paused_collector: rotel not installed (pip install rotel)");
        return;
    };
    // Measured alone: the throughput ratio must not be skewed by another test's load.
    let _alone = crate::load::measuring_alone().await;
    let receiver = Receiver::grpc().await;
    let forward_to = receiver.endpoint();
    let rotel = tokio::task::spawn_blocking(move || Rotel::start(&bin, &forward_to))
        .await
        .expect("rotel starts");
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("cached").header("cache-control", "max-age=600"))
            .await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("telemetry.sample_ratio", 1.0)
        .set("telemetry.max_buffer", format!("{MAX_BUFFER_KIB}KiB"));
    let proxy = ProxyProcess::start_with_admin(traced(cfg, &rotel.grpc_endpoint)).await;
    let pid = proxy.pid();
    let url = proxy.url("/hot");
    let warm = try_fetch(client().get(&url)).await.expect("warm-up");
    assert_eq!(warm.status, 200, "{warm:?}");
    let secs = phase_secs();

    // Warm the allocator and the export path, then the collector-up reference.
    load(&url, Duration::from_secs(2), pid).await;
    let up = load(&url, secs, pid).await;
    let spans_up = receiver.spans().len();

    let rss_before = rss_kib(pid);
    let paused = Paused::new(rotel.pid());
    let down = load(&url, secs, pid).await;
    drop(paused);
    let dropped = buffer_full_drops(&proxy).await;

    let growth = down.peak_rss_kib.saturating_sub(rss_before);
    let ratio = down.rate / up.rate;
    eprintln!(
        "collector pause ({secs:?} each, {CLIENTS} clients, traces 100 %, max_buffer {MAX_BUFFER_KIB} KiB):\n  \
         collector up:     {} ok, {} failed, {:.0} req/s, {spans_up} spans received\n  \
         collector paused: {} ok, {} failed, {:.0} req/s ({:+.1} %)\n  \
         RSS {rss_before} KiB before the pause, peak {} KiB during it: growth {growth} KiB \
         (bound {} KiB); {dropped} spans dropped at the bound",
        up.ok,
        up.failed,
        up.rate,
        down.ok,
        down.failed,
        down.rate,
        100.0 * (ratio - 1.0),
        down.peak_rss_kib,
        MAX_BUFFER_KIB + 8 * 1024,
    );
    assert_eq!(up.failed, 0, "requests failed with the collector up");
    assert!(
        spans_up > 0,
        "nothing reached the collector while it was up"
    );
    assert_eq!(
        down.failed, 0,
        "requests failed while the collector was paused"
    );
    // Throughput on this shared 2-core machine moves ±20 % between two 10 s phases (seen both
    // ways: -18 % and +17 %), so the 10 % figure is quoted from a quiet run, not asserted here;
    // what is asserted is the failure this guards against: a paused collector stalling the
    // request path (throughput collapsing while spans back up).
    assert!(
        ratio >= 0.5,
        "throughput fell {:.1} % with the collector paused ({:.0} → {:.0} req/s)",
        100.0 * (1.0 - ratio),
        up.rate,
        down.rate
    );
    assert!(
        growth < MAX_BUFFER_KIB + 8 * 1024,
        "RSS grew {growth} KiB with the collector paused: the exporter's buffer is not bounded\n{}",
        proxy.output()
    );
    assert!(
        dropped > 0,
        "no span was dropped at max_buffer: the phase never filled it, so the test proves nothing"
    );
    drop(rotel);
}

/// `sightline_telemetry_spans_dropped_buffer_full_total` from `/metrics` (sampled each second).
async fn buffer_full_drops(proxy: &ProxyProcess) -> u64 {
    let read = || async {
        let text = client()
            .get(proxy.admin_url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("sightline_telemetry_spans_dropped_buffer_full_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
    };
    crate::util::poll_for(Duration::from_secs(5), || async {
        read().await.filter(|&n| n > 0)
    })
    .await
    .or(read().await)
    .unwrap_or(0)
}
