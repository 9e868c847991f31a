//! OpenTelemetry export, in process: the request tracer, metrics and the export pipeline
//! pointed at an in-process OTLP receiver (gRPC and http/protobuf), plus the shipped
//! collector / Jaeger / compose files.
//!
//! End-to-end tests through the real binary and a real collector live with the proxy tests.

mod otel_it;
mod otlp_receiver;
