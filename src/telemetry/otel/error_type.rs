//! `error.type` (semconv) of a request and of each upstream attempt, shared by the spans and
//! the duration metrics so both name a failure the same way.

#[cfg(test)]
use std::sync::{Arc, LazyLock};

#[cfg(test)]
use opentelemetry::{StringValue, Value};

use super::otlp::{attr_key, SpanWriter};
use crate::telemetry::record::{RequestRecord, UpstreamAttempt};

/// `error.type` of a failed request or attempt, before it becomes an attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The proxy's own name for the failure (`timeout`, `connect_error`, `_OTHER`).
    Named(&'static str),
    /// An error status: its code as text (semconv).
    Status(u16),
}

impl ErrorType {
    /// As an OTel attribute value (the reference span builder's).
    #[cfg(test)]
    pub fn value(self) -> Value {
        match self {
            ErrorType::Named(s) => Value::from(s),
            ErrorType::Status(code) => status_error_type(code),
        }
    }

    /// Writes it as the span's `error.type` attribute.
    pub(super) fn write(self, span: &mut SpanWriter<'_>) {
        match self {
            ErrorType::Named(s) => span.str(attr_key!("error.type"), s),
            ErrorType::Status(code) => span.decimal(attr_key!("error.type"), u64::from(code)),
        }
    }
}

/// `error.type` for an error status: the code as text (semconv). 4xx and 5xx are made once
/// and shared, so an error response costs a reference count, not an allocation.
#[cfg(test)]
pub(crate) fn status_error_type(status: u16) -> Value {
    static CODES: LazyLock<Vec<StringValue>> = LazyLock::new(|| {
        (400u16..600)
            .map(|c| StringValue::from(Arc::<str>::from(c.to_string())))
            .collect()
    });
    let shared = status
        .checked_sub(400)
        .and_then(|i| CODES.get(usize::from(i)));
    match shared {
        Some(s) => Value::String(s.clone()),
        None => Value::String(StringValue::from(status.to_string())),
    }
}

/// `error.type` of one upstream attempt, or None when it succeeded (semconv: a CLIENT request
/// is an error on 4xx and 5xx as well as on a failure without a response).
pub(crate) fn attempt_error(
    rec: &RequestRecord<'_>,
    a: &UpstreamAttempt,
    is_last: bool,
) -> Option<ErrorType> {
    match (a.failed, a.status) {
        // Earlier attempts are only retried after a connect failure (spec §3).
        (true, _) if !is_last => Some(ErrorType::Named("connect_error")),
        (true, _) => Some(ErrorType::Named(rec.error.unwrap_or("_OTHER"))),
        (false, Some(s)) if s >= 400 => Some(ErrorType::Status(s)),
        _ => None,
    }
}

/// [`attempt_error`] as an attribute value.
#[cfg(test)]
pub(crate) fn attempt_error_type(
    rec: &RequestRecord<'_>,
    a: &UpstreamAttempt,
    is_last: bool,
) -> Option<Value> {
    attempt_error(rec, a, is_last).map(ErrorType::value)
}

/// `error.type` of the request as a whole, or None when it succeeded: the proxy's own error
/// type, else the status code of a 5xx, else `_OTHER` when no response was sent at all.
pub(crate) fn request_error(rec: &RequestRecord<'_>) -> Option<ErrorType> {
    match (rec.error, rec.status) {
        (Some(e), _) => Some(ErrorType::Named(e)),
        (None, s) if s >= 500 => Some(ErrorType::Status(s)),
        (None, 0) => Some(ErrorType::Named("_OTHER")),
        _ => None,
    }
}

/// [`request_error`] as an attribute value.
#[cfg(test)]
pub(crate) fn request_error_type(rec: &RequestRecord<'_>) -> Option<Value> {
    request_error(rec).map(ErrorType::value)
}
