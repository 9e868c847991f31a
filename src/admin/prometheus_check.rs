//! A minimal Prometheus text-format checker for tests: structure, names, values, histograms.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

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

/// An exemplar as written: the bucket's bound, its labels, value and timestamp.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeenExemplar {
    /// The `le` of the bucket it is on.
    pub le: String,
    /// `trace_id`, `span_id`.
    pub labels: BTreeMap<String, String>,
    /// The observed value.
    pub value: f64,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

/// The samples a family of `kind` may write, by name.
fn om_sample_names(family: &str, kind: &str) -> Result<Vec<String>, String> {
    let suffixes: &[&str] = match kind {
        "counter" => &["_total"],
        "gauge" => &[""],
        "info" => &["_info"],
        "histogram" => &["_bucket", "_sum", "_count"],
        k => return Err(format!("unexpected OpenMetrics type {k}")),
    };
    Ok(suffixes.iter().map(|s| format!("{family}{s}")).collect())
}

/// Parses and validates an OpenMetrics exposition: `# EOF` last, no blank lines, one family
/// per name, counters named without `_total` (samples with it), `# UNIT` the name's suffix,
/// exemplars only on buckets and counters with at most 128 characters of labels; then every
/// check of [`parse`] on the same samples. Expects `# HELP` before `# TYPE`, as `/metrics`
/// writes them.
pub(crate) fn parse_openmetrics(text: &str) -> Result<(Vec<Sample>, Vec<SeenExemplar>), String> {
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("no `# EOF` at the end")?;
    let mut families = std::collections::HashSet::new();
    let mut current: Option<(String, String, Vec<String>)> = None;
    let mut help: Option<(String, String)> = None;
    let mut plain = String::new();
    let mut exemplars = Vec::new();
    for line in body.lines() {
        if line.is_empty() || line == "# EOF" {
            return Err(format!("unexpected line {line:?}"));
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (fam, h) = rest.split_once(' ').ok_or("bad HELP")?;
            help = Some((fam.to_owned(), h.to_owned()));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (fam, kind) = rest.split_once(' ').ok_or("bad TYPE")?;
            if kind == "counter" && fam.ends_with("_total") {
                return Err(format!("counter family {fam} named with _total"));
            }
            if !families.insert(fam.to_owned()) {
                return Err(format!("second family {fam}"));
            }
            let (h_fam, h) = help.take().ok_or(format!("no HELP before TYPE {fam}"))?;
            if h_fam != fam {
                return Err(format!("HELP for {h_fam} before TYPE {fam}"));
            }
            let names = om_sample_names(fam, kind)?;
            // The Prometheus spelling of the family, for `parse`.
            let (name, kind_0_0_4) = match kind {
                "counter" => (names[0].as_str(), "counter"),
                "info" => (names[0].as_str(), "gauge"),
                k => (fam, k),
            };
            let _ = writeln!(plain, "# HELP {name} {h}\n# TYPE {name} {kind_0_0_4}");
            current = Some((fam.to_owned(), kind.to_owned(), names));
        } else if let Some(rest) = line.strip_prefix("# UNIT ") {
            let (fam, unit) = rest.split_once(' ').ok_or("bad UNIT")?;
            let in_family = current.as_ref().is_some_and(|c| c.0 == fam);
            if !in_family || !fam.ends_with(&format!("_{unit}")) {
                return Err(format!("UNIT {unit} does not fit {fam}"));
            }
        } else if line.starts_with('#') {
            return Err(format!("unexpected comment {line:?}"));
        } else {
            let (fam, kind, names) = current.as_ref().ok_or(format!("no TYPE for {line}"))?;
            let (sample, exemplar) = match line.split_once(" # ") {
                Some((s, e)) => (s, Some(e)),
                None => (line, None),
            };
            let name = sample.split(['{', ' ']).next().unwrap_or_default();
            if !names.iter().any(|n| n == name) {
                return Err(format!("{name} is no sample of {kind} {fam}"));
            }
            if let Some(e) = exemplar {
                let on_bucket = kind == "histogram" && name.ends_with("_bucket");
                if !(on_bucket || kind == "counter") {
                    return Err(format!("exemplar on {name}"));
                }
                let (l, rest) = e
                    .strip_prefix('{')
                    .and_then(|e| e.split_once("} "))
                    .ok_or(format!("bad exemplar {e}"))?;
                let ex_labels = labels(l)?;
                let length: usize = ex_labels.iter().map(|(k, v)| k.len() + v.len()).sum();
                if length > 128 {
                    return Err(format!("exemplar labels of {length} characters"));
                }
                let (value, ts) = rest.split_once(' ').ok_or("exemplar without timestamp")?;
                let number = |v: &str| v.parse::<f64>().map_err(|_| format!("bad number {v}"));
                let sample_labels = match sample.split_once('{') {
                    Some((_, rest)) => labels(rest.rsplit_once('}').map_or(rest, |(l, _)| l))?,
                    None => BTreeMap::new(),
                };
                exemplars.push(SeenExemplar {
                    le: sample_labels.get("le").cloned().unwrap_or_default(),
                    labels: ex_labels,
                    value: number(value)?,
                    timestamp: number(ts)?,
                });
            }
            let _ = writeln!(plain, "{sample}");
        }
    }
    Ok((parse(&plain)?, exemplars))
}
