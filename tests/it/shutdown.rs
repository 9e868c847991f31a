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
