//! Graceful shutdown through the real binary: SIGTERM lets a request in flight finish, then the
//! process exits 0.

use std::time::Duration;

use crate::util::{
    client, fetch, poll_until, with_healthz, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let origin = TestOrigin::spawn(with_healthz(|_| {
        TestResponse::ok("finished")
            .header("cache-control", "no-store")
            .delay(Duration::from_millis(500))
    }))
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("proxy.grace_period", "5s");
    let mut proxy = ProxyProcess::start(cfg).await;
    let in_flight = tokio::spawn(fetch(client().get(proxy.url("/slow"))));
    let arrived = poll_until(Duration::from_secs(5), || async {
        origin.hits("/slow") == 1
    })
    .await;
    assert!(
        arrived,
        "the request never reached the origin\n{}",
        proxy.output()
    );

    proxy.signal(libc::SIGTERM);
    let r = in_flight.await.expect("the request task does not panic");
    assert_eq!((r.status, r.body.as_str()), (200, "finished"), "{r:?}");
    let status = proxy.terminate().await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM\n{}",
        proxy.output()
    );
}

#[tokio::test]
async fn sigterm_under_load_fails_no_request_in_flight() {
    const IN_FLIGHT: usize = 24;
    let origin = TestOrigin::spawn(with_healthz(|_| {
        TestResponse::ok("finished")
            .header("cache-control", "no-store")
            .delay(Duration::from_millis(400))
    }))
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("proxy.grace_period", "5s");
    let mut proxy = ProxyProcess::start(cfg).await;
    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|i| tokio::spawn(fetch(client().get(proxy.url(&format!("/load/{i}"))))))
        .collect();
    let arrived = poll_until(Duration::from_secs(10), || async {
        (0..IN_FLIGHT).all(|i| origin.hits(&format!("/load/{i}")) == 1)
    })
    .await;
    assert!(
        arrived,
        "the load never reached the origin\n{}",
        proxy.output()
    );

    proxy.signal(libc::SIGTERM);
    let mut failed = Vec::new();
    for (i, r) in requests.into_iter().enumerate() {
        let r = r.await.expect("the request task does not panic");
        if (r.status, r.body.as_str()) != (200, "finished") {
            failed.push(format!("#{i}: {} {}", r.status, r.body));
        }
    }
    assert!(
        failed.is_empty(),
        "requests in flight at SIGTERM failed: {failed:?}"
    );
    let status = proxy.terminate().await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM\n{}",
        proxy.output()
    );
}
