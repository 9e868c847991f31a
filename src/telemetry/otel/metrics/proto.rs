//! Builders of OTLP metric messages (attributes, points, metrics) for [`super::OtelMetrics::collect`].

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar as OtlpExemplar, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
};

use super::super::aggregate::{CellReading, ErrorType};
use super::DURATION_BUCKETS;
use crate::telemetry::exemplar::Exemplar;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

pub(super) fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

pub(super) fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

fn error_attr(e: ErrorType) -> KeyValue {
    match e {
        ErrorType::Named(k) => kv_str("error.type", k),
        ErrorType::Status(s) => kv_str("error.type", &s.to_string()),
    }
}

/// `a` with the outcome attributes: the status code when there was one, `error.type` on failure.
pub(super) fn with_outcome(
    mut a: Vec<KeyValue>,
    status: Option<u16>,
    error: Option<ErrorType>,
) -> Vec<KeyValue> {
    if let Some(s) = status {
        a.push(kv_int("http.response.status_code", i64::from(s)));
    }
    a.extend(error.map(error_attr));
    a
}

/// A duration histogram in seconds from its cells (attributes None: the overflow cell).
pub(super) fn histogram_metric(
    at: &At,
    name: &str,
    description: &str,
    cells: impl Iterator<Item = (Option<Vec<KeyValue>>, CellReading)>,
) -> Metric {
    let points = cells
        .map(|(attrs, r)| at.histogram_point(attrs.unwrap_or_else(overflow_attrs), &r))
        .collect();
    metric(name, "s", description, histogram(points))
}

fn overflow_attrs() -> Vec<KeyValue> {
    vec![kv(
        "otel.metric.overflow",
        any_value::Value::BoolValue(true),
    )]
}

fn exemplars(list: &[Exemplar]) -> Vec<OtlpExemplar> {
    list.iter()
        .map(|e| OtlpExemplar {
            filtered_attributes: Vec::new(),
            time_unix_nano: e.unix_nanos,
            span_id: e.span_id.to_vec(),
            trace_id: e.trace_id.to_vec(),
            value: Some(exemplar::Value::AsDouble(e.value_s)),
        })
        .collect()
}

/// What one collection reads, stamped with one time.
pub(super) struct At {
    pub(super) start: u64,
    pub(super) now: u64,
}

impl At {
    pub(super) fn histogram_point(
        &self,
        attributes: Vec<KeyValue>,
        r: &CellReading,
    ) -> HistogramDataPoint {
        HistogramDataPoint {
            attributes,
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            count: r.count,
            sum: Some(r.sum_s),
            bucket_counts: r.buckets.to_vec(),
            explicit_bounds: DURATION_BUCKETS.to_vec(),
            exemplars: exemplars(&r.exemplars),
            flags: 0,
            min: None,
            max: None,
        }
    }

    pub(super) fn point(
        &self,
        attributes: Vec<KeyValue>,
        value: number_data_point::Value,
    ) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            exemplars: Vec::new(),
            flags: 0,
            value: Some(value),
        }
    }
}

pub(super) fn metric(name: &str, unit: &str, description: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

pub(super) fn sum(points: Vec<NumberDataPoint>, monotonic: bool) -> metric::Data {
    metric::Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: CUMULATIVE,
        is_monotonic: monotonic,
    })
}

pub(super) fn gauge(points: Vec<NumberDataPoint>) -> metric::Data {
    metric::Data::Gauge(Gauge {
        data_points: points,
    })
}

fn histogram(points: Vec<HistogramDataPoint>) -> metric::Data {
    metric::Data::Histogram(Histogram {
        data_points: points,
        aggregation_temporality: CUMULATIVE,
    })
}

pub(super) fn int(v: u64) -> number_data_point::Value {
    number_data_point::Value::AsInt(v.min(i64::MAX as u64) as i64)
}
