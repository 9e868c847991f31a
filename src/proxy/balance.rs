//! Round-robin over health-checked upstreams (pingora-load-balancing), with every check's
//! outcome written to the [`UpstreamBoard`] for the admin figures, skipping upstreams that
//! passive health (outlier detection) has ejected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::RequestHeader;
use pingora_load_balancing::health_check::{HealthCheck, HttpHealthCheck, TcpHealthCheck};
use pingora_load_balancing::selection::RoundRobin;
use pingora_load_balancing::{Backend, LoadBalancer};

use crate::config::{HealthCheckKind, UpstreamsConfig};
use crate::telemetry::upstreams::UpstreamBoard;
use crate::telemetry::UpstreamId;

/// The round-robin balancer type the proxy selects from.
pub type Balancer = LoadBalancer<RoundRobin>;

/// The next upstream for a request: round robin over upstreams that pass their checks, are not
/// ejected and were not `tried` yet; then over any not ejected; then over any healthy one (the
/// outlier detector never ejects the last one, but a check may have just failed the others).
pub fn pick(
    lb: &Balancer,
    board: &UpstreamBoard,
    tried: impl Fn(UpstreamId) -> bool,
) -> Option<Backend> {
    let id = |b: &Backend| b.addr.as_inet().and_then(|a| board.id_of(a));
    lb.select_with(b"", 256, |b, healthy| {
        healthy && id(b).is_some_and(|i| !tried(i) && !board.is_ejected(i))
    })
    // Every upstream in rotation was tried already: go round again rather than fail.
    .or_else(|| {
        lb.select_with(b"", 256, |b, healthy| {
            healthy && id(b).is_some_and(|i| !board.is_ejected(i))
        })
    })
    .or_else(|| lb.select(b"", 256))
}

/// A health check that records each probe on the board before answering pingora.
struct ObservedCheck {
    inner: Box<dyn HealthCheck + Send + Sync>,
    board: Arc<UpstreamBoard>,
    healthy_after: usize,
    unhealthy_after: usize,
}

impl ObservedCheck {
    fn id(&self, target: &Backend) -> Option<UpstreamId> {
        target.addr.as_inet().and_then(|a| self.board.id_of(a))
    }
}

#[async_trait]
impl HealthCheck for ObservedCheck {
    async fn check(&self, target: &Backend) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.check(target).await;
        if let Some(id) = self.id(target) {
            self.board
                .record_check(id, result.is_ok(), started.elapsed());
        }
        result
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        if let Some(id) = self.id(target) {
            self.board.set_healthy(id, healthy);
            if healthy {
                tracing::info!(upstream = %target.addr, "upstream back in rotation");
            } else {
                tracing::warn!(upstream = %target.addr, "upstream failed its health check; out of rotation");
            }
        }
    }

    fn health_threshold(&self, success: bool) -> usize {
        if success {
            self.healthy_after
        } else {
            self.unhealthy_after
        }
    }
}

fn http_check(
    cfg: &UpstreamsConfig,
    transport: &super::tls::UpstreamTransport,
) -> Box<dyn HealthCheck + Send + Sync> {
    let hc_cfg = &cfg.health_check;
    // Probes use the proxy's upstream transport (TLS, SNI, CA, ALPN); the SNI default is the
    // first server's address, as one template serves every backend.
    let mut hc = HttpHealthCheck::new("localhost", false);
    if let Some(first) = cfg.servers.first() {
        hc.peer_template = transport.peer(*first);
    }
    let mut req = RequestHeader::build("GET", hc_cfg.path.as_bytes(), None)
        .expect("validated health-check path is a valid request target");
    req.insert_header("Host", "localhost")
        .expect("static header is valid");
    req.insert_header("User-Agent", "sightline-health-check")
        .expect("static header is valid");
    hc.req = req;
    // A probe that outlives its interval would overlap the next one.
    let probe_timeout = hc_cfg.interval.min(Duration::from_secs(5));
    hc.peer_template.options.connection_timeout = Some(cfg.connect_timeout.min(probe_timeout));
    hc.peer_template.options.read_timeout = Some(probe_timeout);
    hc.validator = Some(Box::new(|resp| {
        if resp.status.is_success() {
            Ok(())
        } else {
            Error::e_explain(
                ErrorType::CustomCode("non-2xx health check", resp.status.as_u16()),
                "health check answered non-2xx",
            )
        }
    }));
    Box::new(hc)
}

fn tcp_check(
    cfg: &UpstreamsConfig,
    transport: &super::tls::UpstreamTransport,
) -> Box<dyn HealthCheck + Send + Sync> {
    let mut hc = match &cfg.tls {
        // A TCP check of a TLS upstream completes the handshake (same SNI and verification).
        Some(t) => TcpHealthCheck::new_tls(
            &t.sni
                .clone()
                .or_else(|| cfg.servers.first().map(|a| a.ip().to_string()))
                .unwrap_or_default(),
        ),
        None => TcpHealthCheck::new(),
    };
    if let Some(t) = &transport.tls {
        hc.peer_template.options.verify_cert = t.verify;
        hc.peer_template.options.verify_hostname = t.verify;
        hc.peer_template.options.ca = transport.ca.clone();
    }
    hc.peer_template.options.connection_timeout = Some(cfg.connect_timeout);
    hc
}

/// The balancer for `cfg` with its health check attached (not yet running: see
/// [`run_checks`]); a config reload builds a new one and swaps it in.
pub fn balancer(
    cfg: &UpstreamsConfig,
    board: Arc<UpstreamBoard>,
    transport: &super::tls::UpstreamTransport,
) -> std::io::Result<Balancer> {
    let mut lb = Balancer::try_from_iter(cfg.servers.iter().copied())?;
    let inner = match cfg.health_check.kind {
        HealthCheckKind::None => return Ok(lb),
        HealthCheckKind::Http => http_check(cfg, transport),
        HealthCheckKind::Tcp => tcp_check(cfg, transport),
    };
    lb.set_health_check(Box::new(ObservedCheck {
        inner,
        board,
        healthy_after: cfg.health_check.healthy_after.get() as usize,
        unhealthy_after: cfg.health_check.unhealthy_after.get() as usize,
    }));
    lb.health_check_frequency = Some(cfg.health_check.interval);
    lb.parallel_health_check = true;
    Ok(lb)
}

/// Runs `lb`'s health checks every `health_check_frequency` until `stop` turns true (or its
/// sender is dropped); the reloadable replacement for pingora's background service.
pub async fn run_checks(lb: Arc<Balancer>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(every) = lb.health_check_frequency else {
        return;
    };
    loop {
        lb.backends()
            .run_health_check(lb.parallel_health_check)
            .await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            r = stop.wait_for(|s| *s) => { let _ = r; return; }
        }
    }
}
