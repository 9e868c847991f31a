//! Judging figures against the instance's own alert rules (green / yellow / red) and reading a
//! series' trend (↑ → ↓).
//!
//! A figure is **red** when a warning or critical rule on it holds now, **yellow** when an info
//! rule holds or the figure is within 20 % of a threshold (on the rule's side of it), **green**
//! otherwise; figures no rule watches, or that a rule does not judge yet (its `min_samples`, or no
//! requests in the window), stay uncoloured.

use super::model::{AlertLevel, RuleView, SummaryView};

/// How close to a threshold counts as "near" (a share of the threshold).
const NEAR_SHARE: f64 = 0.2;

/// The verdict on one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No rule judges it.
    Unjudged,
    /// Clear of every threshold.
    Ok,
    /// Near a threshold, or an info rule holds.
    Near,
    /// A warning or critical rule holds.
    Breach,
}

fn holds(op: &str, v: f64, t: f64) -> Option<bool> {
    Some(match op {
        ">" => v > t,
        ">=" => v >= t,
        "<" => v < t,
        "<=" => v <= t,
        _ => return None,
    })
}

fn near(op: &str, v: f64, t: f64) -> bool {
    let band = t.abs() * NEAR_SHARE;
    band > 0.0
        && match op {
            ">" | ">=" => v >= t - band,
            "<" | "<=" => v <= t + band,
            _ => false,
        }
}

/// Whether a rule has enough in the window to judge (as the alert engine decides).
fn judges(rule: &RuleView, s: &SummaryView) -> bool {
    let w = &s.window;
    let (n, at_least_one) = match rule.metric.as_str() {
        "requests_per_second" => (w.requests, false),
        "cache_hit_ratio_percent" => (w.cache.cacheable(), true),
        "memory_usage_mb" | "healthy_upstreams" => return true,
        _ => (w.requests, true),
    };
    n >= rule.min_samples.max(u64::from(at_least_one))
}

/// The verdict on `value` of `metric` (a spec §7 name) in the light of `rules`.
pub fn judge(rules: &[RuleView], metric: &str, value: f64, s: &SummaryView) -> Level {
    rules
        .iter()
        .filter(|r| r.metric == metric && judges(r, s))
        .filter_map(|r| {
            let breach = holds(&r.op, value, r.threshold)?;
            Some(if breach && r.severity > AlertLevel::Info {
                Level::Breach
            } else if breach || near(&r.op, value, r.threshold) {
                Level::Near
            } else {
                Level::Ok
            })
        })
        .max()
        .unwrap_or(Level::Unjudged)
}

/// Where a series is heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Up by more than 10 %.
    Up,
    /// Within 10 %.
    Flat,
    /// Down by more than 10 %.
    Down,
}

impl Trend {
    /// The arrow.
    pub fn arrow(self) -> &'static str {
        match self {
            Trend::Up => "↑",
            Trend::Flat => "→",
            Trend::Down => "↓",
        }
    }
}

/// The newest tenth of a series (at least 3 points) against the rest.
pub fn trend(series: &[f64]) -> Trend {
    if series.len() < 4 {
        return Trend::Flat;
    }
    let recent = (series.len() / 10).max(3).min(series.len() - 1);
    let (before, after) = series.split_at(series.len() - recent);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (b, a) = (mean(before), mean(after));
    // A change smaller than this is noise whatever the ratio (0 → 0.001 is not "up").
    let floor = 1e-3_f64.max(b.abs() * 0.1);
    if a - b > floor {
        Trend::Up
    } else if b - a > floor {
        Trend::Down
    } else {
        Trend::Flat
    }
}

/// Columns a series covering `covered` seconds takes of `width` columns showing `window`
/// seconds: a young history fills the right-hand part only, so the time axis stays true.
pub fn columns(width: usize, covered: f64, window: f64) -> usize {
    if window <= 0.0 || covered >= window {
        return width;
    }
    ((width as f64 * covered / window).ceil() as usize).clamp(1, width)
}

/// A series squeezed (mean of equal buckets) or stretched to exactly `width` points, newest
/// last, scaled to integers for the sparkline widget.
pub fn fit(series: &[f64], width: usize) -> Vec<u64> {
    if width == 0 || series.is_empty() {
        return Vec::new();
    }
    let scaled = |v: f64| (v.max(0.0) * 1000.0).round() as u64;
    if series.len() <= width {
        // Fewer points than columns (minute samples): each point spans its share of columns.
        return (0..width)
            .map(|i| scaled(series[i * series.len() / width]))
            .collect();
    }
    (0..width)
        .map(|i| {
            let (a, b) = (i * series.len() / width, (i + 1) * series.len() / width);
            let part = &series[a..b.max(a + 1)];
            scaled(part.iter().sum::<f64>() / part.len() as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(metric: &str, op: &str, threshold: f64, severity: AlertLevel) -> RuleView {
        RuleView {
            name: metric.into(),
            metric: metric.into(),
            op: op.into(),
            threshold,
            severity,
            min_samples: 0,
        }
    }

    fn busy() -> SummaryView {
        let mut s = SummaryView::default();
        s.window.requests = 100;
        s.window.cache.hit = 100;
        s
    }

    #[test]
    fn levels_follow_the_thresholds() {
        let rules = [
            rule("avg_response_time_ms", ">", 200.0, AlertLevel::Warning),
            rule("cache_hit_ratio_percent", "<", 50.0, AlertLevel::Warning),
            rule("requests_per_second", ">", 1000.0, AlertLevel::Info),
        ];
        let s = busy();
        let j = |m, v| judge(&rules, m, v, &s);
        assert_eq!(j("avg_response_time_ms", 100.0), Level::Ok);
        assert_eq!(j("avg_response_time_ms", 170.0), Level::Near);
        assert_eq!(j("avg_response_time_ms", 250.0), Level::Breach);
        assert_eq!(j("cache_hit_ratio_percent", 80.0), Level::Ok);
        assert_eq!(j("cache_hit_ratio_percent", 55.0), Level::Near);
        assert_eq!(j("cache_hit_ratio_percent", 30.0), Level::Breach);
        assert_eq!(j("requests_per_second", 2000.0), Level::Near, "info rule");
        assert_eq!(j("p99_response_time_ms", 9e9), Level::Unjudged);
    }

    #[test]
    fn idle_windows_are_not_judged() {
        let rules = [rule(
            "cache_hit_ratio_percent",
            "<",
            50.0,
            AlertLevel::Warning,
        )];
        let idle = SummaryView::default();
        assert_eq!(
            judge(&rules, "cache_hit_ratio_percent", 0.0, &idle),
            Level::Unjudged
        );
    }

    #[test]
    fn trend_and_fit() {
        let up: Vec<f64> = (0..20).map(f64::from).collect();
        assert_eq!(trend(&up), Trend::Up);
        let down: Vec<f64> = up.iter().rev().copied().collect();
        assert_eq!(trend(&down), Trend::Down);
        assert_eq!(trend(&[5.0; 20]), Trend::Flat);
        assert_eq!(trend(&[0.0; 20]), Trend::Flat);
        assert_eq!(fit(&[1.0, 2.0, 3.0, 4.0], 2), vec![1500, 3500]);
        assert_eq!(fit(&[1.0, 2.0], 5), vec![1000, 1000, 1000, 2000, 2000]);
        assert!(fit(&[1.0], 0).is_empty());
        assert_eq!(columns(100, 30.0, 300.0), 10);
        assert_eq!(columns(100, 600.0, 300.0), 100);
        assert_eq!(columns(100, 0.5, 300.0), 1);
    }
}
