//! `[upstreams.outlier]`: passive health settings, each field checked and named on error.

use super::Checker;
use crate::config::model::OutlierConfig;
use crate::config::raw::RawOutlier;

impl Checker<'_> {
    /// Validates `[upstreams.outlier]`; `max_ejection` must not be shorter than `base_ejection`.
    pub(super) fn outlier(&mut self, r: RawOutlier, d: OutlierConfig) -> OutlierConfig {
        let base_ejection = self.positive(
            "upstreams.outlier.base_ejection",
            r.base_ejection,
            d.base_ejection,
        );
        let shown_max = r.max_ejection.clone();
        let mut max_ejection = self.positive(
            "upstreams.outlier.max_ejection",
            r.max_ejection,
            d.max_ejection,
        );
        if max_ejection < base_ejection {
            match shown_max {
                Some(v) => self.err(
                    "upstreams.outlier.max_ejection",
                    v,
                    "must not be shorter than upstreams.outlier.base_ejection",
                ),
                // Only base_ejection was set: the cap follows it rather than failing.
                None => max_ejection = base_ejection,
            }
        }
        OutlierConfig {
            enabled: r.enabled.unwrap_or(d.enabled),
            consecutive_failures: self.nonzero_u32(
                "upstreams.outlier.consecutive_failures",
                r.consecutive_failures,
                d.consecutive_failures,
            ),
            base_ejection,
            max_ejection,
        }
    }
}
