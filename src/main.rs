//! The `sightline` binary: arguments → config → services → run.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sightline::app::{self, App};
use sightline::cli::{Cli, Command, LogFormat};
use sightline::config::{self, Config};
use sightline::demo::{self, DemoOptions};
use sightline::telemetry::otel::{self, OtelGuard};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Console logs on stderr (filtered by `RUST_LOG`, default `info`) and, when traces are
/// exported, the bridge that sends sightline's own `tracing` spans to OTLP. Each layer has its
/// own filter: a global one at `warn` would also starve the bridge.
fn init_logging(format: LogFormat, otel: Option<&OtelGuard>) {
    use tracing_subscriber::{fmt, prelude::*, EnvFilter};
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = otel::quiet_sdk_logs(filter, rust_log.as_deref());
    let console = match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).boxed(),
    };
    // pingora logs through `log`: sightline's bridge (client-caused messages demoted) goes in
    // first, so `try_init` keeps it rather than installing a plain `LogTracer`.
    sightline::telemetry::log_bridge::install();
    let _ = tracing_subscriber::registry()
        .with(console.with_filter(filter))
        .with(otel.and_then(|g| g.tracing_layer()))
        .try_init();
    sightline::telemetry::log_bridge::sync_max_level();
}

/// Starts the side runtime, OTLP export on it, and logging; then builds and runs the proxy.
fn serve(
    cfg: Config,
    log_format: LogFormat,
    path: Option<std::path::PathBuf>,
    upgrade: bool,
) -> anyhow::Result<()> {
    let side = app::side_runtime().context("starting the side runtime")?;
    let guard =
        otel::init(&cfg.telemetry, side.handle()).context("starting OpenTelemetry export")?;
    init_logging(log_format, Some(&guard));
    let app = App::build_with(cfg, side, guard, upgrade).context("starting sightline")?;
    if let Some(path) = path {
        app.enable_reload(path)
            .context("watching the config file")?;
    }
    app.run();
    Ok(())
}

/// Asks the kernel not to back this process's memory with transparent huge pages. With THP
/// set to `always` (common on servers), every 2 MiB region mimalloc's arenas touch becomes a
/// resident huge page: the idle proxy measured 32.9 MB RSS with them and 16.8 MB without
/// (Redis and MongoDB recommend the same). `MIMALLOC_ALLOW_THP=1` in the environment keeps them.
fn opt_out_of_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and affects this process alone.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    opt_out_of_huge_pages();
    let cli = Cli::parse();
    // `run` and `demo` start logging once telemetry is up, so the bridge can join it.
    if !matches!(cli.command, Command::Run { .. } | Command::Demo { .. }) {
        init_logging(cli.log_format, None);
    }
    let log_format = cli.log_format;
    match run(cli.command, log_format) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { config: path } => match config::load(&path) {
            Ok(_) => {
                println!("{}: ok", path.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(errs) => {
                eprint!("{}", render_errors(&path, &errs));
                Ok(ExitCode::from(2))
            }
        },
        Command::Run {
            config: path,
            upgrade,
        } => {
            let cfg = match config::load(&path).and_then(|c| c.require_upstreams().map(|_| c)) {
                Ok(c) => c,
                Err(errs) => {
                    eprint!("{}", render_errors(&path, &errs));
                    return Ok(ExitCode::from(2));
                }
            };
            serve(cfg, log_format, Some(path), upgrade)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            upstreams,
            latency_ms,
            error_rate,
            listen,
            admin,
            chaos,
        } => {
            let demo = DemoArgs {
                upstreams,
                latency_ms,
                error_rate,
                listen,
                admin,
                chaos,
            };
            run_demo(demo, log_format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Top {
            admins,
            refresh,
            once,
            token,
        } => {
            let refresh = Duration::try_from_secs_f64(refresh)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--refresh must be a positive number of seconds")?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("runtime for top")?;
            let opts = sightline::dashboard::tui::TopOptions {
                admins,
                refresh,
                once,
                token,
            };
            rt.block_on(sightline::dashboard::tui::run_top(opts))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every config error, one line each, under the file's name (for `check` and `run`).
fn render_errors(path: &std::path::Path, errs: &config::ConfigErrors) -> String {
    format!(
        "{}: invalid config\n{}",
        path.display(),
        config::render_errors(errs)
    )
}

/// The `sightline demo` arguments.
struct DemoArgs {
    upstreams: u16,
    latency_ms: u64,
    error_rate: f64,
    listen: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    chaos: bool,
}

/// `sightline demo`: demo origins on loopback, the default config pointed at them.
fn run_demo(args: DemoArgs, log_format: LogFormat) -> anyhow::Result<()> {
    let DemoArgs {
        upstreams,
        latency_ms,
        error_rate,
        listen,
        admin,
        chaos,
    } = args;
    let mut cfg = config::parse("", &|k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("demo defaults")?;
    cfg.proxy.listen = vec![listen];
    cfg.admin.listen = admin;
    // The demo shows its traces with no setup: the built-in Jaeger UI.
    cfg.telemetry.embedded_ui = true;
    // The origins must exist before the balancer is built from their addresses, and they run
    // on their own runtime so they outlive nothing but this function.
    let origins_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("demo-origins")
        .enable_all()
        .build()
        .context("demo origin runtime")?;
    let origins = origins_rt
        .block_on(async {
            let mut v = Vec::new();
            let start = std::time::Instant::now();
            for i in 0..upstreams {
                let opts = DemoOptions {
                    latency: Duration::from_millis(latency_ms),
                    error_rate,
                    name: format!("origin-{}", i + 1),
                    chaos: chaos.then_some(demo::chaos::Chaos {
                        start,
                        index: i as usize,
                        count: upstreams as usize,
                    }),
                };
                v.push(demo::spawn_origin("127.0.0.1:0".parse().expect("literal"), opts).await?);
            }
            Ok::<_, std::io::Error>(v)
        })
        .context("starting demo origins")?;
    cfg.upstreams.servers = origins.iter().map(|o| o.local_addr()).collect();
    print_demo_banner(&cfg, &origins);
    if chaos {
        println!(
            "  chaos          on: origins take turns being down, slow and failing (30 s cycle)"
        );
    }
    serve(cfg, log_format, None, false)?;
    drop(origins);
    origins_rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn print_demo_banner(cfg: &Config, origins: &[demo::DemoOrigin]) {
    println!("sightline demo");
    for (i, o) in origins.iter().enumerate() {
        println!("  origin-{}       http://{}", i + 1, o.local_addr());
    }
    for l in &cfg.proxy.listen {
        println!("  proxy          http://{l}/   (try /static/app.css, /api/items/42)");
    }
    println!(
        "  admin          http://{}/health  /dashboard  /metrics  /",
        cfg.admin.listen
    );
    if cfg.telemetry.traces || cfg.telemetry.metrics {
        println!("  OTLP export    {}", cfg.telemetry.otlp_endpoint);
    }
    if cfg.telemetry.traces && cfg.telemetry.embedded_ui {
        println!("  traces         http://{}/jaeger/", cfg.admin.listen);
    }
    println!("Ctrl-C to stop.");
}
