//! Tests of the moka-backed store: round trips, invalidation, the byte bound, purges, ranges.

use super::*;
use pingora_cache::trace::Span;
use std::time::Duration;

fn store() -> &'static MokaStore {
    Box::leak(Box::new(MokaStore::new(64 * 1024)))
}

fn meta(ttl: Duration) -> CacheMeta {
    let mut h = ResponseHeader::build(200, None).unwrap();
    h.insert_header("content-type", "text/plain").unwrap();
    let now = SystemTime::now();
    CacheMeta::new(now + ttl, now, 0, 0, h)
}

async fn put(s: &'static MokaStore, key: &CacheKey, body: &'static [u8]) {
    let span = Span::inactive().handle();
    let mut miss = s
        .get_miss_handler(key, &meta(Duration::from_secs(60)), &span)
        .await
        .unwrap();
    miss.write_body(Bytes::from_static(body), true)
        .await
        .unwrap();
    miss.finish().await.unwrap();
}

#[tokio::test]
async fn stored_body_and_header_come_back() {
    let s = store();
    let key = CacheKey::new("/a", "");
    put(s, &key, b"hello").await;
    let (meta, mut hit) = s
        .lookup(&key, &Span::inactive().handle())
        .await
        .unwrap()
        .unwrap();
    assert!(meta.is_fresh(SystemTime::now()));
    assert_eq!(meta.headers().get("content-type").unwrap(), "text/plain");
    assert_eq!(hit.read_body().await.unwrap().unwrap(), "hello");
    assert!(hit.read_body().await.unwrap().is_none());
}

#[tokio::test]
async fn invalidation_hides_older_entries() {
    let s = store();
    let key = CacheKey::new("/b", "");
    put(s, &key, b"x").await;
    s.invalidate_primary(key.primary_bin());
    assert!(s
        .lookup(&key, &Span::inactive().handle())
        .await
        .unwrap()
        .is_none());
    tokio::time::sleep(Duration::from_millis(2)).await;
    put(s, &key, b"y").await;
    assert!(s
        .lookup(&key, &Span::inactive().handle())
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn bytes_held_never_exceed_the_bound() {
    let s = store();
    static BODY: [u8; 4000] = [7u8; 4000];
    for i in 0..100 {
        put(s, &CacheKey::new(format!("/k{i}"), ""), &BODY).await;
        assert!(s.bytes_held() <= s.max_size(), "held {}", s.bytes_held());
    }
    assert!(s.entry_count() > 0);
}

#[tokio::test]
async fn purging_a_path_covers_its_query_variants() {
    let s = store();
    put(s, &CacheKey::new("/p", ""), b"a").await;
    put(s, &CacheKey::new("/p?v=1", ""), b"b").await;
    put(s, &CacheKey::new("/other", ""), b"c").await;
    assert_eq!(s.purge_target("/p"), 2);
    let span = Span::inactive().handle();
    assert!(s
        .lookup(&CacheKey::new("/p?v=1", ""), &span)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .lookup(&CacheKey::new("/other", ""), &span)
        .await
        .unwrap()
        .is_some());
    put(s, &CacheKey::new("/q?a=1", ""), b"d").await;
    put(s, &CacheKey::new("/q?a=2", ""), b"e").await;
    assert_eq!(s.purge_target("/q?a=1"), 1);
    assert!(s
        .lookup(&CacheKey::new("/q?a=2", ""), &span)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn seek_serves_a_range() {
    let s = store();
    let key = CacheKey::new("/r", "");
    put(s, &key, b"0123456789").await;
    let (_, mut hit) = s
        .lookup(&key, &Span::inactive().handle())
        .await
        .unwrap()
        .unwrap();
    hit.seek(2, Some(5)).unwrap();
    assert_eq!(hit.read_body().await.unwrap().unwrap(), "234");
}
