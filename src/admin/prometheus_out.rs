//! The two text expositions `/metrics` writes, Prometheus 0.0.4 and OpenMetrics 1.0, behind one
//! writer: the metric list is written once and the writer spells it in either format.
//!
//! What differs in OpenMetrics: a counter's family is named without `_total` (its sample keeps
//! it), an info family without `_info`; families whose name ends in a unit say so in `# UNIT`;
//! `# HELP` is escaped like a label value; histogram bounds are canonical floats (`1.0`, not `1`); buckets carry
//! exemplars; the document ends with `# EOF`. The Prometheus spelling is the one `/metrics`
//! always had, byte for byte.

use std::fmt::Write;

use crate::telemetry::exemplar::Exemplar;

/// Which exposition a scrape asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (the default).
    Prometheus,
    /// OpenMetrics 1.0, with exemplars on the latency histogram.
    OpenMetrics,
}

/// The OpenMetrics media type.
const OPENMETRICS: &str = "application/openmetrics-text";

impl Format {
    /// OpenMetrics when `accept` lists `application/openmetrics-text` with a non-zero `q`, else
    /// Prometheus (as Prometheus itself negotiates: it asks for both and takes either).
    pub fn from_accept(accept: Option<&str>) -> Format {
        let wants = accept.unwrap_or_default().split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f64>().ok());
            media.eq_ignore_ascii_case(OPENMETRICS) && q.is_some_and(|q| q > 0.0)
        });
        if wants {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of the exposition.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count; its name (the sample's) ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets, `_sum` and `_count`.
    Histogram,
    /// Always 1, labels carry the facts; its name ends in `_info` (a gauge in Prometheus text).
    Info,
}

/// Units OpenMetrics declares for families whose name ends in `_{unit}`.
const UNITS: [&str; 3] = ["seconds", "bytes", "ratio"];

/// Writes one exposition.
pub struct Out {
    text: String,
    format: Format,
}

impl Out {
    /// An empty exposition in `format`.
    pub fn new(format: Format) -> Self {
        Out {
            text: String::with_capacity(8192),
            format,
        }
    }

    /// Starts a family; `name` is the Prometheus name (a counter's ends in `_total`).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let t = &mut self.text;
        match self.format {
            Format::Prometheus => {
                let kind = match kind {
                    Kind::Counter => "counter",
                    Kind::Gauge | Kind::Info => "gauge",
                    Kind::Histogram => "histogram",
                };
                let _ = writeln!(t, "# HELP {name} {help}\n# TYPE {name} {kind}");
            }
            Format::OpenMetrics => {
                let (family, kind) = match kind {
                    Kind::Counter => (name.strip_suffix("_total").unwrap_or(name), "counter"),
                    Kind::Gauge => (name, "gauge"),
                    Kind::Histogram => (name, "histogram"),
                    Kind::Info => (name.strip_suffix("_info").unwrap_or(name), "info"),
                };
                let help = escape(help);
                let _ = writeln!(t, "# HELP {family} {help}\n# TYPE {family} {kind}");
                // Info families take no unit.
                let unit = UNITS.iter().filter(|_| kind != "info").find(|u| {
                    family
                        .strip_suffix(*u)
                        .is_some_and(|rest| rest.ends_with('_'))
                });
                if let Some(unit) = unit {
                    let _ = writeln!(t, "# UNIT {family} {unit}");
                }
            }
        }
    }

    /// One sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.sample_head(name, labels, value);
        self.text.push('\n');
    }

    /// One histogram bucket: `le` is its bound (`None`: `+Inf`); OpenMetrics adds its exemplar.
    pub fn bucket(&mut self, name: &str, le: Option<f64>, count: u64, ex: Option<&Exemplar>) {
        let le = match (le, self.format) {
            (None, _) => "+Inf".to_owned(),
            // OpenMetrics wants the canonical float: an integral bound keeps its `.0`.
            (Some(v), Format::OpenMetrics) if v.fract() == 0.0 => format!("{v:.1}"),
            (Some(v), _) => v.to_string(),
        };
        self.sample_head(name, &[("le", &le)], count);
        if let (Some(e), Format::OpenMetrics) = (ex, self.format) {
            self.exemplar(e);
        }
        self.text.push('\n');
    }

    /// A family with a single unlabelled sample.
    pub fn one(&mut self, name: &str, kind: Kind, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The finished exposition (OpenMetrics: with its `# EOF`).
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.text.push_str("# EOF\n");
        }
        self.text
    }

    fn sample_head(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let t = &mut self.text;
        t.push_str(name);
        if !labels.is_empty() {
            t.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                let _ = write!(t, "{k}=\"{}\"", escape(v));
            }
            t.push('}');
        }
        let _ = write!(t, " {value}");
    }

    /// ` # {trace_id="…",span_id="…"} value timestamp`: 63 characters of labels, well within
    /// OpenMetrics' 128.
    fn exemplar(&mut self, e: &Exemplar) {
        let t = &mut self.text;
        t.push_str(" # {trace_id=\"");
        e.trace_id.iter().for_each(|b| {
            let _ = write!(t, "{b:02x}");
        });
        t.push_str("\",span_id=\"");
        e.span_id.iter().for_each(|b| {
            let _ = write!(t, "{b:02x}");
        });
        let (secs, nanos) = (e.unix_nanos / 1_000_000_000, e.unix_nanos % 1_000_000_000);
        let _ = write!(t, "\"}} {} {secs}.{:03}", e.value_s, nanos / 1_000_000);
    }
}

/// Escapes backslash, double quote and newline (label values; OpenMetrics `# HELP`).
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str(r"\n"),
            c => out.push(c),
        }
    }
    out
}
