//! How figures read to people: one helper per fact, shared by `/health`, the text dashboard,
//! `sightline top`, alert lines and the web page (whose script follows the same rules).

/// A figure as people read it: whole numbers from 10 up, two decimals below 0.1 (cache hits
/// take tens of microseconds: "0 ms" would hide them), one decimal otherwise, no trailing `.0`.
pub fn figure(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v > 0.0 && v < 0.1 {
        format!("{v:.2}")
    } else {
        one_decimal(v)
    }
}

/// One decimal without a trailing `.0`.
pub fn one_decimal(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// `v` rounded to `decimals` places (JSON figures meant for people, like `/health`'s).
pub fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// The text dashboard's uptime: "2 days, 4 hours, 12 minutes", "4 hours, 0 minutes",
/// "12 minutes", or "42 seconds" in the first minute.
pub fn uptime_long(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    if d > 0 {
        format!(
            "{}, {}, {}",
            plural(d, "day"),
            plural(h, "hour"),
            plural(m, "minute")
        )
    } else if h > 0 {
        format!("{}, {}", plural(h, "hour"), plural(m, "minute"))
    } else if m > 0 {
        plural(m, "minute")
    } else {
        plural(s, "second")
    }
}

/// `/health`'s uptime: the two largest units from the first non-zero one ("2 days 4 hours",
/// "5 minutes 3 seconds", "42 seconds").
pub fn uptime_short(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let parts = [
        (s / 86_400, "day"),
        (s % 86_400 / 3_600, "hour"),
        (s % 3_600 / 60, "minute"),
        (s % 60, "second"),
    ];
    let first = parts.iter().position(|p| p.0 > 0).unwrap_or(3);
    parts[first..]
        .iter()
        .take(2)
        .map(|&(n, unit)| plural(n, unit))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_like_people_write_them() {
        assert_eq!(figure(120.2), "120");
        assert_eq!(figure(10.0), "10");
        assert_eq!(figure(9.96), "10");
        assert_eq!(figure(2.5), "2.5");
        assert_eq!(figure(0.42), "0.4");
        assert_eq!(figure(0.042), "0.04");
        assert_eq!(figure(0.0), "0");
        assert_eq!(one_decimal(250.3), "250.3");
        assert_eq!(one_decimal(200.0), "200");
        assert_eq!(round(0.99924, 3), 0.999);
        assert_eq!(mib(50 << 20), 50.0);
    }

    #[test]
    fn uptime_wording() {
        assert_eq!(uptime_long(0.0), "0 seconds");
        assert_eq!(uptime_long(59.9), "59 seconds");
        assert_eq!(uptime_long(61.0), "1 minute");
        assert_eq!(uptime_long(3_600.0), "1 hour, 0 minutes");
        assert_eq!(uptime_long(86_400.0 + 60.0), "1 day, 0 hours, 1 minute");
        assert_eq!(uptime_short(187_200.0), "2 days 4 hours");
        assert_eq!(uptime_short(86_400.0 + 59.0), "1 day 0 hours");
        assert_eq!(uptime_short(303.0), "5 minutes 3 seconds");
        assert_eq!(uptime_short(1.0), "1 second");
        assert_eq!(uptime_short(0.0), "0 seconds");
        assert_eq!(uptime_short(-5.0), "0 seconds");
    }
}
