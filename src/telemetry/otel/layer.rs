//! The `tracing` side: a bridge layer that sends the project's own `tracing` spans to OTLP, and
//! the filter that keeps the OpenTelemetry SDK's internal log lines out of the console.
//!
//! Both are per-layer filters on purpose: the trial found that a global `EnvFilter` at `warn`
//! silently removed every info-level span from the OTel pipeline.

use opentelemetry_sdk::trace::SdkTracer;
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

/// What the bridge exports: this crate's spans and events at `info` and above, whatever
/// `RUST_LOG` says about the console.
pub fn bridge_filter() -> Targets {
    Targets::new().with_target("sightline", tracing::Level::INFO)
}

/// The `tracing-opentelemetry` layer for `tracer`, filtered by [`bridge_filter`].
pub fn bridge_layer<S>(tracer: SdkTracer) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(bridge_filter())
        .boxed()
}

/// The target prefix of the OpenTelemetry crates' internal logs (`opentelemetry`,
/// `opentelemetry_sdk`, `opentelemetry-otlp`).
pub const SDK_LOG_TARGET: &str = "opentelemetry";

/// Adds `opentelemetry=off` to a console filter unless the user asked for those logs in
/// `RUST_LOG`: export failures are reported by sightline's own rate-limited warning instead of
/// one SDK line per failed batch.
pub fn quiet_sdk_logs(filter: EnvFilter, rust_log: Option<&str>) -> EnvFilter {
    if rust_log.is_some_and(|v| v.contains(SDK_LOG_TARGET)) {
        return filter;
    }
    filter.add_directive(
        "opentelemetry=off"
            .parse()
            .expect("a literal directive parses"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::Filter;

    #[test]
    fn bridge_takes_only_our_info_spans() {
        let f = bridge_filter();
        let meta = |target: &str, level| f.would_enable(target, &level);
        assert!(meta("sightline::proxy", tracing::Level::INFO));
        assert!(!meta("sightline::proxy", tracing::Level::DEBUG));
        assert!(!meta("opentelemetry_sdk", tracing::Level::ERROR));
        assert!(!meta("pingora_core", tracing::Level::WARN));
        let _ = <Targets as Filter<tracing_subscriber::Registry>>::max_level_hint(&f);
    }

    #[test]
    fn sdk_logs_are_silenced_unless_asked_for() {
        let f = quiet_sdk_logs(EnvFilter::new("info"), Some("info"));
        assert!(f.to_string().contains("opentelemetry=off"));
        let f = quiet_sdk_logs(
            EnvFilter::new("opentelemetry_sdk=debug"),
            Some("opentelemetry_sdk=debug"),
        );
        assert!(!f.to_string().contains("opentelemetry=off"));
    }
}
