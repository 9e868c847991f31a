//! The `sightline` binary: arguments → config → services → run.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sightline::app::App;
use sightline::cli::{Cli, Command, LogFormat};
use sightline::config::{self, Config};

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
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
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
            let _ = (upstreams, latency_ms, error_rate, listen, admin);
            anyhow::bail!("demo: not wired yet")
        }
        Command::Top { .. } => anyhow::bail!("top: not wired yet"),
    }
}

fn render_errors(path: &std::path::Path, errs: &config::ConfigErrors) -> String {
    let mut out = format!("{}: invalid config\n", path.display());
    for e in &errs.0 {
        out.push_str(&format!("error: {}: {} (value: {})\n", e.field, e.reason, e.value));
    }
    out
}

#[allow(dead_code)]
fn demo_config(_c: Config) {}
