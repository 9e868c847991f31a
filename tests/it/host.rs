//! Host handling through the real binary: the cache key includes the Host (no cross-host
//! poisoning), `upstreams.host` rewrites the Host the origin sees, and `proxy.server_names`
//! answers 421 for other hosts without touching an origin.

use std::time::Duration;

use crate::util::{
    client, fetch, poll_until, with_healthz, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

/// An origin that builds its cacheable page from the Host it sees (like absolute links do).
async fn host_reflecting_origin() -> TestOrigin {
    TestOrigin::spawn(with_healthz(|req| {
        let host = req.header("host").unwrap_or("").to_owned();
        TestResponse::ok(format!("page for {host}")).header("cache-control", "max-age=60")
    }))
    .await
}

#[tokio::test]
async fn a_response_for_one_host_is_never_served_to_another() {
    let origin = host_reflecting_origin().await;
    let proxy = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()])).await;
    let http = client();
    let get = |host: &'static str| http.get(proxy.url("/page")).header("host", host);
    let a1 = fetch(get("a.example")).await;
    let a2 = fetch(get("A.EXAMPLE:80")).await;
    let b = fetch(get("b.example")).await;
    assert_eq!(a1.body, "page for a.example", "{a1:?}");
    assert!(
        a2.cache_status().contains("hit"),
        "same host (case, default port) is one key: {a2:?}"
    );
    assert_eq!(a2.body, "page for a.example");
    assert_eq!(
        b.body, "page for b.example",
        "b.example got another host's page: {b:?}"
    );
    assert!(!b.cache_status().contains("hit"), "{b:?}");
    assert_eq!(origin.hits("/page"), 2);
    let b2 = fetch(get("b.example")).await;
    assert!(
        b2.cache_status().contains("hit") && b2.body == "page for b.example",
        "{b2:?}"
    );
}

#[tokio::test]
async fn upstreams_host_sets_the_host_the_origin_sees() {
    let origin = host_reflecting_origin().await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.host", "origin.internal");
    let proxy = ProxyProcess::start(cfg).await;
    let r = fetch(
        client()
            .get(proxy.url("/fixed"))
            .header("host", "www.example"),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "page for origin.internal");
    let seen = &origin.requests_to("/fixed")[0];
    assert_eq!(seen.header("host"), Some("origin.internal"), "{seen:?}");
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some("www.example"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn other_hosts_than_server_names_get_421_and_never_reach_an_origin() {
    let origin = host_reflecting_origin().await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("proxy.server_names", vec!["a.example", "*.b.example"]);
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    for host in ["a.example", "WWW.b.example:80"] {
        let r = fetch(http.get(proxy.url("/named")).header("host", host)).await;
        assert_eq!(r.status, 200, "{host}: {r:?}");
    }
    for host in ["evil.example", "b.example", "a.example.evil"] {
        let r = fetch(http.get(proxy.url("/other")).header("host", host)).await;
        assert_eq!(r.status, 421, "{host}: {r:?}");
    }
    assert_eq!(origin.hits("/named"), 2);
    assert_eq!(
        origin.hits("/other"),
        0,
        "a misdirected request reached the origin"
    );
    let counted = poll_until(Duration::from_secs(5), || async {
        proxy.admin_json("/api/summary").await["rejected"]["misdirected_host"].as_u64() == Some(3)
    })
    .await;
    assert!(
        counted,
        "{}",
        proxy.admin_json("/api/summary").await["rejected"]
    );
}
