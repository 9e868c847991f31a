//! The alert engine: evaluates every rule over each new snapshot, prints one line per firing or
//! resolving (plus a `tracing` warning), keeps the active alerts and the last 100, and hands
//! transitions to the webhook without ever waiting for it.
//!
//! It only reads the observatory. What it concludes it publishes itself ([`PublishedAlerts`],
//! after every evaluation and acknowledgement); readers combine that list with the
//! observatory's snapshot ([`MetricsSnapshot::with_alerts`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::rules::{op_symbol, Rule, RuleInfo, RuleState, Transition, Watched};
use super::sink::{AlertEvent, AlertEventKind, AlertRecord, AlertSink};
use super::webhook::Webhook;
use crate::config::{AlertMetric, AlertsConfig};
use crate::observe::format::one_decimal;
use crate::observe::observatory::{shutdown_requested, Observatory, Shutdown};
use crate::observe::snapshot::{alert_label, ActiveAlert, MetricsSnapshot};
use crate::telemetry::clock::{unix_ms, Clock};
use tokio::sync::watch;

/// Alerts kept in the history.
pub const HISTORY_LEN: usize = 100;
/// Trace ids listed on a latency alert.
const TRACE_IDS: usize = 5;

fn whole_secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

struct Watch {
    rule: Rule,
    state: RuleState,
    active: Option<u64>,
}

struct State {
    /// Configured rules first (`..config_rules`), then the per-upstream "down" rules.
    watches: Vec<Watch>,
    config_rules: usize,
    upstream_rules_for: usize,
    next_id: u64,
    active: Vec<AlertRecord>,
    resolved: VecDeque<AlertRecord>,
}

/// What the engine publishes for readers, after every evaluation and acknowledgement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishedAlerts {
    /// `generated_unix_ms` of the last snapshot evaluated (0: none yet), so a reader can wait
    /// until the alerts of the snapshot it holds are settled.
    pub evaluated_unix_ms: u64,
    /// Alerts firing now, oldest first, as snapshots show them.
    pub active: Vec<ActiveAlert>,
}

/// Evaluates rules over snapshots; the source of `/api/alerts`.
pub struct AlertEngine {
    cooldown: Duration,
    upstream_down_rule: bool,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn AlertSink>,
    webhook: Option<Webhook>,
    state: Mutex<State>,
    published: watch::Sender<Arc<PublishedAlerts>>,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field("cooldown", &self.cooldown)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AlertEngine {
    /// An engine for these rules, printing to `sink` (use [`super::ConsoleSink::stdout`]).
    pub fn new(cfg: &AlertsConfig, clock: Arc<dyn Clock>, sink: Arc<dyn AlertSink>) -> Arc<Self> {
        let watches = cfg
            .rules
            .iter()
            .map(|r| Watch {
                rule: r.into(),
                state: RuleState::default(),
                active: None,
            })
            .collect();
        Arc::new(AlertEngine {
            cooldown: cfg.cooldown,
            upstream_down_rule: cfg.upstream_down_rule,
            clock,
            sink,
            webhook: cfg.webhook.as_deref().map(Webhook::new),
            state: Mutex::new(State {
                config_rules: cfg.rules.len(),
                watches,
                upstream_rules_for: 0,
                next_id: 1,
                active: Vec::new(),
                resolved: VecDeque::with_capacity(HISTORY_LEN),
            }),
            published: watch::Sender::new(Arc::default()),
        })
    }

    /// Replaces the configured rules (config reload). An unchanged rule keeps its state and
    /// any alert it has firing; an alert of a removed or changed rule moves to the history as
    /// resolved; the per-upstream "down" rules are kept.
    pub fn replace_rules(&self, rules: &[crate::config::AlertRule]) {
        let wall = unix_ms(self.clock.wall());
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let mut old: Vec<Watch> = st.watches.drain(..st.config_rules).collect();
        let fresh: Vec<Watch> = rules
            .iter()
            .map(|r| {
                let rule: Rule = r.into();
                match old.iter().position(|w| w.rule == rule) {
                    Some(i) => old.remove(i),
                    None => Watch {
                        rule,
                        state: RuleState::default(),
                        active: None,
                    },
                }
            })
            .collect();
        for id in old.iter().filter_map(|w| w.active) {
            if let Some(pos) = st.active.iter().position(|a| a.id == id) {
                let mut record = st.active.remove(pos);
                record.state = AlertEventKind::Resolved;
                record.ended_unix_ms = Some(wall);
                if st.resolved.len() == HISTORY_LEN {
                    st.resolved.pop_front();
                }
                st.resolved.push_back(record);
            }
        }
        st.config_rules = fresh.len();
        st.watches.splice(0..0, fresh);
        self.publish(st, wall);
    }

    /// The alerts as last published (lock-free for practical purposes: a cloned `Arc`).
    pub fn published(&self) -> Arc<PublishedAlerts> {
        Arc::clone(&self.published.borrow())
    }

    /// A receiver woken by every publication.
    pub fn watch_published(&self) -> watch::Receiver<Arc<PublishedAlerts>> {
        self.published.subscribe()
    }

    /// Publishes the active list (called with the state locked, so publications keep order).
    fn publish(&self, st: &State, evaluated_unix_ms: u64) {
        let active = st.active.iter().map(AlertRecord::brief).collect();
        self.published.send_replace(Arc::new(PublishedAlerts {
            evaluated_unix_ms,
            active,
        }));
    }

    /// Spawns the evaluation loop: once per new snapshot (every second), publishing the
    /// firing alerts after each.
    pub fn start(
        self: &Arc<Self>,
        obs: Arc<Observatory>,
        mut shutdown: Shutdown,
    ) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        let mut snapshots = obs.subscribe();
        drop(obs);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = snapshots.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let snap = Arc::clone(&snapshots.borrow_and_update());
                        me.evaluate(&snap);
                    }
                    _ = shutdown_requested(&mut shutdown) => break,
                }
            }
        })
    }

    /// Evaluates every rule over one snapshot; emits and returns the transitions.
    pub fn evaluate(&self, snap: &MetricsSnapshot) -> Vec<AlertEvent> {
        let now = self.clock.now();
        let wall = unix_ms(self.clock.wall());
        let mut events = Vec::new();
        {
            let mut st = lock(&self.state);
            let st = &mut *st;
            if self.upstream_down_rule && st.upstream_rules_for < snap.upstreams.len() {
                for (i, u) in snap
                    .upstreams
                    .iter()
                    .enumerate()
                    .skip(st.upstream_rules_for)
                {
                    st.watches.push(Watch {
                        rule: Rule::upstream_down(i, &u.address),
                        state: RuleState::default(),
                        active: None,
                    });
                }
                st.upstream_rules_for = snap.upstreams.len();
            }
            for w in &mut st.watches {
                let value = w.rule.value(snap);
                match w.state.step(&w.rule, value, now, self.cooldown) {
                    Some(Transition::Fired { value }) => {
                        let record = fired(&w.rule, st.next_id, value, wall, snap);
                        st.next_id += 1;
                        w.active = Some(record.id);
                        st.active.push(record.clone());
                        events.push(AlertEvent {
                            kind: AlertEventKind::Firing,
                            line: record.message.clone(),
                            record,
                        });
                    }
                    Some(Transition::Resolved { after, peak }) => {
                        let id = w.active.take();
                        let Some(pos) = st.active.iter().position(|a| Some(a.id) == id) else {
                            continue;
                        };
                        let mut record = st.active.remove(pos);
                        record.state = AlertEventKind::Resolved;
                        record.peak = peak;
                        record.ended_unix_ms = Some(wall);
                        record.duration_seconds = Some(after.as_secs_f64());
                        if st.resolved.len() == HISTORY_LEN {
                            st.resolved.pop_front();
                        }
                        st.resolved.push_back(record.clone());
                        let line = format!(
                            "ALERT RESOLVED {} after {}",
                            record.label(),
                            whole_secs(after)
                        );
                        events.push(AlertEvent {
                            kind: AlertEventKind::Resolved,
                            record,
                            line,
                        });
                    }
                    None => {
                        if let (Some(id), super::rules::Phase::Firing { peak, .. }) =
                            (w.active, w.state.phase)
                        {
                            if let Some(a) = st.active.iter_mut().find(|a| a.id == id) {
                                a.peak = peak;
                            }
                        }
                    }
                }
            }
            self.publish(st, snap.generated_unix_ms);
        }
        for e in &events {
            tracing::warn!(
                alert = %e.record.label(),
                severity = e.record.severity.as_str(),
                state = ?e.kind,
                value = e.record.value,
                trace_ids = ?e.record.trace_ids,
                "{}",
                e.line
            );
            self.sink.emit(e);
            if let Some(hook) = &self.webhook {
                hook.send(e);
            }
        }
        events
    }

    /// Alerts firing now, oldest first.
    pub fn active(&self) -> Vec<AlertRecord> {
        lock(&self.state).active.clone()
    }

    /// The last [`HISTORY_LEN`] alerts (firing and resolved), newest first.
    pub fn history(&self) -> Vec<AlertRecord> {
        let st = lock(&self.state);
        let mut all: Vec<AlertRecord> = st.resolved.iter().chain(&st.active).cloned().collect();
        all.sort_by_key(|a| std::cmp::Reverse(a.id));
        all.truncate(HISTORY_LEN);
        all
    }

    /// The configured rules, in config order, and whether the per-upstream "down" rule is on.
    pub fn rules(&self) -> (Vec<RuleInfo>, bool) {
        let st = lock(&self.state);
        let rules = st.watches.iter().filter_map(|w| w.rule.info()).collect();
        (rules, self.upstream_down_rule)
    }

    /// Acknowledges an alert by id; returns it, or `None` when unknown.
    pub fn ack(&self, id: u64) -> Option<AlertRecord> {
        let at = unix_ms(self.clock.wall());
        let mut st = lock(&self.state);
        let st = &mut *st;
        let rec = st
            .active
            .iter_mut()
            .chain(st.resolved.iter_mut())
            .find(|a| a.id == id)?;
        if !rec.acknowledged {
            rec.acknowledged = true;
            rec.acknowledged_unix_ms = Some(at);
        }
        let rec = rec.clone();
        let evaluated = self.published.borrow().evaluated_unix_ms;
        self.publish(st, evaluated);
        Some(rec)
    }
}

fn fired(rule: &Rule, id: u64, value: f64, wall: u64, snap: &MetricsSnapshot) -> AlertRecord {
    let label = alert_label(&rule.name, rule.target.as_deref());
    let message = format!(
        "ALERT FIRING {} {label}: {}={} {} {} for {}",
        rule.severity.as_str(),
        rule.watched.name(),
        one_decimal(value),
        op_symbol(rule.op),
        rule.threshold,
        whole_secs(rule.for_),
    );
    let latency = matches!(
        rule.watched,
        Watched::Metric(AlertMetric::AvgResponseTimeMs | AlertMetric::P99ResponseTimeMs)
    );
    let trace_ids = if latency {
        let ids = snap
            .window
            .slowest
            .iter()
            .filter_map(|r| r.trace_id.clone());
        ids.take(TRACE_IDS).collect()
    } else {
        Vec::new()
    };
    AlertRecord {
        id,
        name: rule.name.clone(),
        target: rule.target.clone(),
        severity: rule.severity,
        metric: rule.watched.name().to_owned(),
        op: op_symbol(rule.op).to_owned(),
        threshold: rule.threshold,
        for_seconds: rule.for_.as_secs_f64(),
        state: AlertEventKind::Firing,
        value,
        peak: value,
        started_unix_ms: wall,
        ended_unix_ms: None,
        duration_seconds: None,
        acknowledged: false,
        acknowledged_unix_ms: None,
        trace_ids,
        message,
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
pub(crate) mod tests;
