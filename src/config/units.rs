//! Units in config values: durations (`"250ms"`, `"5s"`, `"1m30s"`) and sizes (`"64MiB"`, `65536`).
//!
//! Written by hand rather than with `humantime` so the accepted grammar is exactly the one the
//! shipped config documents, and every rejection says what was expected.

use std::time::Duration;

/// What a duration must look like, quoted in errors.
pub const DURATION_HELP: &str =
    "expected a duration such as \"250ms\", \"5s\", \"1m\" or \"1m30s\" (units: ms, s, m, h)";

/// What a size must look like, quoted in errors.
pub const SIZE_HELP: &str =
    "expected a size such as 65536, \"64KiB\", \"1MiB\" or \"2GiB\" (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)";

/// Parses a duration: one or more `<integer><unit>` parts, units `ms`, `s`, `m`, `h`.
///
/// A bare number is rejected on purpose: "10" could mean seconds or milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {DURATION_HELP}"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at {rest:?}; {DURATION_HELP}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("number too large; {DURATION_HELP}"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            "" => return Err(format!("missing unit after {number}; {DURATION_HELP}")),
            other => return Err(format!("unknown unit {other:?}; {DURATION_HELP}")),
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("duration too large; {DURATION_HELP}"))?;
    }
    Ok(total)
}

/// Parses a size in bytes: an integer with an optional unit (binary `KiB`.. or decimal `KB`..).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("expected a number; {SIZE_HELP}"));
    }
    let number: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("number too large; {SIZE_HELP}"))?;
    let unit = s[digits..].trim_start();
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("unknown unit {unit:?}; {SIZE_HELP}")),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size too large; {SIZE_HELP}"))
}

/// Checks a size given as a TOML integer (negative values are the only way to be wrong).
pub fn size_from_int(value: i64) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("must not be negative; {SIZE_HELP}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_each_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn compound_durations_add_up() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_durations_say_why() {
        let missing = parse_duration("10").unwrap_err();
        assert!(missing.contains("missing unit"), "{missing}");
        let unknown = parse_duration("5x").unwrap_err();
        assert!(unknown.contains("unknown unit \"x\""), "{unknown}");
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("s")
            .unwrap_err()
            .contains("expected a number"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("5 s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration("18446744073709551615h").is_err());
    }

    #[test]
    fn sizes_in_each_unit() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert_eq!(parse_size("1kb"), Ok(1000));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert!(parse_size("64XB")
            .unwrap_err()
            .contains("unknown unit \"XB\""));
        assert!(parse_size("MiB").unwrap_err().contains("expected a number"));
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("20000000TiB").unwrap_err().contains("too large"));
        assert_eq!(size_from_int(4096), Ok(4096));
        assert!(size_from_int(-1).unwrap_err().contains("negative"));
    }
}
