//! A real OpenTelemetry collector for tests: `rotel` (PyPI package `rotel`, which ships the
//! `rotel-agent` binary inside the Python package directory, not on PATH).
//!
//! CLI facts (rotel 0.0.1a15 / agent 0.0.1-alpha10): `rotel-agent start` runs in the
//! foreground; `--otlp-grpc-endpoint` / `--otlp-http-endpoint` take `host:port` (defaults
//! localhost:4317/4318, so always pass free ports); `--exporter otlp --otlp-exporter-endpoint
//! http://host:port --otlp-exporter-protocol grpc|http`; exports are gzip-compressed whatever
//! `--otlp-exporter-compression none` says, so the receiver must accept gzip;
//! `--batch-timeout 100ms` shortens its 200 ms batching; `--pid-file` / `--log-file` default to
//! fixed /tmp paths, so give each instance its own; it logs to stdout.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `rotel-agent` is: `$ROTEL_AGENT`, else inside the `rotel` package of `python3`.
pub fn rotel_agent() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROTEL_AGENT") {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, rotel; print(os.path.dirname(rotel.__file__))",
        ])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let bin = Path::new(dir.trim()).join("rotel-agent");
    (out.status.success() && bin.is_file()).then_some(bin)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A running rotel forwarding OTLP to another endpoint; killed on drop.
pub struct Rotel {
    child: Child,
    /// OTLP/gRPC in: `http://127.0.0.1:PORT`.
    pub grpc_endpoint: String,
    /// OTLP/HTTP in: `http://127.0.0.1:PORT`.
    pub http_endpoint: String,
    _dir: tempfile::TempDir,
}

impl Rotel {
    /// The agent's process id (to pause it with SIGSTOP).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `bin` forwarding everything over OTLP/gRPC to `forward_to`; returns once its
    /// gRPC port accepts connections.
    pub fn start(bin: &Path, forward_to: &str) -> Rotel {
        let (grpc, http) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .arg("start")
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "grpc"])
            .args(["--otlp-exporter-endpoint", forward_to])
            .args(["--batch-timeout", "100ms"])
            .arg("--pid-file")
            .arg(dir.path().join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.path().join("rotel.log"))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rotel-agent starts");
        let rotel = Rotel {
            child,
            grpc_endpoint: format!("http://127.0.0.1:{grpc}"),
            http_endpoint: format!("http://127.0.0.1:{http}"),
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", grpc)).is_err() {
            assert!(Instant::now() < until, "rotel did not listen on {grpc}");
            std::thread::sleep(Duration::from_millis(20));
        }
        rotel
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
