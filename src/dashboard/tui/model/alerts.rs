//! Alert answers as `top` reads them: `/api/alerts` and `/api/alerts/rules`.

use serde::Deserialize;

use super::AlertLevel;

/// `GET /api/alerts`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AlertsView {
    /// Firing now.
    pub active: Vec<AlertRecordView>,
    /// The last alerts, newest first (firing ones included).
    pub history: Vec<AlertRecordView>,
}

/// One alert from firing to resolution.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AlertRecordView {
    /// Instance id.
    pub id: u64,
    /// Rule name.
    pub name: String,
    /// Target.
    pub target: Option<String>,
    /// Severity.
    pub severity: AlertLevel,
    /// Watched metric.
    pub metric: String,
    /// Comparison.
    pub op: String,
    /// Threshold.
    pub threshold: f64,
    /// `firing` or `resolved`.
    pub state: String,
    /// Figure when it fired.
    pub value: f64,
    /// Worst figure while firing.
    pub peak: f64,
    /// Fired, ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// Resolved, ms since the Unix epoch.
    pub ended_unix_ms: Option<u64>,
    /// Acknowledged.
    pub acknowledged: bool,
    /// Trace ids of the slowest requests (latency alerts).
    pub trace_ids: Vec<String>,
    /// The line printed when it fired.
    pub message: String,
}

impl AlertRecordView {
    /// Firing now.
    pub fn firing(&self) -> bool {
        self.state != "resolved"
    }
}

/// `GET /api/alerts/rules`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RulesView {
    /// Configured rules.
    pub rules: Vec<RuleView>,
}

/// One configured rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RuleView {
    /// Rule name.
    pub name: String,
    /// Watched metric (spec §7 name).
    pub metric: String,
    /// Comparison symbol.
    pub op: String,
    /// Threshold.
    pub threshold: f64,
    /// Severity.
    pub severity: AlertLevel,
    /// Requests the window must hold before the rule judges.
    pub min_samples: u64,
}
