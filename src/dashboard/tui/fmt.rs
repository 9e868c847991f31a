//! How `top` prints figures in narrow cells: latencies, percentages, byte rates, wall-clock
//! times (UTC, so a fleet across time zones reads one clock) and ages.

use std::time::Duration;

use super::model::figure;

/// A latency: `12 ms`, `0.3 ms`, `1.2 s`.
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{} ms", figure(v))
    }
}

/// A percentage: `75%`, `0.2%`.
pub fn pct(v: f64) -> String {
    format!("{}%", figure(v))
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `92.8 MiB`.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `HH:MM:SSZ` of a Unix time in ms (`--:--:--` for 0).
pub fn clock(unix_ms: u64) -> String {
    if unix_ms == 0 {
        return "--:--:--".to_owned();
    }
    let s = unix_ms / 1000;
    format!("{:02}:{:02}:{:02}Z", s / 3600 % 24, s / 60 % 60, s % 60)
}

/// The wall clock, ms since the Unix epoch.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A short age: `0s`, `42s`, `5m`, `3h`, `2d`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The age of a Unix time in ms relative to `now_ms` (`never` for 0).
pub fn age_ms(unix_ms: u64, now_ms: u64) -> String {
    if unix_ms == 0 {
        return "never".to_owned();
    }
    age(Duration::from_millis(now_ms.saturating_sub(unix_ms)))
}

/// A compact duration in seconds: `0s`, `12s`, `4m 10s`, `2h 5m`.
pub fn span(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else {
        format!("{}h {}m", s / 3600, s % 3600 / 60)
    }
}

/// Cuts `s` to `width` characters, marking the cut with `…`.
pub fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(ms(12.34), "12 ms");
        assert_eq!(ms(0.25), "0.2 ms");
        assert_eq!(ms(1530.0), "1.5 s");
        assert_eq!(pct(75.0), "75%");
        assert_eq!(bytes(97_300_000.0), "92.8 MiB");
        assert_eq!(bytes(12.0), "12 B");
        assert_eq!(clock(3_723_000), "01:02:03Z");
        assert_eq!(clock(0), "--:--:--");
        assert_eq!(age(Duration::from_secs(12)), "12s");
        assert_eq!(age(Duration::from_secs(600)), "10m");
        assert_eq!(age_ms(1_000, 13_000), "12s");
        assert_eq!(span(250.0), "4m 10s");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
