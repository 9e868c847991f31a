//! Pure rule evaluation: which figure a rule watches, whether its condition holds in a snapshot,
//! and the pending → firing → resolved state machine with `for` and cooldown, on injected time.

use std::time::{Duration, Instant};

use crate::config::{AlertMetric, AlertOp, AlertRule};
use crate::observe::snapshot::{AlertLevel, MetricsSnapshot};

/// Tolerance on `for`: evaluation instants jitter around the 1 s sampling ticks.
const TICK_SLACK: Duration = Duration::from_millis(50);

/// The figure a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// One of the spec's alert metrics.
    Metric(AlertMetric),
    /// 1 when this upstream (by index) is in rotation, else 0.
    UpstreamHealthy(usize),
}

impl Watched {
    /// The metric name printed in alert lines.
    pub fn name(self) -> &'static str {
        match self {
            Watched::Metric(m) => metric_name(m),
            Watched::UpstreamHealthy(_) => "upstream_healthy",
        }
    }
}

/// The spec's name of an alert metric.
pub fn metric_name(m: AlertMetric) -> &'static str {
    match m {
        AlertMetric::AvgResponseTimeMs => "avg_response_time_ms",
        AlertMetric::P99ResponseTimeMs => "p99_response_time_ms",
        AlertMetric::RequestsPerSecond => "requests_per_second",
        AlertMetric::ErrorRatePercent => "error_rate_percent",
        AlertMetric::CacheHitRatioPercent => "cache_hit_ratio_percent",
        AlertMetric::MemoryUsageMb => "memory_usage_mb",
        AlertMetric::HealthyUpstreams => "healthy_upstreams",
    }
}

/// The comparison's symbol.
pub fn op_symbol(op: AlertOp) -> &'static str {
    match op {
        AlertOp::Gt => ">",
        AlertOp::Ge => ">=",
        AlertOp::Lt => "<",
        AlertOp::Le => "<=",
    }
}

fn holds(op: AlertOp, v: f64, t: f64) -> bool {
    match op {
        AlertOp::Gt => v > t,
        AlertOp::Ge => v >= t,
        AlertOp::Lt => v < t,
        AlertOp::Le => v <= t,
    }
}

/// One evaluable rule: a configured one, or the "upstream down" rule for one upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Rule name.
    pub name: String,
    /// What this instance is about (the upstream address for `upstream_down`).
    pub target: Option<String>,
    /// Watched figure.
    pub watched: Watched,
    /// Comparison.
    pub op: AlertOp,
    /// Threshold.
    pub threshold: f64,
    /// The condition must hold this long before firing.
    pub for_: Duration,
    /// Severity.
    pub severity: AlertLevel,
    /// Requests (cacheable ones for the hit ratio) the window must hold before evaluating.
    pub min_samples: u64,
}

impl From<&AlertRule> for Rule {
    fn from(r: &AlertRule) -> Self {
        Rule {
            name: r.name.clone(),
            target: None,
            watched: Watched::Metric(r.metric),
            op: r.op,
            threshold: r.threshold,
            for_: r.for_,
            severity: r.severity.into(),
            min_samples: r.min_samples,
        }
    }
}

impl Rule {
    /// The per-upstream "upstream down" warning (spec §7 default), firing at once: the
    /// balancer's `unhealthy_after` and outlier detection's `consecutive_failures` debounce.
    pub fn upstream_down(index: usize, address: &str) -> Rule {
        Rule {
            name: "upstream_down".into(),
            target: Some(address.to_owned()),
            watched: Watched::UpstreamHealthy(index),
            op: AlertOp::Lt,
            threshold: 1.0,
            for_: Duration::ZERO,
            severity: AlertLevel::Warning,
            min_samples: 0,
        }
    }

    /// The watched figure in `s`, or `None` when the window holds too little to judge.
    pub fn value(&self, s: &MetricsSnapshot) -> Option<f64> {
        let w = &s.window;
        let enough =
            |n: u64, at_least_one: bool| n >= self.min_samples.max(u64::from(at_least_one));
        match self.watched {
            Watched::UpstreamHealthy(i) => {
                s.upstreams
                    .get(i)
                    // Out of rotation either way: failed active checks or passively ejected.
                    .map(|u| if u.healthy && !u.ejected { 1.0 } else { 0.0 })
            }
            Watched::Metric(m) => match m {
                AlertMetric::AvgResponseTimeMs => {
                    enough(w.requests, true).then_some(w.avg_response_time_ms)
                }
                AlertMetric::P99ResponseTimeMs => enough(w.requests, true).then_some(w.p99_ms),
                AlertMetric::RequestsPerSecond => {
                    enough(w.requests, false).then_some(w.requests_per_second)
                }
                AlertMetric::ErrorRatePercent => {
                    enough(w.requests, true).then_some(w.error_rate_percent)
                }
                AlertMetric::CacheHitRatioPercent => {
                    enough(w.cache.cacheable(), true).then_some(w.cache_hit_ratio_percent)
                }
                AlertMetric::MemoryUsageMb => Some(s.memory_usage_mb()),
                AlertMetric::HealthyUpstreams => Some(s.healthy_upstreams as f64),
            },
        }
    }

    /// Whether `v` is worse than `than` in this rule's direction (for the peak value).
    pub fn worse(&self, v: f64, than: f64) -> bool {
        match self.op {
            AlertOp::Gt | AlertOp::Ge => v > than,
            AlertOp::Lt | AlertOp::Le => v < than,
        }
    }
}

/// A configured rule as `GET /api/alerts/rules` shows it (dashboards colour figures by it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleInfo {
    /// Rule name.
    pub name: String,
    /// Watched metric (spec §7 name).
    pub metric: String,
    /// Comparison symbol.
    pub op: String,
    /// Threshold.
    pub threshold: f64,
    /// The rule's `for`, seconds.
    pub for_seconds: f64,
    /// Severity.
    pub severity: AlertLevel,
    /// Requests the window must hold before the rule evaluates.
    pub min_samples: u64,
}

impl Rule {
    /// The published form of a configured rule (`None` for per-upstream rules).
    pub fn info(&self) -> Option<RuleInfo> {
        let Watched::Metric(m) = self.watched else {
            return None;
        };
        Some(RuleInfo {
            name: self.name.clone(),
            metric: metric_name(m).to_owned(),
            op: op_symbol(self.op).to_owned(),
            threshold: self.threshold,
            for_seconds: self.for_.as_secs_f64(),
            severity: self.severity,
            min_samples: self.min_samples,
        })
    }
}

/// Where a rule stands.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Phase {
    /// Condition not holding.
    #[default]
    Idle,
    /// Holding since `since`, not yet for long enough (or still cooling down).
    Pending {
        /// When the condition started holding.
        since: Instant,
    },
    /// Fired at `since`; `peak` is the worst value seen since.
    Firing {
        /// When it fired.
        since: Instant,
        /// Worst value while firing.
        peak: f64,
    },
}

/// A change worth telling people about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    /// The rule started firing with this value.
    Fired {
        /// The watched figure.
        value: f64,
    },
    /// The rule stopped firing after `after`; `peak` was its worst value.
    Resolved {
        /// How long it fired.
        after: Duration,
        /// Worst value while firing.
        peak: f64,
    },
}

/// One rule's state across evaluations.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RuleState {
    /// Current phase.
    pub phase: Phase,
    /// When it last resolved (for the cooldown).
    pub last_resolved: Option<Instant>,
}

impl RuleState {
    /// Advances the state with the figure observed at `now`; returns the transition, if any.
    pub fn step(
        &mut self,
        rule: &Rule,
        value: Option<f64>,
        now: Instant,
        cooldown: Duration,
    ) -> Option<Transition> {
        let holding = value.filter(|&v| holds(rule.op, v, rule.threshold));
        match (self.phase, holding) {
            (Phase::Firing { since, peak }, None) => {
                self.phase = Phase::Idle;
                self.last_resolved = Some(now);
                Some(Transition::Resolved {
                    after: now.saturating_duration_since(since),
                    peak,
                })
            }
            (Phase::Firing { since, peak }, Some(v)) => {
                let peak = if rule.worse(v, peak) { v } else { peak };
                self.phase = Phase::Firing { since, peak };
                None
            }
            (_, None) => {
                self.phase = Phase::Idle;
                None
            }
            (phase, Some(v)) => {
                let since = match phase {
                    Phase::Pending { since } => since,
                    _ => now,
                };
                // Evaluations ride the once-a-second sampler, whose ticks jitter by a few ms;
                // without slack a `for = 2s` rule fired after 2 s or 3 s at random.
                let held = now.saturating_duration_since(since) + TICK_SLACK >= rule.for_;
                let cooled = self
                    .last_resolved
                    .is_none_or(|t| now.saturating_duration_since(t) >= cooldown);
                if held && cooled {
                    self.phase = Phase::Firing {
                        since: now,
                        peak: v,
                    };
                    Some(Transition::Fired { value: v })
                } else {
                    self.phase = Phase::Pending { since };
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;

    fn latency_rule(for_secs: u64) -> Rule {
        Rule::from(&crate::alerts::engine::tests::latency_rule(for_secs))
    }

    /// Steps once a second through `values`, returning (second, transition) pairs.
    fn run(rule: &Rule, values: &[Option<f64>], cooldown: u64) -> Vec<(usize, Transition)> {
        let t0 = Instant::now();
        let mut st = RuleState::default();
        values
            .iter()
            .enumerate()
            .filter_map(|(i, &v)| {
                let now = t0 + Duration::from_secs(i as u64);
                st.step(rule, v, now, Duration::from_secs(cooldown))
                    .map(|t| (i, t))
            })
            .collect()
    }

    #[test]
    fn fires_only_after_holding_for_its_duration() {
        let mut v = vec![Some(250.0); 15];
        v[3] = Some(100.0); // a dip restarts the pending period
        let out = run(&latency_rule(10), &v, 60);
        assert_eq!(out, vec![(14, Transition::Fired { value: 250.0 })]);
    }

    #[test]
    fn fires_once_resolves_once_with_peak() {
        let v: Vec<_> = [250.0, 260.0, 300.0, 280.0, 100.0, 100.0]
            .iter()
            .map(|&x| Some(x))
            .collect();
        let out = run(&latency_rule(0), &v, 60);
        assert_eq!(
            out,
            vec![
                (0, Transition::Fired { value: 250.0 }),
                (
                    4,
                    Transition::Resolved {
                        after: Duration::from_secs(4),
                        peak: 300.0
                    }
                ),
            ]
        );
    }

    #[test]
    fn no_refire_inside_cooldown() {
        // fire at 0, resolve at 1, condition back from 2: cooldown 10 s → fires again at 11.
        let mut v = vec![Some(300.0); 20];
        v[1] = Some(0.0);
        let out = run(&latency_rule(0), &v, 10);
        let fired: Vec<usize> = out
            .iter()
            .filter(|(_, t)| matches!(t, Transition::Fired { .. }))
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(fired, vec![0, 11]);
    }

    #[test]
    fn missing_data_neither_fires_nor_keeps_firing() {
        let v = vec![Some(300.0), None, None];
        let out = run(&latency_rule(0), &v, 0);
        assert!(matches!(out[1], (1, Transition::Resolved { .. })));
    }

    #[test]
    fn values_respect_min_samples() {
        let mut s = MetricsSnapshot::default();
        let mut rule = Rule::from(&AlertRule {
            name: "low_hit_ratio".into(),
            metric: AlertMetric::CacheHitRatioPercent,
            op: AlertOp::Lt,
            threshold: 50.0,
            for_: Duration::from_secs(30),
            severity: Severity::Warning,
            min_samples: 20,
        });
        s.window.cache.miss = 19;
        assert_eq!(rule.value(&s), None);
        s.window.cache.hit = 1;
        s.window.cache_hit_ratio_percent = 5.0;
        assert_eq!(rule.value(&s), Some(5.0));
        rule.min_samples = 0;
        s.window.cache = Default::default();
        assert_eq!(rule.value(&s), None, "no lookups: no ratio");
        let down = Rule::upstream_down(0, "127.0.0.1:9001");
        assert_eq!(down.value(&s), None);
        s.upstreams.push(Default::default());
        assert_eq!(down.value(&s), Some(0.0));
    }
}
