//! `[telemetry] embedded_ui_*`: the built-in trace view's bounds.

use std::num::NonZeroU32;

use super::Checker;
use crate::config::raw::Scalar;

/// The store must hold at least one ordinary trace (a few kilobytes); less is surely a typo.
const MIN_BYTES: u64 = 64 << 10;

impl Checker<'_> {
    /// `telemetry.embedded_ui_max_traces`: a positive count.
    pub(super) fn embedded_max_traces(
        &mut self,
        raw: Option<i64>,
        default: NonZeroU32,
    ) -> NonZeroU32 {
        self.nonzero_u32("telemetry.embedded_ui_max_traces", raw, default)
    }

    /// `telemetry.embedded_ui_max_bytes`: a size of at least 64 KiB.
    pub(super) fn embedded_max_bytes(&mut self, raw: Option<Scalar>, default: u64) -> u64 {
        const FIELD: &str = "telemetry.embedded_ui_max_bytes";
        let shown = raw.as_ref().map(|v| format!("{v}"));
        let before = self.0.len();
        let bytes = self.size(FIELD, raw, default);
        if self.0.len() == before && bytes < MIN_BYTES {
            let shown = shown.unwrap_or_else(|| bytes.to_string());
            self.err(FIELD, shown, "must be at least 64KiB");
            return default;
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use crate::config;

    fn errors(toml: &str) -> Vec<String> {
        match config::parse(toml, &|_| None) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn embedded_ui_fields_parse_with_defaults() {
        let c = config::parse("", &|_| None).unwrap();
        assert!(!c.telemetry.embedded_ui);
        assert_eq!(c.telemetry.embedded_ui_max_traces.get(), 1000);
        assert_eq!(c.telemetry.embedded_ui_max_bytes, 32 << 20);
        let t = "[telemetry]\nembedded_ui = true\nembedded_ui_max_traces = 50\nembedded_ui_max_bytes = \"1MiB\"\n";
        let c = config::parse(t, &|_| None).unwrap();
        assert!(c.telemetry.embedded_ui);
        assert_eq!(c.telemetry.embedded_ui_max_traces.get(), 50);
        assert_eq!(c.telemetry.embedded_ui_max_bytes, 1 << 20);
    }

    #[test]
    fn bad_bounds_name_the_field() {
        let e = errors("[telemetry]\nembedded_ui_max_traces = 0\n");
        assert!(
            e.iter()
                .any(|e| e.contains("telemetry.embedded_ui_max_traces")),
            "{e:?}"
        );
        let e = errors("[telemetry]\nembedded_ui_max_bytes = \"1KiB\"\n");
        assert!(
            e.iter()
                .any(|e| e.contains("telemetry.embedded_ui_max_bytes")),
            "{e:?}"
        );
        let e = errors("[telemetry]\nembedded_ui_max_bytes = \"lots\"\n");
        assert!(
            e.iter()
                .any(|e| e.contains("telemetry.embedded_ui_max_bytes")),
            "{e:?}"
        );
    }
}
