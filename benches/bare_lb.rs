//! The floor sightline is measured against: a bare pingora load balancer with nothing but
//! round-robin `upstream_peer` over `LoadBalancer<RoundRobin>`, mimalloc, one worker, and the
//! same pingora features sightline compiles in. Built as an example so it shares the lock file:
//!
//! ```sh
//! cargo build --release --example bare_lb
//! BENCH_LISTEN=127.0.0.1:6190 BENCH_UPSTREAMS=127.0.0.1:9101,127.0.0.1:9102 \
//!     target/release/examples/bare_lb
//! ```
//!
//! It reads the shared harness's variables (`BENCH_LISTEN`, `BENCH_THREADS`, `BENCH_UPSTREAMS`)
//! and keeps pingora's `ServerConf` defaults except the thread count and the upstream pool size
//! (which sightline sets the same way), so the difference to sightline is sightline's own work.

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_load_balancing::{selection::RoundRobin, LoadBalancer};
use pingora_proxy::{ProxyHttp, Session};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare(Arc<LoadBalancer<RoundRobin>>);

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _s: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let backend = self
            .0
            .select(b"", 256)
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(502), "no upstream"))?;
        Ok(Box::new(HttpPeer::new(backend, false, String::new())))
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() {
    let listen = env_or("BENCH_LISTEN", "127.0.0.1:6190");
    let threads: usize = env_or("BENCH_THREADS", "1")
        .parse()
        .expect("BENCH_THREADS is a number");
    let upstreams = env_or(
        "BENCH_UPSTREAMS",
        "127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103",
    );
    let conf = ServerConf {
        threads,
        upstream_keepalive_pool_size: 2048,
        // sightline runs one worker on a current-thread runtime; so does the floor.
        work_stealing: threads > 1,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let lb = LoadBalancer::try_from_iter(upstreams.split(',')).expect("BENCH_UPSTREAMS parses");
    let mut service = pingora_proxy::http_proxy_service(&server.configuration, Bare(Arc::new(lb)));
    service.add_tcp(&listen);
    server.add_service(service);
    server.run_forever();
}
