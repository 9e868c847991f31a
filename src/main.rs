//! The `sightline` binary: arguments → config → services → run.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sightline::app::App;
use sightline::cli::{Cli, Command, LogFormat};
use sightline::config::{self, Config};
use sightline::demo::{self, DemoOptions};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(format: LogFormat) {
    use tracing_subscriber::{fmt, prelude::*, EnvFilter};
    // pingora logs through `log`; the fmt layer's filter applies to it too via the bridge.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = match format {
        LogFormat::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
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
        Command::Run { config: path } => {
            let cfg = match config::load(&path).and_then(|c| c.require_upstreams().map(|_| c)) {
                Ok(c) => c,
                Err(errs) => {
                    eprint!("{}", render_errors(&path, &errs));
                    return Ok(ExitCode::from(2));
                }
            };
            let app = App::build(cfg).context("starting sightline")?;
            app.run();
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            upstreams,
            latency_ms,
            error_rate,
            listen,
            admin,
        } => {
            run_demo(upstreams, latency_ms, error_rate, listen, admin)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Top { .. } => anyhow::bail!("top: not wired yet"),
    }
}

fn render_errors(path: &std::path::Path, errs: &config::ConfigErrors) -> String {
    let mut out = format!("{}: invalid config\n", path.display());
    for e in &errs.0 {
        out.push_str(&format!(
            "error: {}: {} (value: {})\n",
            e.field, e.reason, e.value
        ));
    }
    out
}

/// `sightline demo`: demo origins on loopback, the default config pointed at them.
fn run_demo(
    upstreams: u16,
    latency_ms: u64,
    error_rate: f64,
    listen: std::net::SocketAddr,
    admin: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let mut cfg = config::parse("", &|k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("demo defaults")?;
    cfg.proxy.listen = vec![listen];
    cfg.admin.listen = admin;
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
            for i in 0..upstreams {
                let opts = DemoOptions {
                    latency: Duration::from_millis(latency_ms),
                    error_rate,
                    name: format!("origin-{}", i + 1),
                };
                v.push(demo::spawn_origin("127.0.0.1:0".parse().expect("literal"), opts).await?);
            }
            Ok::<_, std::io::Error>(v)
        })
        .context("starting demo origins")?;
    cfg.upstreams.servers = origins.iter().map(|o| o.local_addr()).collect();
    print_demo_banner(&cfg, &origins);
    let app = App::build(cfg).context("starting sightline")?;
    app.run();
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
    println!("Ctrl-C to stop.");
}
