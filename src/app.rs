//! Start-up and shutdown: builds every service from a validated [`Config`] and runs them until
//! SIGTERM/SIGINT, then drains in-flight requests and flushes telemetry.

use std::sync::Arc;
use std::time::Duration;

use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{RunArgs, Server};

use crate::admin::{self, AdminState, CachePurger};
use crate::alerts::engine::AlertEngine;
use crate::alerts::sink::ConsoleSink;
use crate::config::Config;
use crate::dashboard;
use crate::observe::observatory::{Component, Observatory, ObservatorySettings};
use crate::observe::snapshot::MetricsSnapshot;
use crate::proxy::tls::{self, TlsCerts, UpstreamTransport};
use crate::proxy::{balance, edge, CacheParts, Sightline};
use crate::reload::{LiveParts, Reloader, SPARE_UPSTREAMS};
use crate::telemetry::clock::{Clock, SystemClock};
use crate::telemetry::otel::OtelGuard;
use crate::telemetry::{
    stats::LiveStats, upstreams::UpstreamBoard, CacheUsage, CacheUsageSource, Telemetry,
};

mod listen;
mod shutdown;

use listen::{bind_admin, probe_listen, rebind_admin};
use shutdown::DrainOnSignal;

/// Read buffering of plain client connections: none. pingora's default puts a 64 KiB read
/// buffer on every accepted connection, zeroed when reused memory serves it; the edge and
/// pingora read request headers and bodies into buffers of their own, so it only cost a copy
/// per read and, under a connection flood, about 40 KiB of resident memory per connection.
const PLAIN_BUFFERS: L4BufferSettings = L4BufferSettings {
    read: Some(0),
    write: None,
};

/// TLS connections keep a read buffer of one TLS record (16 KiB): rustls reads records in
/// small pieces, where a buffer saves system calls.
const TLS_BUFFERS: L4BufferSettings = L4BufferSettings {
    read: Some(16 * 1024),
    write: None,
};

/// Why sightline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The upstream list could not be turned into a balancer.
    #[error("upstreams: {0}")]
    Upstreams(#[source] std::io::Error),
    /// The side runtime (admin, alerts, telemetry export) could not start.
    #[error("admin runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A TLS certificate, key or CA file could not be used.
    #[error("{0}")]
    Tls(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Everything running: built by [`App::build`], run to completion by [`App::run`].
pub struct App {
    cfg: Arc<Config>,
    server: Server,
    telemetry: Arc<Telemetry>,
    side: tokio::runtime::Runtime,
    otel: OtelGuard,
    stop: tokio::sync::watch::Sender<bool>,
    reloader: Arc<Reloader>,
    tls: Arc<TlsCerts>,
}

/// The runtime for everything beside the request path (admin, alerts, dashboard, OTLP export),
/// so the admin answers while the proxy's workers are saturated.
pub fn side_runtime() -> Result<tokio::runtime::Runtime, StartupError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sightline-side")
        .enable_all()
        .build()
        .map_err(StartupError::Runtime)
}

/// A thread of its own for health checks and the SIGHUP listener, as pingora's background
/// service gave them, so probes never queue behind the admin API on the side runtime.
fn health_runtime() -> Result<tokio::runtime::Handle, StartupError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartupError::Runtime)?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("sightline-health".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .map_err(StartupError::Runtime)?;
    Ok(handle)
}

/// Lets the admin API purge the cache without the admin knowing the proxy's types.
struct StorePurger(CacheParts);

impl CachePurger for StorePurger {
    fn purge_path(&self, path: &str) -> usize {
        self.0.purge_path(path)
    }

    fn purge_all(&self) -> usize {
        self.0.store.purge_all()
    }
}

fn server_conf(cfg: &Config) -> ServerConf {
    ServerConf {
        threads: cfg.proxy.threads.get(),
        // The pool must hold at least as many idle connections as there are concurrent
        // requests, or connections are closed and re-opened under load (TIME_WAIT pile-up).
        upstream_keepalive_pool_size: cfg.upstreams.keepalive_pool.max(1),
        // Draining happens in `DrainOnSignal` before pingora's own (fixed) grace sleep; keep
        // that sleep short so an idle proxy exits promptly.
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        max_retries: cfg.upstreams.retries as usize + 1,
        // With one worker, a current-thread runtime: pass-through cost 41.9 µs/request against
        // 49.5 with work stealing (-15 %, one pinned core), hits unchanged. With several
        // workers pingora's shared upstream pool then hands a connection to a runtime while
        // another runtime's idle watcher still holds it ("failed to acquire reusable stream",
        // a new connection each time), so more threads keep work stealing.
        work_stealing: cfg.proxy.threads.get() > 1,
        // `run --upgrade` takes the listening sockets over from the running process here.
        upgrade_sock: cfg.proxy.upgrade_socket.display().to_string(),
        ..ServerConf::default()
    }
}

/// Raises the open-file limit and works out how many client connections fit beside the
/// descriptors upstreams, health checks and the admin need (see `proxy::edge::limits`).
fn connection_budget(cfg: &Config) -> usize {
    let nofile = edge::limits::raise_nofile().unwrap_or(1024);
    let b = edge::limits::budget(
        cfg.proxy.max_connections.get(),
        nofile,
        cfg.upstreams.keepalive_pool,
        cfg.upstreams.servers.len(),
        cfg.proxy.threads.get(),
    );
    tracing::info!(
        nofile = b.nofile,
        reserve = b.reserve,
        max_connections = b.connections,
        "client connection budget"
    );
    b.connections
}

impl App {
    /// Builds the proxy, health checks and side services for `cfg`; `side` runs everything but
    /// the request path and `otel` the export pipelines started on it.
    pub fn build(
        cfg: Config,
        side: tokio::runtime::Runtime,
        otel: OtelGuard,
    ) -> Result<App, StartupError> {
        App::build_with(cfg, side, otel, false)
    }

    /// [`App::build`]; with `upgrade`, the listening sockets are taken over from the running
    /// process (pingora's graceful upgrade over `proxy.upgrade_socket`) instead of bound.
    pub fn build_with(
        cfg: Config,
        side: tokio::runtime::Runtime,
        otel: OtelGuard,
        upgrade: bool,
    ) -> Result<App, StartupError> {
        let cfg = Arc::new(cfg);
        let certs = Arc::new(TlsCerts::load(&cfg.proxy.tls).map_err(|errs| {
            StartupError::Tls(
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?);
        let transport = UpstreamTransport::new(cfg.upstreams.tls.clone(), cfg.upstreams.http2)
            .map_err(|e| StartupError::Tls(e.to_string()))?;
        // During an upgrade the old process still holds every port until it hands them over.
        if !upgrade {
            for addr in cfg
                .proxy
                .listen
                .iter()
                .copied()
                .chain(certs.listeners().map(|l| l.0))
            {
                probe_listen(addr)?;
            }
        }
        let admin_listener = match upgrade {
            true => None,
            false => Some(bind_admin(cfg.admin.listen)?),
        };
        let board = Arc::new(
            UpstreamBoard::with_spare(&cfg.upstreams.servers, SPARE_UPSTREAMS)
                .with_outlier(&cfg.upstreams.outlier),
        );
        let stats = Arc::new(LiveStats::new(board.capacity()));
        let cache = cfg
            .cache
            .enabled
            .then(|| CacheParts::new(cfg.cache.max_size, cfg.cache.max_object_size));
        let store = cache.as_ref().map(|c| c.store);
        let usage: CacheUsageSource = Arc::new(move || {
            store.map_or(CacheUsage::default(), |s| CacheUsage {
                bytes: s.bytes_held(),
                entries: s.entry_count(),
            })
        });
        let telemetry = Arc::new(Telemetry {
            stats: stats.clone(),
            tracer: otel.request_tracer(&cfg.upstreams.servers),
            upstreams: board.clone(),
            metrics: otel.metrics(stats.clone(), board.clone(), usage.clone()),
        });
        let balancer = balance::balancer(&cfg.upstreams, board.clone(), &transport)
            .map_err(StartupError::Upstreams)?;
        let balancer = Arc::new(arc_swap::ArcSwap::from_pointee(balancer));
        let purger: Option<Arc<dyn CachePurger>> = cache
            .as_ref()
            .map(|c| Arc::new(StorePurger(c.clone_handles())) as Arc<dyn CachePurger>);

        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let observatory = Observatory::new(
            stats,
            board.clone(),
            usage,
            ObservatorySettings::from_config(&cfg),
            clock.clone(),
        );
        let export = otel.health();
        observatory.set_export_source(Arc::new(move || export.figures()));
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let engine = AlertEngine::new(&cfg.alerts, clock, Arc::new(ConsoleSink::stdout()));
        // Health checks run on the side runtime, so a reload can replace them.
        let reloader = Reloader::new(
            &cfg,
            LiveParts {
                balancer: balancer.clone(),
                board: board.clone(),
                telemetry: telemetry.clone(),
                alerts: engine.clone(),
                side: health_runtime()?,
                tls: certs.clone(),
                transport: transport.clone(),
            },
        );
        let admin_state = AdminState::new(observatory.clone(), engine.clone(), purger, &cfg)
            .with_embedded(otel.embedded());
        let _ = admin_state.reload.set(reloader.clone());
        {
            let _guard = side.enter();
            observatory.start(stop_rx.clone());
            engine.start(observatory.clone(), stop_rx.clone());
            if cfg.dashboard.console {
                let (obs, alerts) = (observatory.clone(), engine.clone());
                let view = move || {
                    MetricsSnapshot::with_alerts(obs.snapshot(), &alerts.published().active)
                };
                dashboard::console::start(view, cfg.dashboard.interval, stop_rx.clone());
            }
            let admin_addr = cfg.admin.listen;
            let listener = admin_listener
                .map(tokio::net::TcpListener::from_std)
                .transpose()
                .map_err(StartupError::Runtime)?;
            let mut admin_stop = stop_rx.clone();
            side.spawn(async move {
                let listener = match listener {
                    Some(l) => l,
                    // The admin port is not handed over: it is free once the old process exits.
                    None => match rebind_admin(admin_addr, admin_stop.clone()).await {
                        Some(l) => l,
                        None => return,
                    },
                };
                let done = async move {
                    let _ = admin_stop.wait_for(|s| *s).await;
                };
                if let Err(e) = admin::serve(listener, admin_state, done).await {
                    tracing::error!(error = %e, "admin listener failed");
                }
            });
        }
        for (c, name) in [
            (Component::HttpServer, "http_server"),
            (Component::Cache, "cache"),
            (Component::LoadBalancer, "load_balancer"),
        ] {
            observatory.mark_started(c);
            telemetry.metrics.component_started(name);
        }

        let opt = upgrade.then(|| pingora_core::server::configuration::Opt {
            upgrade: true,
            ..Default::default()
        });
        let mut server = Server::new_with_opt_and_conf(opt, server_conf(&cfg));
        server.bootstrap();
        let hits = cache.as_ref().map(|c| {
            Arc::new(edge::hit::HitPath::new(
                c.store,
                telemetry.clone(),
                cfg.proxy.server_names.clone(),
                cfg.proxy.idle_timeout,
            ))
        });
        let proxy = Sightline::new(cfg.clone(), balancer, cache, telemetry.clone())
            .with_upstream_transport(transport.clone());
        let gate = Arc::new(
            edge::gate::Gate::new(connection_budget(&cfg)).reporting_to(telemetry.stats.clone()),
        );
        let mut app = pingora_proxy::http_proxy(&server.configuration, proxy);
        if cfg.proxy.h2c {
            let mut options = pingora_core::apps::HttpServerOptions::default();
            options.h2c = true;
            app.server_options = Some(options);
        }
        let mut service = edge::service("sightline proxy", app, gate, &cfg.proxy, hits);
        for addr in &cfg.proxy.listen {
            service.add_listener(ListenerConfig::tcp(addr.to_string()).l4_buffer(PLAIN_BUFFERS));
        }
        for (addr, resolver) in certs.listeners() {
            service.add_listener(
                ListenerConfig::tcp(addr.to_string())
                    .tls(tls::listener_settings(resolver))
                    .l4_buffer(TLS_BUFFERS),
            );
        }
        server.add_service(service);
        Ok(App {
            cfg,
            server,
            telemetry,
            side,
            otel,
            stop,
            reloader,
            tls: certs,
        })
    }

    /// Re-reads `path` on SIGHUP and `POST /api/config/reload` (`sightline run` only).
    pub fn enable_reload(&self, path: std::path::PathBuf) -> std::io::Result<()> {
        self.reloader.watch_file(path)
    }

    /// The TLS listeners' certificates, for live reload ([`TlsCerts::reload`]).
    pub fn tls_certs(&self) -> Arc<TlsCerts> {
        self.tls.clone()
    }

    /// Runs until SIGTERM or SIGINT, drains, flushes, and returns.
    pub fn run(self) {
        let App {
            cfg,
            server,
            telemetry,
            side,
            otel,
            stop,
            reloader: _,
            tls: _,
        } = self;
        let signal = DrainOnSignal {
            telemetry: telemetry.clone(),
            grace: cfg.proxy.grace_period,
        };
        tracing::info!(listen = ?cfg.proxy.listen, upstreams = ?cfg.upstreams.servers, "sightline running");
        server.run(RunArgs {
            shutdown_signal: Box::new(signal),
        });
        tracing::info!("proxy stopped; shutting down side services");
        let _ = stop.send(true);
        // The export runtime must still run while the providers flush the last spans.
        if let Err(e) = otel.shutdown() {
            tracing::warn!(error = %e, "telemetry flush at shutdown incomplete");
        }
        side.shutdown_timeout(Duration::from_secs(2));
    }
}
