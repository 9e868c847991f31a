//! The standard `OTEL_*` environment variables, which win over the file's `[telemetry]`.
//!
//! Follows the OpenTelemetry SDK environment-variable spec where it applies: an empty variable
//! counts as unset, `OTEL_SERVICE_NAME` beats `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, and
//! `OTEL_TRACES_SAMPLER_ARG` only means something for the ratio samplers. Unlike the SDKs, a
//! value we cannot use is an error naming the variable rather than a silent fallback.

use super::model::{OtlpProtocol, TelemetryConfig};
use super::validate::{check_url, parse_protocol};
use super::ConfigError;

/// Applies every `OTEL_*` override read through `env` to `t`, recording bad values in `errs`.
pub fn apply(
    t: &mut TelemetryConfig,
    env: &dyn Fn(&str) -> Option<String>,
    errs: &mut Vec<ConfigError>,
) {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let mut fail = |var: &str, value: &str, reason: String| {
        errs.push(ConfigError {
            field: var.to_string(),
            value: format!("{value:?}"),
            reason,
        });
    };

    if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
        match check_url(v.trim()) {
            Ok(()) => t.otlp_endpoint = v.trim().to_string(),
            Err(why) => fail("OTEL_EXPORTER_OTLP_ENDPOINT", &v, why),
        }
    }
    if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
        match parse_protocol(v.trim()) {
            Ok(p) => t.protocol = p,
            Err(why) => fail("OTEL_EXPORTER_OTLP_PROTOCOL", &v, why),
        }
    }
    if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
        match parse_resource_attributes(&v) {
            Ok(attrs) => {
                for (k, val) in attrs {
                    if k == "service.name" {
                        t.service_name = val;
                    } else if let Some(slot) =
                        t.resource_attributes.iter_mut().find(|(x, _)| *x == k)
                    {
                        slot.1 = val;
                    } else {
                        t.resource_attributes.push((k, val));
                    }
                }
            }
            Err(why) => fail("OTEL_RESOURCE_ATTRIBUTES", &v, why),
        }
    }
    if let Some(v) = get("OTEL_SERVICE_NAME") {
        t.service_name = v.trim().to_string();
    }
    if let Some(v) = get("OTEL_TRACES_SAMPLER") {
        let arg = get("OTEL_TRACES_SAMPLER_ARG");
        match sampler_ratio(v.trim(), arg.as_deref()) {
            Ok(ratio) => t.sample_ratio = ratio,
            Err((var, value, why)) => fail(var, value.unwrap_or(&v), why),
        }
    }
    if let Some(v) = get("OTEL_SDK_DISABLED") {
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => {
                t.traces = false;
                t.metrics = false;
            }
            "false" => {}
            _ => fail(
                "OTEL_SDK_DISABLED",
                &v,
                "expected \"true\" or \"false\"".into(),
            ),
        }
    }
    // OTLP/HTTP listens on 4318 by convention; the built-in default names the gRPC port.
    if t.protocol == OtlpProtocol::HttpProtobuf && t.otlp_endpoint == "http://127.0.0.1:4317" {
        t.otlp_endpoint = "http://127.0.0.1:4318".into();
    }
}

/// Maps `OTEL_TRACES_SAMPLER` (and its `_ARG`) to our single parent-based ratio. On failure,
/// returns the variable at fault and, when it is the argument, its value.
fn sampler_ratio<'a>(
    sampler: &str,
    arg: Option<&'a str>,
) -> Result<f64, (&'static str, Option<&'a str>, String)> {
    match sampler {
        "always_on" | "parentbased_always_on" => Ok(1.0),
        "always_off" | "parentbased_always_off" => Ok(0.0),
        "traceidratio" | "parentbased_traceidratio" => match arg {
            // The OTel spec's default ratio when the argument is unset.
            None => Ok(1.0),
            Some(a) => match a.trim().parse::<f64>() {
                Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
                _ => Err((
                    "OTEL_TRACES_SAMPLER_ARG",
                    Some(a),
                    "expected a number from 0.0 to 1.0".into(),
                )),
            },
        },
        _ => Err((
            "OTEL_TRACES_SAMPLER",
            None,
            "expected always_on, always_off, traceidratio, parentbased_always_on, \
             parentbased_always_off or parentbased_traceidratio"
                .into(),
        )),
    }
}

/// Parses `k=v,k2=v2`, percent-decoding values (W3C Baggage-style encoding).
fn parse_resource_attributes(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{pair:?} has an empty key"));
        }
        let v = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| format!("the value of {k:?} is not UTF-8 once percent-decoded"))?;
        out.push((k.to_string(), v.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attributes_are_split_and_decoded() {
        let got =
            parse_resource_attributes("deployment.environment=prod, team=edge%20ops,").unwrap();
        assert_eq!(
            got,
            vec![
                ("deployment.environment".into(), "prod".into()),
                ("team".into(), "edge ops".into())
            ]
        );
        assert!(parse_resource_attributes("novalue")
            .unwrap_err()
            .contains("key=value"));
        assert!(parse_resource_attributes("=x")
            .unwrap_err()
            .contains("empty key"));
        assert!(parse_resource_attributes("k=%FF")
            .unwrap_err()
            .contains("UTF-8"));
    }

    #[test]
    fn samplers_map_to_a_ratio() {
        assert_eq!(sampler_ratio("always_on", None), Ok(1.0));
        assert_eq!(
            sampler_ratio("parentbased_always_off", Some("0.3")),
            Ok(0.0)
        );
        assert_eq!(sampler_ratio("traceidratio", Some("0.25")), Ok(0.25));
        assert_eq!(sampler_ratio("parentbased_traceidratio", None), Ok(1.0));
        let (var, value, _) = sampler_ratio("traceidratio", Some("2")).unwrap_err();
        assert_eq!((var, value), ("OTEL_TRACES_SAMPLER_ARG", Some("2")));
        let (var, _, _) = sampler_ratio("jaeger_remote", None).unwrap_err();
        assert_eq!(var, "OTEL_TRACES_SAMPLER");
    }
}
