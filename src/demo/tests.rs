//! Route tests against a real demo origin on 127.0.0.1:0.

use super::*;
use std::time::Instant;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain HTTP client builds")
}

async fn spawn(opts: DemoOptions) -> (DemoOrigin, String) {
    let origin = spawn_origin("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", origin.local_addr());
    (origin, base)
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn routes_answer_as_documented() {
    let (origin, base) = spawn(DemoOptions::named("o1")).await;
    assert_ne!(origin.local_addr().port(), 0);
    let c = client();

    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-origin"), "o1");
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("<code>o1</code>"));

    let r = c.get(format!("{base}/api/items/42")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "x-origin"), "o1");
    let item: serde_json::Value = r.json().await.unwrap();
    assert_eq!(item["id"], 42);
    assert_eq!(item["served_by"], "o1");

    let r = c
        .get(format!("{base}/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "max-age=30");
    assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&r, "last-modified"), STATIC_LAST_MODIFIED);
    let etag = header(&r, "etag").to_owned();
    assert_eq!(etag, etag_for("/static/app.css"));
    assert_eq!(r.text().await.unwrap(), demo_body_for("/static/app.css"));

    let r = c.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "x-origin"), "o1");

    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-origin"), "o1");
    assert_eq!(r.text().await.unwrap(), "ok");

    // Four requests besides /healthz.
    assert_eq!(origin.requests(), 4);
}

#[tokio::test]
async fn static_revalidation_answers_304() {
    let (_origin, base) = spawn(DemoOptions::named("o1")).await;
    let c = client();
    let url = format!("{base}/static/js/app.js");
    let etag = etag_for("/static/js/app.js");

    let r = c
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "etag"), etag);
    assert_eq!(header(&r, "cache-control"), "max-age=30");
    assert_eq!(header(&r, "x-origin"), "o1");
    assert!(r.bytes().await.unwrap().is_empty());

    let r = c
        .get(&url)
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = c
        .get(&url)
        .header("if-modified-since", STATIC_LAST_MODIFIED);
    assert_eq!(r.send().await.unwrap().status(), 304);
    // If-None-Match decides alone when both are sent.
    let r = c
        .get(&url)
        .header("if-none-match", "\"stale\"")
        .header("if-modified-since", STATIC_LAST_MODIFIED);
    assert_eq!(r.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn query_knobs_delay_and_force_status() {
    let (origin, base) = spawn(DemoOptions::named("o1")).await;
    let c = client();

    let r = c
        .get(format!("{base}/api/items/1?status=503"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "x-origin"), "o1");
    let r = c
        .get(format!("{base}/static/a.css?status=204"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c.get(format!("{base}/?status=100")).send().await.unwrap();
    assert_eq!(r.status(), 501);
    for bad in ["status=600", "status=x", "delay_ms=soon"] {
        let r = c.get(format!("{base}/?{bad}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    let started = Instant::now();
    let r = c.get(format!("{base}/?delay_ms=150")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    // /healthz ignores the knobs.
    let r = c.get(format!("{base}/healthz?status=500&delay_ms=60000"));
    assert_eq!(r.send().await.unwrap().status(), 200);
    assert_eq!(origin.requests(), 7);
}

#[tokio::test]
async fn options_add_latency_and_api_errors() {
    let opts = DemoOptions {
        latency: Duration::from_millis(100),
        error_rate: 1.0,
        name: "slow".into(),
        chaos: None,
    };
    let (_origin, base) = spawn(opts).await;
    let c = client();

    let started = Instant::now();
    let r = c.get(format!("{base}/api/items/9")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(header(&r, "x-origin"), "slow");
    assert!(started.elapsed() >= Duration::from_millis(100));
    // Only /api/* fails.
    assert_eq!(
        c.get(format!("{base}/static/x.txt"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // /healthz is never delayed: with a minute of latency it still answers within the
    // client's 10 s timeout.
    let mut opts = DemoOptions::named("stuck");
    opts.latency = Duration::from_secs(60);
    let (_stuck, base) = spawn(opts).await;
    assert_eq!(
        c.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn invalid_options_are_refused() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut opts = DemoOptions::named("o");
    opts.error_rate = 1.5;
    assert!(spawn_origin(addr, opts).await.is_err());
    assert!(spawn_origin(addr, DemoOptions::named("bad\nname"))
        .await
        .is_err());
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let (origin, _base) = spawn(DemoOptions::named("o1")).await;
    let addr = origin.local_addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    origin.shutdown();
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn chaos_turns_make_an_origin_down_slow_then_failing() {
    use super::chaos::{Chaos, SLOW_BY, TURN};
    let at = |into: std::time::Duration| {
        let mut opts = DemoOptions::named("chaotic");
        opts.chaos = Some(Chaos {
            start: std::time::Instant::now() - into,
            index: 0,
            count: 1,
        });
        opts
    };
    let c = client();
    let status = |base: &str, path: &str| {
        let url = format!("{base}{path}");
        let c = c.clone();
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };

    let (_down, base) = spawn(at(std::time::Duration::ZERO)).await;
    assert_eq!(
        status(&base, "/healthz").await,
        503,
        "down fails its health check"
    );
    assert_eq!(status(&base, "/api/items/1").await, 503);

    let (_slow, base) = spawn(at(TURN)).await;
    assert_eq!(status(&base, "/healthz").await, 200);
    let started = std::time::Instant::now();
    assert_eq!(status(&base, "/api/items/1").await, 200);
    assert!(started.elapsed() >= SLOW_BY, "slow adds {SLOW_BY:?}");

    let (_failing, base) = spawn(at(TURN * 2)).await;
    assert_eq!(
        status(&base, "/healthz").await,
        200,
        "5xx keeps it in rotation"
    );
    assert_eq!(status(&base, "/api/items/1").await, 500);
    assert_eq!(status(&base, "/static/app.css").await, 500);

    let (_calm, base) = spawn(DemoOptions::named("calm")).await;
    assert_eq!(
        status(&base, "/api/items/1").await,
        200,
        "no chaos without --chaos"
    );
}
