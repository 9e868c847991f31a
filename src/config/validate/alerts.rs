//! `[alerts]`: the rule list, each rule checked field by field, every problem reported.

use std::collections::HashMap;
use std::time::Duration;

use super::Checker;
use crate::config::default_alert_rules;
use crate::config::model::*;
use crate::config::raw::{RawAlerts, RawRule};

impl Checker<'_> {
    /// Validates `[alerts]`; no `rules` key means the spec's default rules.
    pub(super) fn alerts(&mut self, r: RawAlerts, d: AlertsConfig) -> AlertsConfig {
        let rules = match r.rules {
            None => default_alert_rules(),
            Some(rules) => self.rules(rules),
        };
        AlertsConfig {
            cooldown: self.duration("alerts.cooldown", r.cooldown, d.cooldown),
            webhook: r
                .webhook
                .filter(|s| !s.is_empty())
                .map(|s| self.url("alerts.webhook", s))
                .or(d.webhook),
            rules,
            upstream_down_rule: r.upstream_down.unwrap_or(d.upstream_down_rule),
        }
    }

    /// Validates explicit rules; a rule with any error is left out of the result.
    fn rules(&mut self, raw_rules: Vec<RawRule>) -> Vec<AlertRule> {
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw_rules.len());
        for (i, r) in raw_rules.into_iter().enumerate() {
            let at = |key: &str| format!("alerts.rules[{i}].{key}");
            let before = self.0.len();
            let name = self.required_as(&at("name"), r.name, |n| match n.trim() {
                "" => Err("must not be empty".to_string()),
                _ => Ok(n.to_string()),
            });
            if let Some(first) = name.as_ref().and_then(|n| names.insert(n.clone(), i)) {
                let shown = format!("{:?}", name.as_deref().unwrap_or_default());
                let why = format!("duplicate of alerts.rules[{first}].name");
                self.err(at("name"), shown, why);
            }
            let metric = self.required_as(&at("metric"), r.metric, parse_metric);
            let op = self.required_as(&at("op"), r.op, parse_op);
            let threshold = self.required(&at("threshold"), r.threshold);
            if let Some(t) = threshold.filter(|t| !t.is_finite()) {
                self.err(at("threshold"), t, "must be a finite number");
            }
            let severity = match r.severity {
                None => Some(Severity::Warning),
                Some(s) => parse_severity(&s)
                    .map_err(|why| self.err(at("severity"), format!("{s:?}"), why))
                    .ok(),
            };
            let for_ = self.duration(&at("for"), r.for_, Duration::ZERO);
            let min_samples = self.count(&at("min_samples"), r.min_samples, 0u64);
            if self.0.len() != before {
                continue;
            }
            if let (Some(name), Some(metric), Some(op), Some(threshold), Some(severity)) =
                (name, metric, op, threshold, severity)
            {
                out.push(AlertRule {
                    name,
                    metric,
                    op,
                    threshold,
                    for_,
                    severity,
                    min_samples,
                });
            }
        }
        out
    }

    /// Reports a missing required key of an alert rule.
    fn required<T>(&mut self, field: &str, v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.err(field, "(missing)", "required in every alert rule");
        }
        v
    }

    /// A required string key of an alert rule, parsed by `parse`.
    fn required_as<T>(
        &mut self,
        field: &str,
        v: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.required(field, v)?;
        parse(&s)
            .map_err(|why| self.err(field, format!("{s:?}"), why))
            .ok()
    }
}

/// Parses a spec §7 alert metric name.
fn parse_metric(s: &str) -> Result<AlertMetric, String> {
    Ok(match s {
        "avg_response_time_ms" => AlertMetric::AvgResponseTimeMs,
        "p99_response_time_ms" => AlertMetric::P99ResponseTimeMs,
        "requests_per_second" => AlertMetric::RequestsPerSecond,
        "error_rate_percent" => AlertMetric::ErrorRatePercent,
        "cache_hit_ratio_percent" => AlertMetric::CacheHitRatioPercent,
        "memory_usage_mb" => AlertMetric::MemoryUsageMb,
        "healthy_upstreams" => AlertMetric::HealthyUpstreams,
        _ => {
            return Err("expected one of avg_response_time_ms, p99_response_time_ms, requests_per_second, error_rate_percent, cache_hit_ratio_percent, memory_usage_mb, healthy_upstreams".into())
        }
    })
}

/// Parses `>` `>=` `<` `<=`.
fn parse_op(s: &str) -> Result<AlertOp, String> {
    match s {
        ">" => Ok(AlertOp::Gt),
        ">=" => Ok(AlertOp::Ge),
        "<" => Ok(AlertOp::Lt),
        "<=" => Ok(AlertOp::Le),
        _ => Err("expected one of \">\", \">=\", \"<\", \"<=\"".into()),
    }
}

/// Parses `info` | `warning` | `critical`.
fn parse_severity(s: &str) -> Result<Severity, String> {
    match s {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        _ => Err("expected \"info\", \"warning\" or \"critical\"".into()),
    }
}
