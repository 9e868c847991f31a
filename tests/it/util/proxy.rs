//! `ProxyProcess`: the real `sightline` binary run under a generated config on free ports, its
//! stdout and stderr captured for assertions; and `ConfigBuilder`, which writes that config.

use std::ffi::OsStr;
use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{accepts_tcp, client_builder, free_addr, poll_until, sightline_command};

/// How long `start` waits for the proxy port (and `start_with_admin` for `/health`) to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long `terminate` waits for the process to exit after SIGTERM.
pub const TERMINATE_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds a test config: the given upstreams, free ports for `proxy.listen` and `admin.listen`,
/// telemetry export off, no console dashboard, 200 ms health checks, a 1 s grace period.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    table: toml::Table,
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
}

impl ConfigBuilder {
    /// The defaults above, in front of `upstreams`.
    pub fn new(upstreams: &[SocketAddr]) -> ConfigBuilder {
        let proxy_addr = free_addr();
        let admin_addr = free_addr();
        let servers: Vec<String> = upstreams.iter().map(|a| a.to_string()).collect();
        ConfigBuilder {
            table: toml::Table::new(),
            proxy_addr,
            admin_addr,
        }
        .set("proxy.listen", proxy_addr.to_string())
        .set("proxy.grace_period", "1s")
        .set("upstreams.servers", servers)
        .set("upstreams.health_check.interval", "200ms")
        .set("telemetry.traces", false)
        .set("telemetry.metrics", false)
        .set("admin.listen", admin_addr.to_string())
        .set("dashboard.console", false)
    }

    /// Sets one key by its dotted path (`"cache.max_size"`), creating tables on the way.
    pub fn set(mut self, dotted: &str, value: impl Into<toml::Value>) -> ConfigBuilder {
        let mut keys: Vec<&str> = dotted.split('.').collect();
        let last = keys.pop().expect("split yields at least one key");
        let mut table = &mut self.table;
        for key in keys {
            let slot = table
                .entry(key)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = match slot {
                toml::Value::Table(t) => t,
                other => panic!("config key {key} in {dotted} is {other}, not a table"),
            };
        }
        table.insert(last.to_owned(), value.into());
        self
    }

    /// Merges TOML text into the config: tables merge key by key, anything else (arrays such
    /// as `[[alerts.rules]]` included) replaces what was there. Panics on invalid TOML.
    pub fn extra(mut self, toml_text: &str) -> ConfigBuilder {
        let extra: toml::Table = toml::from_str(toml_text)
            .unwrap_or_else(|e| panic!("extra config is not valid TOML: {e}\n{toml_text}"));
        merge(&mut self.table, extra);
        self
    }

    /// Where the proxy will listen.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// Where the admin API will listen.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The config file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.table).expect("a TOML table always serializes")
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(old)), toml::Value::Table(new)) => merge(old, new),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Output captured from one pipe of the child.
type Captured = Arc<Mutex<Vec<u8>>>;

/// A running `sightline run -c <generated config>`; SIGTERM then SIGKILL on drop.
pub struct ProxyProcess {
    child: Child,
    exit: Option<ExitStatus>,
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    config: tempfile::NamedTempFile,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
}

impl ProxyProcess {
    /// Writes `config`, starts the binary and waits until its proxy port accepts connections
    /// (see [`Self::wait_proxy_ready`]); the admin API may still be starting.
    pub async fn start(config: ConfigBuilder) -> ProxyProcess {
        let mut proxy =
            ProxyProcess::spawn(&config.to_toml(), config.proxy_addr, config.admin_addr);
        proxy.wait_proxy_ready().await;
        proxy
    }

    /// Like [`Self::start`], but also waits for the admin `/health` (see [`Self::wait_ready`]).
    pub async fn start_with_admin(config: ConfigBuilder) -> ProxyProcess {
        let mut proxy =
            ProxyProcess::spawn(&config.to_toml(), config.proxy_addr, config.admin_addr);
        proxy.wait_ready().await;
        proxy
    }

    /// Writes `toml_text` to a temp file and starts `sightline run -c` on it without waiting;
    /// `proxy_addr`/`admin_addr` are where the text says it listens.
    pub fn spawn(toml_text: &str, proxy_addr: SocketAddr, admin_addr: SocketAddr) -> ProxyProcess {
        ProxyProcess::spawn_with(toml_text, proxy_addr, admin_addr, |_| {})
    }

    /// Like [`Self::spawn`], letting `customize` adjust the command first (e.g. a `pre_exec`
    /// that lowers the child's resource limits).
    pub fn spawn_with(
        toml_text: &str,
        proxy_addr: SocketAddr,
        admin_addr: SocketAddr,
        customize: impl FnOnce(&mut std::process::Command),
    ) -> ProxyProcess {
        let mut config = tempfile::Builder::new()
            .prefix("sightline-it-")
            .suffix(".toml")
            .tempfile()
            .expect("create a temp config file");
        std::io::Write::write_all(&mut config, toml_text.as_bytes()).expect("write the config");
        let mut command = sightline_command([
            OsStr::new("run"),
            OsStr::new("-c"),
            config.path().as_os_str(),
        ]);
        customize(&mut command);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the sightline binary");
        let stdout = Captured::default();
        let stderr = Captured::default();
        let readers = vec![
            capture(
                child.stdout.take().expect("stdout is piped"),
                stdout.clone(),
            ),
            capture(
                child.stderr.take().expect("stderr is piped"),
                stderr.clone(),
            ),
        ];
        ProxyProcess {
            child,
            exit: None,
            proxy_addr,
            admin_addr,
            config,
            stdout,
            stderr,
            readers,
        }
    }

    /// Polls every 20 ms until the proxy port accepts TCP and the admin `/health` answers with
    /// any status; panics with the captured output if the process exits or 20 s pass.
    pub async fn wait_ready(&mut self) {
        let client = client_builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("a plain HTTP client builds");
        let health = self.admin_url("/health");
        self.wait_until_ready(|| async { client.get(&health).send().await.is_ok() })
            .await;
    }

    /// Polls every 20 ms until the proxy port accepts TCP (the admin API is not consulted);
    /// panics with the captured output if the process exits or 20 s pass.
    pub async fn wait_proxy_ready(&mut self) {
        self.wait_until_ready(|| async { true }).await;
    }

    async fn wait_until_ready<F, Fut>(&mut self, mut also: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.try_exit() {
                panic!(
                    "sightline exited before it was ready ({status})\n{}",
                    self.output()
                );
            }
            if accepts_tcp(self.proxy_addr).await && also().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sightline not ready within {READY_TIMEOUT:?}\n{}",
                self.output()
            );
            tokio::time::sleep(super::POLL_INTERVAL).await;
        }
    }

    /// The proxy's listen address.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// The admin API's listen address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `http://PROXY{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy_addr)
    }

    /// `http://ADMIN{path}`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// `GET` an admin path and parse its JSON body (any status); panics with the captured
    /// output when the admin does not answer JSON.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        let response = client_builder()
            .build()
            .expect("a plain HTTP client builds")
            .get(self.admin_url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("admin {path}: {e}\n{}", self.output()));
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("admin {path} is not JSON: {e}\n{}", self.output()))
    }

    /// The generated config file (deleted when this is dropped).
    pub fn config_path(&self) -> &Path {
        self.config.path()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stdout so far.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("stdout lock")).into_owned()
    }

    /// Everything written to stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }

    /// Waits until stdout contains `pattern` and returns all of stdout; panics with the
    /// captured output after `timeout`.
    pub async fn wait_for_stdout(&self, pattern: &str, timeout: Duration) -> String {
        let found = poll_until(timeout, || async { self.stdout_text().contains(pattern) }).await;
        assert!(found, "stdout never showed {pattern:?}\n{}", self.output());
        self.stdout_text()
    }

    /// Waits until stderr contains `pattern` and returns all of stderr; panics with the
    /// captured output after `timeout`.
    pub async fn wait_for_stderr(&self, pattern: &str, timeout: Duration) -> String {
        let found = poll_until(timeout, || async { self.stderr_text().contains(pattern) }).await;
        assert!(found, "stderr never showed {pattern:?}\n{}", self.output());
        self.stderr_text()
    }

    /// Sends `signal` (a `libc::SIG*`) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pids fit in pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child, not
        // yet reaped, so it cannot name another process.
        unsafe { libc::kill(pid, signal) };
    }

    /// The exit status if the process has exited (reaping it), without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait on our child");
        }
        self.exit
    }

    /// Waits up to `timeout` for the process to exit; then all its output has been captured.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while self.try_exit().is_none() && Instant::now() < deadline {
            tokio::time::sleep(super::POLL_INTERVAL).await;
        }
        let status = self.try_exit()?;
        for reader in self.readers.drain(..) {
            // The pipes hit EOF once the process is gone, so these end promptly.
            let _ = reader.join();
        }
        Some(status)
    }

    /// Sends SIGTERM and returns the exit status; panics (after a SIGKILL) with the captured
    /// output if it takes longer than 15 s.
    pub async fn terminate(&mut self) -> ExitStatus {
        if self.try_exit().is_none() {
            self.signal(libc::SIGTERM);
        }
        match self.wait_exit(TERMINATE_TIMEOUT).await {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "sightline did not exit within {TERMINATE_TIMEOUT:?} of SIGTERM\n{}",
                    self.output()
                );
            }
        }
    }

    /// Both captured streams, for panic messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.try_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(super::POLL_INTERVAL);
        }
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies `pipe` into `into` on a thread until EOF.
fn capture(mut pipe: impl Read + Send + 'static, into: Captured) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => into
                    .lock()
                    .expect("capture lock")
                    .extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    })
}
