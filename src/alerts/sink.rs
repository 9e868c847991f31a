//! What an alert transition looks like to the outside: the alert record kept in the history,
//! the event handed to sinks, and the console sink that prints one line per transition.

use serde::{Deserialize, Serialize};

use crate::observe::snapshot::{alert_label, ActiveAlert, AlertLevel};

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertEventKind {
    /// The rule started firing.
    Firing,
    /// The rule stopped firing.
    Resolved,
}

/// One alert instance, from firing to resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Instance id (for acknowledging).
    pub id: u64,
    /// Rule name.
    pub name: String,
    /// What it is about, for per-target rules (an upstream address).
    pub target: Option<String>,
    /// Severity.
    pub severity: AlertLevel,
    /// Watched metric.
    pub metric: String,
    /// Comparison symbol.
    pub op: String,
    /// Threshold.
    pub threshold: f64,
    /// The rule's `for`, seconds.
    pub for_seconds: f64,
    /// `firing` or `resolved`.
    pub state: AlertEventKind,
    /// The figure when it fired.
    pub value: f64,
    /// The worst figure while firing.
    pub peak: f64,
    /// When it fired, ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// When it resolved, ms since the Unix epoch.
    pub ended_unix_ms: Option<u64>,
    /// How long it fired, seconds (when resolved).
    pub duration_seconds: Option<f64>,
    /// Someone acknowledged it.
    pub acknowledged: bool,
    /// When, ms since the Unix epoch.
    pub acknowledged_unix_ms: Option<u64>,
    /// For latency alerts: sampled trace ids of the slowest requests in the window.
    pub trace_ids: Vec<String>,
    /// The line printed when it fired.
    pub message: String,
}

impl AlertRecord {
    /// `name` or `name(target)`.
    pub fn label(&self) -> String {
        alert_label(&self.name, self.target.as_deref())
    }

    /// The short form snapshots carry.
    pub fn brief(&self) -> ActiveAlert {
        ActiveAlert {
            id: self.id,
            name: self.name.clone(),
            target: self.target.clone(),
            severity: self.severity,
            value: self.value,
            since_unix_ms: self.started_unix_ms,
            acknowledged: self.acknowledged,
        }
    }
}

/// A transition, as handed to sinks and the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// Firing or resolved.
    pub kind: AlertEventKind,
    /// The alert after the transition.
    pub record: AlertRecord,
    /// The stdout line (no colour).
    pub line: String,
}

/// Where alert lines go.
pub trait AlertSink: Send + Sync {
    /// Shows one transition.
    fn emit(&self, event: &AlertEvent);
}

/// Prints alert lines on stdout, coloured when stdout is a terminal.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleSink {
    /// Use ANSI colours.
    pub color: bool,
}

impl ConsoleSink {
    /// Colours only when stdout is a terminal.
    pub fn stdout() -> Self {
        use std::io::IsTerminal;
        ConsoleSink {
            color: std::io::stdout().is_terminal(),
        }
    }
}

impl AlertSink for ConsoleSink {
    fn emit(&self, e: &AlertEvent) {
        if !self.color {
            println!("{}", e.line);
            return;
        }
        let code = match (e.kind, e.record.severity) {
            (AlertEventKind::Resolved, _) => "32",
            (_, AlertLevel::Critical) => "1;31",
            (_, AlertLevel::Warning) => "33",
            (_, AlertLevel::Info) => "36",
        };
        println!("\x1b[{code}m{}\x1b[0m", e.line);
    }
}
