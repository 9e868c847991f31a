//! Live config reload: re-reads the file the process started with (SIGHUP or
//! `POST /api/config/reload`), validates it like `sightline check`, diffs it against the running
//! config ([`crate::config::diff`]) and applies what can change in place: the upstream list and
//! health checks (a new balancer swapped in whole), the trace sampling ratio and the alert
//! rules. Fields that
//! need a restart are reported and keep their running value. An invalid file changes nothing.
//!
//! Every attempt is logged, counted and kept as [`ReloadStatus`] for `/api/summary`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::alerts::engine::AlertEngine;
use crate::config::diff::{self, Change, Effect};
use crate::config::{self, Config, HealthCheckKind, UpstreamsConfig};
use crate::proxy::balance::{self, Balancer};
use crate::proxy::tls::{TlsCerts, UpstreamTransport};
use crate::telemetry::upstreams::UpstreamBoard;
use crate::telemetry::Telemetry;

/// Upstream slots reserved at start for upstreams that reloads add (ids never move).
pub const SPARE_UPSTREAMS: usize = 64;

/// The running parts a reload changes.
pub struct LiveParts {
    /// The balancer the request path selects from.
    pub balancer: Arc<ArcSwap<Balancer>>,
    /// Per-upstream live state (ids, health).
    pub board: Arc<UpstreamBoard>,
    /// The request tracer (sampling ratio).
    pub telemetry: Arc<Telemetry>,
    /// The alert engine (rules).
    pub alerts: Arc<AlertEngine>,
    /// Where health checks and the SIGHUP listener run (a thread of their own).
    pub side: tokio::runtime::Handle,
    /// The TLS listeners' certificates, re-read from their files on every reload.
    pub tls: Arc<TlsCerts>,
    /// Upstream TLS (its CA bundle is read at start; `upstreams.tls` needs a restart).
    pub transport: UpstreamTransport,
}

/// What the last reload did, as shown in `/api/summary` under `reload`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReloadStatus {
    /// When the last reload was attempted, ms since the Unix epoch (0: never).
    pub last_unix_ms: u64,
    /// `"none"` before the first reload, then `"ok"` or `"refused"`.
    pub result: &'static str,
    /// FNV-1a 64 of the running config file's bytes, hex.
    pub config_hash: String,
    /// The same hash of the file the process started with.
    pub initial_config_hash: String,
    /// Why the last reload was refused (the `sightline check` lines).
    pub errors: Vec<String>,
    /// What the last reload changed, one `field: applied|needs restart, left as it was` each.
    pub changes: Vec<String>,
    /// Reloads applied.
    pub count_ok: u64,
    /// Reloads refused.
    pub count_failed: u64,
}

/// Re-reads, validates and applies the config file.
pub struct Reloader {
    parts: LiveParts,
    /// The file (set by [`Reloader::watch_file`]; `sightline demo` has none).
    path: OnceLock<PathBuf>,
    /// The effective running config (restart-only fields at their start value).
    running: Mutex<Config>,
    /// Stops the running generation of health checks.
    checks: Mutex<watch::Sender<bool>>,
    status: Mutex<ReloadStatus>,
    /// One reload at a time (the health-check round inside is async).
    serial: tokio::sync::Mutex<()>,
}

/// FNV-1a 64-bit of `bytes`, 16 hex digits: identifies a config file version in the summary.
pub fn config_hash(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Re-reads every `[[proxy.tls]]` certificate and key (renewed files take effect even when
/// the config text did not change); all or nothing, so a bad file refuses the reload.
/// Listener addresses added or removed are reported as needing a restart.
pub fn apply_tls_certificates(certs: &TlsCerts, cfg: &Config) -> Result<Vec<String>, Vec<String>> {
    let done = certs.reload(&cfg.proxy.tls).map_err(|errs| {
        errs.iter()
            .map(|e| format!("error: {e}"))
            .collect::<Vec<_>>()
    })?;
    Ok(done
        .needs_restart
        .iter()
        .map(|a| format!("proxy.tls listener {a}: needs restart, left as it was"))
        .collect())
}

impl Reloader {
    /// A reloader for the running `cfg`; starts the health checks of the current balancer.
    pub fn new(cfg: &Config, parts: LiveParts) -> Arc<Self> {
        let (stop, stopped) = watch::channel(false);
        parts
            .side
            .spawn(balance::run_checks(parts.balancer.load_full(), stopped));
        Arc::new(Reloader {
            parts,
            path: OnceLock::new(),
            running: Mutex::new(cfg.clone()),
            checks: Mutex::new(stop),
            status: Mutex::new(ReloadStatus {
                last_unix_ms: 0,
                result: "none",
                config_hash: String::new(),
                initial_config_hash: String::new(),
                errors: vec![],
                changes: vec![],
                count_ok: 0,
                count_failed: 0,
            }),
            serial: tokio::sync::Mutex::new(()),
        })
    }

    /// Reloads from `path` from now on, and on every SIGHUP (the handler is installed before
    /// this returns, so an early SIGHUP no longer kills the process).
    pub fn watch_file(self: &Arc<Self>, path: PathBuf) -> std::io::Result<()> {
        let hash = std::fs::read(&path).map(|b| config_hash(&b))?;
        {
            let mut st = lock(&self.status);
            st.config_hash = hash.clone();
            st.initial_config_hash = hash;
        }
        let _ = self.path.set(path);
        let _guard = self.parts.side.enter();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let me = Arc::clone(self);
        self.parts.side.spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the config file");
                let _ = me.reload().await;
            }
        });
        Ok(())
    }

    /// The last reload's outcome and the counters.
    pub fn status(&self) -> ReloadStatus {
        lock(&self.status).clone()
    }

    /// Re-reads the file and applies it; `Err` holds the refusal's error lines.
    pub async fn reload(&self) -> Result<ReloadStatus, ReloadStatus> {
        let _one = self.serial.lock().await;
        let Some(path) = self.path.get() else {
            return Err(self.refuse(vec![
                "no config file: this process was not started with `run --config`".into(),
            ]));
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let line = format!("error: (file): {e} (value: {})", path.display());
                return Err(self.refuse(vec![line]));
            }
        };
        let hash = config_hash(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let new = match config::parse(&text, &|k| std::env::var(k).ok())
            .and_then(|c| c.require_upstreams().map(|_| c))
        {
            Ok(c) => c,
            Err(errs) => {
                let lines = config::render_errors(&errs)
                    .lines()
                    .map(str::to_owned)
                    .collect();
                return Err(self.refuse(lines));
            }
        };
        let old = lock(&self.running).clone();
        let changes = diff::diff(&old, &new);
        let eff = diff::effective(&old, &new);
        // Certificates first: all or nothing, so a bad file refuses before anything changed.
        let tls_notes = match apply_tls_certificates(&self.parts.tls, &eff) {
            Ok(notes) => notes,
            Err(lines) => return Err(self.refuse(lines)),
        };
        if let Err(line) = self.apply(&eff, &changes).await {
            return Err(self.refuse(vec![line]));
        }
        *lock(&self.running) = eff;
        let mut lines: Vec<String> = changes.iter().map(Change::to_string).collect();
        lines.extend(tls_notes);
        tracing::info!(changes = ?lines, config_hash = %hash, "config reloaded");
        let mut st = lock(&self.status);
        st.last_unix_ms = now_ms();
        st.result = "ok";
        st.config_hash = hash;
        st.errors.clear();
        st.changes = lines;
        st.count_ok += 1;
        Ok(st.clone())
    }

    fn refuse(&self, errors: Vec<String>) -> ReloadStatus {
        tracing::warn!(errors = ?errors, "config reload refused; the running config stays");
        let mut st = lock(&self.status);
        st.last_unix_ms = now_ms();
        st.result = "refused";
        st.errors = errors;
        st.changes.clear();
        st.count_failed += 1;
        st.clone()
    }

    /// Applies every in-place change; one arm per reloadable section.
    async fn apply(&self, new: &Config, changes: &[Change]) -> Result<(), String> {
        let changed = |field: &str| {
            changes
                .iter()
                .any(|c| c.field == field && c.effect == Effect::Applied)
        };
        if changed("upstreams.servers") || changed("upstreams.health_check") {
            self.swap_balancer(&new.upstreams).await?;
        }
        if changed("telemetry.sample_ratio") {
            self.parts
                .telemetry
                .tracer
                .set_sample_ratio(new.telemetry.sample_ratio);
        }
        if changed("alerts.rules") {
            self.parts.alerts.replace_rules(&new.alerts.rules);
        }
        Ok(())
    }

    /// Builds a balancer for the new upstream settings, probes it so it starts with real
    /// health, swaps it in (requests already sent keep their connection) and moves the health
    /// checks to it.
    async fn swap_balancer(&self, cfg: &UpstreamsConfig) -> Result<(), String> {
        let board = &self.parts.board;
        board
            .set_members(&cfg.servers)
            .map_err(|e| format!("error: upstreams.servers: {e}"))?;
        let lb = balance::balancer(cfg, board.clone(), &self.parts.transport)
            .map_err(|e| format!("error: upstreams.servers: {e}"))?;
        let lb = Arc::new(lb);
        if cfg.health_check.kind != HealthCheckKind::None {
            // Enough rounds for a dead newcomer to leave the rotation before it gets traffic.
            let rounds = cfg
                .health_check
                .unhealthy_after
                .get()
                .max(cfg.health_check.healthy_after.get());
            for _ in 0..rounds {
                lb.backends().run_health_check(true).await;
            }
        }
        for b in lb.backends().get_backend().iter() {
            if let Some(id) = b.addr.as_inet().and_then(|a| board.id_of(a)) {
                board.set_healthy(id, lb.backends().ready(b));
            }
        }
        self.parts.balancer.store(lb.clone());
        let (stop, stopped) = watch::channel(false);
        let old = std::mem::replace(&mut *lock(&self.checks), stop);
        let _ = old.send(true);
        self.parts.side.spawn(balance::run_checks(lb, stopped));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fnv1a_hex() {
        assert_eq!(config_hash(b""), "cbf29ce484222325");
        assert_eq!(config_hash(b"a"), "af63dc4c8601ec8c");
        assert_ne!(config_hash(b"x = 1"), config_hash(b"x = 2"));
    }
}
