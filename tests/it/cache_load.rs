//! The response cache under concurrency and pressure: concurrent misses coalesced into one
//! origin request, a HEAD miss that must not stall the next GET, and the `max_size` bound.

use std::time::Duration;

use crate::util::{
    assert_marked, client, fetch, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

/// A proxy (no health checks) in front of `origin`, with `extra` config keys.
async fn proxy_for(origin: &TestOrigin, extra: &[(&str, &str)]) -> ProxyProcess {
    let mut cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    for (key, value) in extra {
        cfg = cfg.set(key, *value);
    }
    ProxyProcess::start(cfg).await
}

#[tokio::test]
async fn twenty_concurrent_misses_make_one_origin_request() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("slow and shared")
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(300))
    })
    .await;
    let proxy = proxy_for(&origin, &[]).await;
    let http = client();
    let url = proxy.url("/herd");
    let tasks: Vec<_> = (0..20)
        .map(|_| tokio::spawn(fetch(http.get(&url))))
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let r = task.await.expect("a request task does not panic");
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "slow and shared"),
            "{r:?}"
        );
        statuses.push(r.cache_status().to_owned());
    }
    let origin_requests = origin.hits("/herd");
    eprintln!("cache lock: 20 concurrent misses -> {origin_requests} origin request(s)");
    assert_eq!(origin_requests, 1, "Cache-Status seen: {statuses:#?}");
}

#[tokio::test]
async fn head_miss_does_not_stall_the_next_get() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("full body for GET").header("cache-control", "max-age=60")
    })
    .await;
    let proxy = proxy_for(&origin, &[]).await;
    let http = client();
    let head = fetch(http.head(proxy.url("/h"))).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(head.body.is_empty());
    assert_marked(&head);
    let get = fetch(http.get(proxy.url("/h"))).await;
    eprintln!("cache: GET after a HEAD miss took {:?}", get.elapsed);
    assert_eq!(get.status, 200, "{get:?}");
    assert_marked(&get);
    assert!(
        get.elapsed < Duration::from_secs(1),
        "GET after a HEAD miss took {:?}",
        get.elapsed
    );
    assert_eq!(
        get.body, "full body for GET",
        "the HEAD's empty body was served to a GET"
    );
    let again = fetch(http.get(proxy.url("/h"))).await;
    assert_eq!(again.body, "full body for GET", "{again:?}");
}

#[tokio::test]
async fn storing_four_times_max_size_keeps_held_bytes_within_max_size() {
    const MAX_SIZE: usize = 256 * 1024;
    const OBJECT: usize = 8 * 1024;
    const COUNT: usize = 4 * MAX_SIZE / OBJECT;
    let origin = TestOrigin::spawn(|req| {
        TestResponse::ok(vec![b'o'; OBJECT])
            .header("cache-control", "max-age=300")
            .header("x-path", req.path())
    })
    .await;
    let limits = [
        ("cache.max_size", "256KiB"),
        ("cache.max_object_size", "16KiB"),
    ];
    let proxy = proxy_for(&origin, &limits).await;
    let http = client();
    let path = |i: usize| format!("/obj/{i}");
    for i in 0..COUNT {
        let r = fetch(http.get(proxy.url(&path(i)))).await;
        assert_eq!((r.status, r.body.len()), (200, OBJECT), "{}", path(i));
    }
    // TODO(admin): read held bytes from `/health` `cache_size_mb` / `/api/summary` once the
    // admin API lands, and assert them <= MAX_SIZE directly.
    //
    // Until then, by behaviour: from now on the origin forbids storing, so a second pass cannot
    // add entries and every hit is an object the cache held after the fill.
    origin
        .set_handler(|_| TestResponse::ok(vec![b'n'; OBJECT]).header("cache-control", "no-store"));
    let mut held = Vec::new();
    for i in 0..COUNT {
        let before = origin.hits(&path(i));
        let r = fetch(http.get(proxy.url(&path(i)))).await;
        assert_eq!(r.status, 200, "{}", path(i));
        if origin.hits(&path(i)) == before {
            assert_eq!(
                r.body.as_bytes(),
                &[b'o'; OBJECT][..],
                "stale bytes for {}",
                path(i)
            );
            held.push(i);
        }
    }
    let held_bytes = held.len() * OBJECT;
    let earliest_evicted = (0..COUNT / 4).filter(|i| !held.contains(i)).count();
    eprintln!(
        "cache bound: stored {COUNT} x {OBJECT} B = {} B into max_size {MAX_SIZE} B -> {} \
         objects still served from cache = {held_bytes} B of bodies (first quarter evicted: \
         {earliest_evicted}/{}); held: {held:?}",
        COUNT * OBJECT,
        held.len(),
        COUNT / 4
    );
    assert!(
        !held.is_empty(),
        "nothing was kept: the cache did not store at all"
    );
    // The store evicts least-recently-used first (moka LRU, src/proxy/store.rs): the first
    // quarter, never read again, must be gone and the newest object kept.
    assert_eq!(
        earliest_evicted,
        COUNT / 4,
        "early objects survived: held {held:?}"
    );
    assert!(
        held.contains(&(COUNT - 1)),
        "the newest object was not kept: held {held:?}"
    );
    assert!(
        held_bytes <= MAX_SIZE,
        "{held_bytes} B of bodies held (headers not even counted) > max_size {MAX_SIZE} B"
    );
}
