//! Command-line interface (spec §1): `run`, `demo`, `check`, `top`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// sightline: a reverse proxy that sees everything it carries.
#[derive(Debug, Parser)]
#[command(name = "sightline", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy with a TOML config.
    Run {
        /// Config file.
        #[arg(short, long, default_value = "config/sightline.toml")]
        config: PathBuf,
        /// Take the listening sockets over from the running sightline (send it SIGQUIT next).
        #[arg(long)]
        upgrade: bool,
    },
    /// Start built-in demo origins on loopback and the proxy in front of them.
    Demo {
        /// Number of demo origin servers.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
        upstreams: u16,
        /// Latency added by every origin, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Share of /api/* requests the origins answer with 500 (0.0–1.0).
        #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
        error_rate: f64,
        /// Proxy listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Admin listen address.
        #[arg(long, default_value = "127.0.0.1:9190")]
        admin: SocketAddr,
        /// Origins take turns failing (one down for 10 s, one slow, one answering 5xx) on a
        /// 30 s cycle.
        #[arg(long)]
        chaos: bool,
    },
    /// Validate a config file: exit 0, or print every error and exit 2.
    Check {
        /// Config file.
        #[arg(short, long, default_value = "config/sightline.toml")]
        config: PathBuf,
    },
    /// Live terminal dashboard over one or more running proxies' admin APIs.
    Top {
        /// Admin base URL (repeatable).
        #[arg(long = "admin", default_value = "http://127.0.0.1:9190")]
        admins: Vec<String>,
        /// Refresh period in seconds.
        #[arg(long, default_value_t = 1.0)]
        refresh: f64,
        /// Print one plain-text frame and exit.
        #[arg(long)]
        once: bool,
        /// Bearer token for admin APIs that set `admin.token`.
        #[arg(long, env = "SIGHTLINE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0.0 and 1.0".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demo_defaults_follow_the_spec() {
        let cli = Cli::parse_from(["sightline", "demo"]);
        match cli.command {
            Command::Demo {
                upstreams,
                listen,
                admin,
                chaos,
                ..
            } => {
                assert!(!chaos, "--chaos is off by default");
                assert_eq!(upstreams, 3);
                assert_eq!(listen.to_string(), "127.0.0.1:8080");
                assert_eq!(admin.to_string(), "127.0.0.1:9190");
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn top_takes_admins_refresh_once_and_a_token() {
        let cli = Cli::parse_from([
            "sightline",
            "top",
            "--admin",
            "http://a:1",
            "--admin",
            "http://b:2",
            "--refresh",
            "2.5",
            "--once",
            "--token",
            "t0k",
        ]);
        match cli.command {
            Command::Top {
                admins,
                refresh,
                once,
                token,
            } => {
                assert_eq!(admins, ["http://a:1", "http://b:2"]);
                assert_eq!((refresh, once, token.as_deref()), (2.5, true, Some("t0k")));
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn error_rate_is_bounded() {
        assert!(Cli::try_parse_from(["sightline", "demo", "--error-rate", "1.5"]).is_err());
        let chaos = Cli::parse_from(["sightline", "demo", "--chaos"]);
        assert!(matches!(chaos.command, Command::Demo { chaos: true, .. }));
    }
}
