//! The harness's own smoke tests: `TestOrigin` records, swaps handlers, stops and restarts;
//! `ConfigBuilder` writes mergeable TOML.

use std::time::Duration;

use crate::util::{accepts_tcp, client, poll_until, ConfigBuilder, TestOrigin, TestResponse};

#[tokio::test]
async fn origin_records_requests_and_counts_hits() {
    let origin = TestOrigin::named("o1").await;
    let c = client();
    for _ in 0..2 {
        let r = c
            .get(origin.url("/a?x=1"))
            .header("x-test", "yes")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-origin"], "o1");
        assert_eq!(r.text().await.unwrap(), "o1");
    }
    let r = c
        .post(origin.url("/b"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(origin.url("/healthz")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");

    assert_eq!(origin.hits("/a"), 2);
    assert_eq!(origin.hits("/b"), 1);
    assert_eq!(origin.hits("/missing"), 0);
    assert_eq!(origin.requests().len(), 4);
    let a = &origin.requests_to("/a")[0];
    assert_eq!(a.method, http::Method::GET);
    assert_eq!(a.uri, "/a?x=1");
    assert_eq!(a.query(), Some("x=1"));
    assert_eq!(a.header("x-test"), Some("yes"));
    assert!(a.peer.ip().is_loopback());
    let b = &origin.requests_to("/b")[0];
    assert_eq!((b.method.as_str(), &b.body[..]), ("POST", &b"payload"[..]));

    origin.clear();
    assert!(origin.requests().is_empty());
}

#[tokio::test]
async fn origin_handler_can_be_swapped_at_runtime() {
    let origin = TestOrigin::spawn(|_| TestResponse::ok("first")).await;
    let c = client();
    assert_eq!(
        c.get(origin.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "first"
    );
    origin.set_handler(|req| {
        TestResponse::status(503)
            .header("retry-after", "1")
            .body(format!("down for {}", req.path()))
    });
    let r = c.get(origin.url("/x")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.text().await.unwrap(), "down for /x");
}

#[tokio::test]
async fn origin_stop_refuses_connects_and_restart_reuses_the_port() {
    let mut origin = TestOrigin::named("o1").await;
    let addr = origin.addr();
    let c = client();
    assert_eq!(c.get(origin.url("/x")).send().await.unwrap().status(), 200);

    origin.stop().await;
    assert!(!origin.is_running());
    assert!(!accepts_tcp(addr).await, "stopped origin still accepts");
    assert!(c.get(origin.url("/x")).send().await.is_err());

    origin.restart().await;
    assert_eq!(origin.addr(), addr);
    assert!(origin.is_running());
    assert_eq!(c.get(origin.url("/x")).send().await.unwrap().status(), 200);
    // Records survive a restart.
    assert_eq!(origin.hits("/x"), 2);

    // Stop/restart cycles with connections that were just closed (TIME_WAIT) still rebind.
    for _ in 0..3 {
        origin.stop().await;
        origin.restart().await;
        assert_eq!(c.get(origin.url("/x")).send().await.unwrap().status(), 200);
    }
    assert_eq!(origin.hits("/x"), 5);
}

#[tokio::test]
async fn origin_stop_cuts_requests_in_flight() {
    let mut origin =
        TestOrigin::spawn(|_| TestResponse::ok("late").delay(Duration::from_secs(30))).await;
    let url = origin.url("/slow");
    let pending = tokio::spawn(async move { client().get(url).send().await });
    assert!(
        poll_until(Duration::from_secs(5), || async {
            origin.hits("/slow") == 1
        })
        .await,
        "the slow request never arrived"
    );
    origin.stop().await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the cut request ends at once")
        .expect("the client task does not panic");
    assert!(
        outcome.is_err(),
        "a cut connection cannot deliver a response"
    );
}

#[test]
fn config_builder_renders_mergeable_toml() {
    let upstreams = [
        "127.0.0.1:9001".parse().unwrap(),
        "127.0.0.1:9002".parse().unwrap(),
    ];
    let builder = ConfigBuilder::new(&upstreams)
        .set("cache.max_size", "1MiB")
        .extra(
            "[proxy]\nthreads = 1\n[upstreams.health_check]\nunhealthy_after = 1\n\
             [[alerts.rules]]\nname = \"slow\"\nmetric = \"avg_response_time_ms\"\n\
             op = \">\"\nthreshold = 100\nfor = \"1s\"\nseverity = \"critical\"\n",
        );
    assert_ne!(builder.proxy_addr(), builder.admin_addr());
    let text = builder.to_toml();
    let parsed: toml::Table = toml::from_str(&text).expect("the builder writes valid TOML");
    let get = |path: &str| {
        path.split('.')
            .try_fold(&parsed, |t, k| t.get(k).and_then(|v| v.as_table()).ok_or(k))
            .unwrap_or_else(|k| panic!("no table {k} in\n{text}"))
    };
    let proxy = get("proxy");
    assert_eq!(
        proxy["listen"].as_str(),
        Some(&*builder.proxy_addr().to_string())
    );
    assert_eq!(proxy["grace_period"].as_str(), Some("1s"));
    assert_eq!(
        proxy["threads"].as_integer(),
        Some(1),
        "extra merges into [proxy]"
    );
    let servers = get("upstreams")["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[1].as_str(), Some("127.0.0.1:9002"));
    let check = get("upstreams.health_check");
    assert_eq!(check["interval"].as_str(), Some("200ms"));
    assert_eq!(check["unhealthy_after"].as_integer(), Some(1));
    assert_eq!(get("telemetry")["traces"].as_bool(), Some(false));
    assert_eq!(get("telemetry")["metrics"].as_bool(), Some(false));
    assert_eq!(get("dashboard")["console"].as_bool(), Some(false));
    assert_eq!(get("cache")["max_size"].as_str(), Some("1MiB"));
    let admin = builder.admin_addr().to_string();
    assert_eq!(get("admin")["listen"].as_str(), Some(&*admin));
    let rules = get("alerts")["rules"].as_array().unwrap();
    assert_eq!(rules[0]["severity"].as_str(), Some("critical"));
}
