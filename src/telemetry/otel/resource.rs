//! The OpenTelemetry resource: who is sending (`service.*`, `host.name`, SDK identity, plus the
//! user's `OTEL_RESOURCE_ATTRIBUTES` already merged into the config).

use opentelemetry::KeyValue;
use opentelemetry_sdk::resource::{Resource, TelemetryResourceDetector};
use rand::Rng;

use crate::config::TelemetryConfig;

/// A random RFC 4122 version-4 UUID, unique per process start (`service.instance.id`).
pub(crate) fn instance_id() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::telemetry::w3c::to_hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// This machine's host name (empty if the system will not say).
pub(crate) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `len` bytes; gethostname NUL-terminates within it on
    // success (and we also stop at the buffer's end).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The resource for both providers. Our defaults come first so the user's resource attributes
/// can replace `host.name` or `service.instance.id` (as orchestrators do); `service.name`
/// comes last because the config already resolved it (`OTEL_SERVICE_NAME` wins).
pub(crate) fn build(cfg: &TelemetryConfig) -> Resource {
    let defaults = [
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("service.instance.id", instance_id()),
        KeyValue::new("host.name", host_name()),
    ];
    let user = cfg
        .resource_attributes
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()));
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(defaults)
        .with_attributes(user)
        .with_service_name(cfg.service_name.clone())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Key;

    #[test]
    fn instance_ids_look_like_v4_uuids_and_differ() {
        let a = instance_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]));
        assert_ne!(a, instance_id());
    }

    #[test]
    fn user_attributes_merge_but_service_name_wins() {
        let mut cfg = crate::config::Config::defaults().telemetry;
        cfg.service_name = "edge".into();
        cfg.resource_attributes = vec![
            ("service.name".into(), "ignored".into()),
            ("deployment.environment.name".into(), "test".into()),
            ("host.name".into(), "pod-7".into()),
        ];
        let r = build(&cfg);
        let get = |k: &'static str| r.get(&Key::from_static_str(k)).map(|v| v.to_string());
        assert_eq!(get("service.name").as_deref(), Some("edge"));
        assert_eq!(get("deployment.environment.name").as_deref(), Some("test"));
        assert_eq!(get("host.name").as_deref(), Some("pod-7"));
        assert_eq!(
            get("service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert!(get("service.instance.id").is_some());
        assert_eq!(get("telemetry.sdk.language").as_deref(), Some("rust"));
    }
}
