//! Live config reload against the real binary: SIGHUP and `POST /api/config/reload` re-read the
//! config file; upstream changes apply under load without a failed request; an invalid file and
//! restart-only changes leave the running config as it was, and every attempt is reported;
//! health checks, the sampling ratio and alert rules change in place, and at most 64 upstreams
//! can be added over the process's life.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::origin::{TestOrigin, TestResponse};
use crate::util::proxy::{ConfigBuilder, ProxyProcess};
use crate::util::{client, poll_for};

/// Polls `/api/summary` until `reload.count_ok + reload.count_failed` reaches `attempts`.
async fn reload_status(proxy: &ProxyProcess, attempts: u64) -> Value {
    poll_for(Duration::from_secs(10), || async {
        let r = proxy.admin_json("/api/summary").await["reload"].clone();
        let done = r["count_ok"].as_u64()? + r["count_failed"].as_u64()?;
        (done >= attempts).then_some(r)
    })
    .await
    .unwrap_or_else(|| panic!("no reload reported\n{}", proxy.output()))
}

fn servers(origins: &[&TestOrigin]) -> Vec<String> {
    origins.iter().map(|o| o.addr().to_string()).collect()
}

/// One response seen by the load loop: when its request was sent and which origin answered.
struct Seen {
    sent: Instant,
    origin: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sighup_moves_traffic_to_the_new_upstreams_under_load_without_a_failed_request() {
    let a = TestOrigin::named("a").await;
    let b = TestOrigin::named("b").await;
    let c = TestOrigin::named("c").await;
    let config = ConfigBuilder::new(&[a.addr(), b.addr()]).set("cache.enabled", false);
    let proxy = ProxyProcess::start_with_admin(config.clone()).await;
    let interval = Duration::from_millis(200);

    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (stop, failed, seen) = (stop.clone(), failed.clone(), seen.clone());
        let url = proxy.url("/load");
        loops.push(tokio::spawn(async move {
            let http = client(); // keep-alive: each loop reuses its connection
            while !stop.load(Relaxed) {
                let sent = Instant::now();
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        let origin = r
                            .headers()
                            .get("x-origin")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("?")
                            .to_owned();
                        let _ = r.bytes().await;
                        seen.lock().unwrap().push(Seen { sent, origin });
                    }
                    _ => {
                        failed.fetch_add(1, Relaxed);
                    }
                }
            }
        }));
    }
    let load_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;

    std::fs::write(
        proxy.config_path(),
        config
            .clone()
            .set("upstreams.servers", servers(&[&b, &c]))
            .to_toml(),
    )
    .unwrap();
    let hup = Instant::now();
    proxy.signal(libc::SIGHUP);
    let status = reload_status(&proxy, 1).await;
    let reported = Instant::now();
    assert_eq!(status["result"], "ok", "{status}");
    assert_eq!(
        status["changes"],
        serde_json::json!(["upstreams.servers: applied"])
    );
    assert_ne!(status["config_hash"], status["initial_config_hash"]);

    tokio::time::sleep(
        (load_start + Duration::from_secs(10)).saturating_duration_since(Instant::now()),
    )
    .await;
    stop.store(true, Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    let seen = seen.lock().unwrap();
    let failed = failed.load(Relaxed);
    assert_eq!(failed, 0, "failed requests during the reload");
    assert!(seen.iter().any(|s| s.sent < hup && s.origin == "a"));
    // Every request sent once the reload was reported went to the new set.
    let stray: Vec<_> = seen
        .iter()
        .filter(|s| s.sent > reported && s.origin == "a")
        .collect();
    assert!(stray.is_empty(), "{} requests still reached a", stray.len());
    assert!(seen.iter().any(|s| s.sent > reported && s.origin == "c"));
    let first_c = seen
        .iter()
        .filter(|s| s.origin == "c")
        .map(|s| s.sent)
        .min()
        .unwrap();
    let last_a = seen
        .iter()
        .filter(|s| s.origin == "a")
        .map(|s| s.sent)
        .max()
        .unwrap();
    println!(
        "reload under load: {} requests, {failed} failed; SIGHUP → reload reported {:?}, \
         → first request to the added upstream {:?}, → last request sent to the removed one {:?} \
         (health-check interval {interval:?})",
        seen.len() + failed as usize,
        reported - hup,
        first_c.saturating_duration_since(hup),
        last_a.saturating_duration_since(hup),
    );
}

#[tokio::test]
async fn an_invalid_file_sent_with_sighup_changes_nothing_and_is_reported() {
    let a = TestOrigin::named("a").await;
    let config = ConfigBuilder::new(&[a.addr()]).set("cache.enabled", false);
    let proxy = ProxyProcess::start_with_admin(config.clone()).await;
    let before = proxy.admin_json("/api/summary").await["reload"].clone();
    assert_eq!(before["result"], "none");
    assert_eq!(before["config_hash"], before["initial_config_hash"]);

    let b = TestOrigin::named("b").await;
    let broken = config
        .set("upstreams.servers", servers(&[&b]))
        .set("upstreams.health_check.interval", "soon")
        .to_toml();
    std::fs::write(proxy.config_path(), &broken).unwrap();
    proxy.signal(libc::SIGHUP);
    let status = reload_status(&proxy, 1).await;
    assert_eq!(status["result"], "refused", "{status}");
    assert_eq!(status["count_failed"], 1);
    assert_eq!(status["config_hash"], before["initial_config_hash"]);
    let errors: Vec<&str> = status["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(!errors.is_empty());
    // The same lines `sightline check` prints for the file.
    let check = crate::util::sightline_command([
        std::ffi::OsStr::new("check"),
        std::ffi::OsStr::new("-c"),
        proxy.config_path().as_os_str(),
    ])
    .output()
    .unwrap();
    let check_err = String::from_utf8_lossy(&check.stderr);
    for e in &errors {
        assert!(e.contains("upstreams.health_check.interval"), "{e}");
        assert!(check_err.contains(e), "{e} not in check's\n{check_err}");
    }
    proxy
        .wait_for_stderr("config reload refused", Duration::from_secs(5))
        .await;

    // Still served by the running set.
    let r = client().get(proxy.url("/x")).send().await.unwrap();
    assert_eq!(r.headers()["x-origin"], "a");
    assert_eq!(b.hits("/x"), 0);
    let metrics = client()
        .get(proxy.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("sightline_config_reloads_total{result=\"refused\"} 1"));
    assert!(metrics.contains("sightline_config_reloads_total{result=\"ok\"} 0"));
}

#[tokio::test]
async fn post_reload_needs_the_token_and_reports_restart_only_changes() {
    let a = TestOrigin::named("a").await;
    let b = TestOrigin::named("b").await;
    let config = ConfigBuilder::new(&[a.addr()])
        .set("cache.enabled", false)
        .set("admin.token", "s3cret");
    let mut proxy =
        ProxyProcess::spawn(&config.to_toml(), config.proxy_addr(), config.admin_addr());
    proxy.wait_ready().await;
    let http = client();
    let url = proxy.admin_url("/api/config/reload");

    let new_listen = crate::util::free_addr();
    std::fs::write(
        proxy.config_path(),
        config
            .clone()
            .set("proxy.listen", new_listen.to_string())
            .set("upstreams.servers", servers(&[&b]))
            .to_toml(),
    )
    .unwrap();
    let denied = http.post(&url).send().await.unwrap();
    assert_eq!(denied.status(), 401);

    let ok = http.post(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["result"], "ok", "{body}");
    assert_eq!(
        body["changes"],
        serde_json::json!([
            "upstreams.servers: applied",
            "proxy.listen: needs restart, left as it was"
        ])
    );
    // The upstream moved; the listener stayed where it was.
    let r = client().get(proxy.url("/y")).send().await.unwrap();
    assert_eq!(r.headers()["x-origin"], "b");
    assert!(!crate::util::accepts_tcp(new_listen).await);
    proxy
        .wait_for_stderr("config reloaded", Duration::from_secs(5))
        .await;

    // An invalid file: 400 with the field-path errors, nothing changes.
    std::fs::write(
        proxy.config_path(),
        config
            .set("upstreams.servers", vec!["not-an-address"])
            .to_toml(),
    )
    .unwrap();
    let refused = http.post(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["result"], "refused");
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("upstreams.servers[0]"));
    assert_eq!(
        (body["count_ok"].as_u64(), body["count_failed"].as_u64()),
        (Some(1), Some(1))
    );
    let r = client().get(proxy.url("/z")).send().await.unwrap();
    assert_eq!(r.headers()["x-origin"], "b");
    proxy.terminate().await;
}

#[tokio::test]
async fn an_added_upstream_failing_its_checks_gets_no_traffic_and_a_removed_one_stays_listed() {
    let a = TestOrigin::named("a").await;
    let b = TestOrigin::named("b").await;
    // Accepts requests (so any that reached it would be seen) but fails every health check.
    let sick = TestOrigin::spawn(|req| {
        if req.path() == "/healthz" {
            TestResponse::status(503)
        } else {
            TestResponse::ok("sick")
        }
    })
    .await;
    let config = ConfigBuilder::new(&[a.addr()]).set("cache.enabled", false);
    let proxy = ProxyProcess::start_with_admin(config.clone()).await;
    let http = client();

    let rewrite = |origins: &[&TestOrigin]| {
        let text = config
            .clone()
            .set("upstreams.servers", servers(origins))
            .to_toml();
        std::fs::write(proxy.config_path(), text).unwrap();
        proxy.signal(libc::SIGHUP);
    };
    rewrite(&[&a, &sick]);
    assert_eq!(reload_status(&proxy, 1).await["result"], "ok");
    for _ in 0..20 {
        let r = http.get(proxy.url("/x")).send().await.unwrap();
        assert_eq!(r.headers()["x-origin"], "a");
    }
    assert_eq!(sick.hits("/x"), 0, "the failing newcomer got traffic");

    // Removed: a stays listed with the requests it served.
    rewrite(&[&b]);
    assert_eq!(reload_status(&proxy, 2).await["result"], "ok");
    let r = http.get(proxy.url("/y")).send().await.unwrap();
    assert_eq!(r.headers()["x-origin"], "b");
    // The admin samples its figures once a second: poll until the sample shows a's requests.
    let addr = a.addr().to_string();
    let listed = poll_for(Duration::from_secs(5), || async {
        let listed = proxy.admin_json("/api/upstreams").await;
        let requests = listed["upstreams"]
            .as_array()?
            .iter()
            .find(|u| u["address"] == addr.as_str())?["requests"]
            .as_u64()?;
        (requests >= 20).then_some(())
    })
    .await;
    assert!(
        listed.is_some(),
        "the removed upstream is not listed with its requests: {}",
        proxy.admin_json("/api/upstreams").await
    );
}

/// Rules that fire as soon as the engine evaluates, without traffic: `keep` and `second`.
fn rules(second: &str) -> String {
    format!(
        "[alerts]\nupstream_down = false\n\
         [[alerts.rules]]\nname = \"keep\"\nmetric = \"healthy_upstreams\"\nop = \">=\"\n\
         threshold = 0\nfor = \"0s\"\nseverity = \"warning\"\n\
         [[alerts.rules]]\nname = \"{second}\"\nmetric = \"memory_usage_mb\"\nop = \">\"\n\
         threshold = 0\nfor = \"0s\"\nseverity = \"info\"\n"
    )
}

/// Names of a JSON list of objects.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|l| l.iter().map(|r| r["name"].to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn health_check_sample_ratio_and_alert_rules_change_in_place() {
    let origin = TestOrigin::spawn(|req| match req.path() {
        "/healthz" => TestResponse::ok("ok"),
        "/down" => TestResponse::status(503),
        _ => TestResponse::ok("o"),
    })
    .await;
    let collector = crate::util::Refusing::new(); // spans are dropped: only sampling counts
    let config = ConfigBuilder::new(&[origin.addr()])
        .set("cache.enabled", false)
        .set("telemetry.traces", true)
        .set(
            "telemetry.otlp_endpoint",
            format!("http://{}", collector.addr),
        )
        .set("telemetry.sample_ratio", 0.0)
        .extra(&rules("drop"));
    let proxy = ProxyProcess::start_with_admin(config.clone()).await;
    let http = client();
    let firing = |want: &'static [&'static str]| {
        let proxy = &proxy;
        async move {
            poll_for(Duration::from_secs(10), || async {
                let alerts = proxy.admin_json("/api/alerts").await;
                let mut active = names(&alerts["active"]);
                active.sort();
                (active == want.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>())
                    .then_some(alerts)
            })
            .await
            .unwrap_or_else(|| panic!("alerts {want:?} never all firing\n{}", proxy.output()))
        }
    };
    let before = firing(&["drop", "keep"]).await;
    let keep_id = before["active"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "keep")
        .unwrap()["id"]
        .clone();
    let r = http.get(proxy.url("/a")).send().await.unwrap();
    assert!(
        r.headers().get("traceresponse").is_none(),
        "ratio 0 sampled"
    );
    assert_eq!(origin.hits("/down"), 0);

    std::fs::write(
        proxy.config_path(),
        config
            .set("telemetry.sample_ratio", 1.0)
            .set("upstreams.health_check.path", "/down")
            .set("upstreams.health_check.unhealthy_after", 1)
            .extra(&rules("new"))
            .to_toml(),
    )
    .unwrap();
    let reply = http
        .post(proxy.admin_url("/api/config/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(
        body["changes"],
        serde_json::json!([
            "upstreams.health_check: applied",
            "telemetry.sample_ratio: applied",
            "alerts.rules: applied"
        ]),
        "{body}"
    );

    // alerts.rules: the new set is served; `keep` keeps its firing alert, `drop`'s is history.
    let listed = proxy.admin_json("/api/alerts/rules").await;
    assert_eq!(names(&listed["rules"]), ["\"keep\"", "\"new\""], "{listed}");
    let after = firing(&["keep", "new"]).await;
    let kept = after["active"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "keep")
        .unwrap();
    assert_eq!(
        kept["id"], keep_id,
        "the unchanged rule's alert was replaced: {after}"
    );
    assert!(
        names(&after["history"]).contains(&"\"drop\"".to_string()),
        "the removed rule's alert is not in the history: {after}"
    );
    // telemetry.sample_ratio: every new trace is sampled now.
    let r = http.get(proxy.url("/b")).send().await.unwrap();
    assert!(
        r.headers().get("traceresponse").is_some(),
        "ratio 1 did not sample"
    );
    // upstreams.health_check: the new path is probed and fails, so the upstream goes down.
    let addr = origin.addr().to_string();
    let down = poll_for(Duration::from_secs(10), || async {
        let h = proxy.admin_json("/health").await;
        h["upstreams"]
            .as_array()?
            .iter()
            .any(|u| u["address"] == addr.as_str() && u["healthy"] == false)
            .then_some(())
    })
    .await;
    assert!(down.is_some(), "still healthy\n{}", proxy.output());
    assert!(origin.hits("/down") > 0);
}

/// Waits until `/api/upstreams` (sampled once a second) lists `n` upstreams.
async fn listed_upstreams(proxy: &ProxyProcess, n: usize) {
    let listed = poll_for(Duration::from_secs(5), || async {
        let listed = proxy.admin_json("/api/upstreams").await;
        (listed["upstreams"].as_array()?.len() == n).then_some(())
    })
    .await;
    assert!(
        listed.is_some(),
        "not {n} upstreams listed: {}",
        proxy.admin_json("/api/upstreams").await
    );
}

#[tokio::test]
async fn reloads_add_up_to_64_upstreams_over_the_process_life_and_refuse_more() {
    let a = TestOrigin::named("a").await;
    let config = ConfigBuilder::new(&[a.addr()]).set("cache.enabled", false);
    let proxy = ProxyProcess::start_with_admin(config.clone()).await;
    // Addresses that refuse connections (health checks mark them down at once).
    let dead: Vec<crate::util::Refusing> = (0..65).map(|_| crate::util::Refusing::new()).collect();
    let reload = |extra: &[crate::util::Refusing]| {
        let mut list = vec![a.addr().to_string()];
        list.extend(extra.iter().map(|r| r.addr.to_string()));
        let text = config.clone().set("upstreams.servers", list).to_toml();
        std::fs::write(proxy.config_path(), text).unwrap();
        let http = client();
        let url = proxy.admin_url("/api/config/reload");
        async move {
            let r = http.post(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // 64 added over two reloads (a removed upstream keeps its slot).
    let (status, body) = reload(&dead[..40]).await;
    assert_eq!((status, &body["result"]), (200, &"ok".into()), "{body}");
    let (status, body) = reload(&dead[40..64]).await;
    assert_eq!((status, &body["result"]), (200, &"ok".into()), "{body}");
    listed_upstreams(&proxy, 65).await;

    // The 65th added is refused, naming the field; the running set stays.
    let (status, body) = reload(&dead[64..]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["result"], "refused");
    let error = body["errors"][0].as_str().unwrap_or_default();
    assert!(error.starts_with("error: upstreams.servers:"), "{body}");
    let r = client().get(proxy.url("/x")).send().await.unwrap();
    assert_eq!(r.headers()["x-origin"], "a");
    listed_upstreams(&proxy, 65).await;
}
