//! The response cache under concurrency and pressure: concurrent misses coalesced into one
//! origin request, a HEAD miss that must not stall the next GET, and the `max_size` bound.

use std::time::Duration;

use crate::util::{
    assert_marked, client, fetch, poll_for, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

/// A proxy (no health checks: their requests would only add noise) in front of `origin`.
async fn proxy_for(origin: &TestOrigin) -> ProxyProcess {
    ProxyProcess::start(
        ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none"),
    )
    .await
}

#[tokio::test]
async fn twenty_concurrent_misses_make_one_origin_request() {
    let origin = TestOrigin::spawn(|_| {
        TestResponse::ok("slow and shared")
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(300))
    })
    .await;
    let proxy = proxy_for(&origin).await;
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
    let proxy = proxy_for(&origin).await;
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

/// `(cache.size_bytes, cache.entries)` from an `/api/summary` sampled after this call (the
/// admin samples its figures once a second, so an older snapshot would predate the requests).
async fn cache_held(proxy: &ProxyProcess) -> (usize, usize) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64;
    let summary = poll_for(Duration::from_secs(5), || async {
        let summary = proxy.admin_json("/api/summary").await;
        let generated = summary["generated_unix_ms"].as_u64().unwrap_or(0);
        (generated >= since).then_some(summary)
    })
    .await
    .expect("no fresh /api/summary within 5 s");
    let cache = &summary["cache"];
    match (cache["size_bytes"].as_u64(), cache["entries"].as_u64()) {
        (Some(bytes), Some(entries)) => (bytes as usize, entries as usize),
        _ => panic!("/api/summary has no cache.size_bytes/entries: {summary}"),
    }
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
    let mut cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    for (key, value) in limits {
        cfg = cfg.set(key, value);
    }
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    let path = |i: usize| format!("/obj/{i}");
    let mut readings = Vec::new();
    for round in 0..4 {
        for i in round * COUNT / 4..(round + 1) * COUNT / 4 {
            let r = fetch(http.get(proxy.url(&path(i)))).await;
            assert_eq!((r.status, r.body.len()), (200, OBJECT), "{}", path(i));
        }
        readings.push(cache_held(&proxy).await);
    }
    let (held_after, entries_after) = *readings.last().expect("four readings");
    let health = proxy.admin_json("/health").await;
    let size_mb = health["cache_size_mb"]
        .as_f64()
        .unwrap_or_else(|| panic!("/health has no cache_size_mb: {health}"));
    eprintln!(
        "cache bound (admin): stored {COUNT} x {OBJECT} B = {} B with max_size {MAX_SIZE} B -> \
         (bytes, entries) held after each quarter {readings:?}; /health cache_size_mb = \
         {size_mb}",
        COUNT * OBJECT
    );
    for (bytes, _) in &readings {
        assert!(
            *bytes <= MAX_SIZE,
            "held {bytes} B > max_size {MAX_SIZE}: {readings:?}"
        );
    }
    // cache_size_mb is rounded to 0.1 MiB.
    assert!(
        size_mb <= MAX_SIZE as f64 / (1 << 20) as f64 + 0.05,
        "{health}"
    );
    // And by behaviour: from now on the origin forbids storing, so a second pass cannot
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
        held_after >= held_bytes && entries_after >= held.len(),
        "admin reports {held_after} B in {entries_after} entries, yet {} objects ({held_bytes} \
         B of bodies) were served from cache",
        held.len()
    );
    assert!(
        held_bytes <= MAX_SIZE,
        "{held_bytes} B of bodies held (headers not even counted) > max_size {MAX_SIZE} B"
    );
}
