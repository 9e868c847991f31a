//! Micro-benchmarks of the per-request work sightline adds on top of pingora.
//!
//! Run: `cargo bench --bench hot_path`. Machine: 2-core VM (shared, noisy); the end-to-end
//! comparison against nginx is `benches/bench-proxy.sh` with `../shared/bench/run.sh`.
//! Figures measured on 2026-11-24 are recorded in README.md ("Performance").

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use pingora_cache::storage::Storage;
use pingora_cache::trace::Span;
use pingora_cache::{CacheKey, CacheMeta};
use pingora_http::{RequestHeader, ResponseHeader};
use sightline::proxy::{headers, policy, store::MokaStore};

fn response() -> ResponseHeader {
    let mut h = ResponseHeader::build(200, None).unwrap();
    h.insert_header("content-type", "text/plain").unwrap();
    h.insert_header("cache-control", "public, max-age=60")
        .unwrap();
    h.insert_header("content-length", "1024").unwrap();
    h.insert_header("x-upstream", "9101").unwrap();
    h
}

fn request() -> RequestHeader {
    let mut r = RequestHeader::build("GET", b"/cache/item", None).unwrap();
    r.insert_header("host", "127.0.0.1:6188").unwrap();
    r.insert_header("user-agent", "wrk").unwrap();
    r
}

fn store_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store: &'static MokaStore = Box::leak(Box::new(MokaStore::new(64 << 20)));
    let key = CacheKey::new("/cache/item", "");
    rt.block_on(async {
        let now = SystemTime::now();
        let meta = CacheMeta::new(now + Duration::from_secs(600), now, 0, 0, response());
        let mut miss = store
            .get_miss_handler(&key, &meta, &Span::inactive().handle())
            .await
            .unwrap();
        miss.write_body(Bytes::from(vec![b'a'; 1024]), true)
            .await
            .unwrap();
        miss.finish().await.unwrap();
    });
    c.bench_function("store lookup + meta rebuild (hit)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (meta, mut hit) = store
                    .lookup(&key, &Span::inactive().handle())
                    .await
                    .unwrap()
                    .unwrap();
                black_box(meta.is_fresh(SystemTime::now()));
                black_box(hit.read_body().await.unwrap());
            })
        })
    });
}

fn request_rewrites(c: &mut Criterion) {
    let hop = headers::Hop {
        client: Some("127.0.0.1".parse().unwrap()),
        trusted: false,
        scheme: "http",
        host: "127.0.0.1:6188",
    };
    c.bench_function("forwarding headers", |b| {
        b.iter(|| {
            let mut r = request();
            headers::set_forwarding(&mut r, &hop);
            r.append_header(http::header::VIA, headers::VIA).unwrap();
            black_box(r)
        })
    });
    let req = request();
    let resp = response();
    c.bench_function("response cacheability", |b| {
        b.iter(|| black_box(policy::response_cacheable(&req, &resp)))
    });
}

criterion_group!(benches, store_hit, request_rewrites);
criterion_main!(benches);
