//! A minimal Prometheus text-format checker for tests: structure, names, values, histograms.

use std::collections::{BTreeMap, HashMap};

/// One parsed sample: name, labels, value.
pub(crate) type Sample = (String, BTreeMap<String, String>, f64);

fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|sfx| {
        let base = name.strip_suffix(sfx)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

fn labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (k, r) = rest.split_once("=\"").ok_or(format!("bad label in {s}"))?;
        let mut v = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            match chars.next().ok_or(format!("unterminated label in {s}"))? {
                (i, '"') => break i,
                (_, '\\') => match chars.next() {
                    Some((_, 'n')) => v.push('\n'),
                    Some((_, c)) => v.push(c),
                    None => return Err("dangling escape".into()),
                },
                (_, c) => v.push(c),
            }
        };
        if out.insert(k.to_owned(), v).is_some() {
            return Err(format!("duplicate label {k}"));
        }
        rest = r[end + 1..].strip_prefix(',').unwrap_or(&r[end + 1..]);
    }
    Ok(out)
}

/// Parses and validates: every sample's family has HELP and TYPE before it, families are
/// contiguous, values are numbers, histogram buckets are cumulative and end at `+Inf` =
/// `_count`.
pub(crate) fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut closed = std::collections::HashSet::new();
    let mut current = String::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            if !helped.insert(name.to_owned()) {
                return Err(format!("second HELP for {name}"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or("bad TYPE")?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("bad type {kind}"));
            }
            if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                return Err(format!("second TYPE for {name}"));
            }
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let (head, value) = line.rsplit_once(' ').ok_or(format!("no value: {line}"))?;
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().map_err(|_| format!("bad value: {line}"))?,
            };
            let (name, labels) = match head.split_once('{') {
                Some((n, l)) => (n, labels(l.strip_suffix('}').ok_or("no }")?)?),
                None => (head, BTreeMap::new()),
            };
            let ok_name = name.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            });
            if !ok_name {
                return Err(format!("bad name {name}"));
            }
            let fam = family_of(name, &types).ok_or(format!("no TYPE for {name}"))?;
            if !helped.contains(fam) {
                return Err(format!("no HELP for {fam}"));
            }
            if fam != current {
                if !closed.insert(current.clone()) || closed.contains(fam) {
                    return Err(format!("family {fam} not contiguous"));
                }
                current = fam.to_owned();
            }
            samples.push((name.to_owned(), labels, value));
        }
    }
    for (fam, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.0 == format!("{fam}_bucket"))
            .collect();
        if !buckets.windows(2).all(|w| w[0].2 <= w[1].2) {
            return Err(format!("{fam} buckets not cumulative"));
        }
        let last = buckets.last().ok_or(format!("{fam} has no buckets"))?;
        let count = samples.iter().find(|s| s.0 == format!("{fam}_count"));
        if last.1.get("le").map(String::as_str) != Some("+Inf")
            || count.map(|c| c.2) != Some(last.2)
        {
            return Err(format!("{fam}: +Inf bucket must equal _count"));
        }
    }
    Ok(samples)
}

/// The value of the sample with this name and these labels.
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.0 == name
                && labels
                    .iter()
                    .all(|(k, v)| s.1.get(*k).map(String::as_str) == Some(v))
        })
        .map(|s| s.2)
}
