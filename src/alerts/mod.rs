//! Alerts: rules evaluated over each snapshot (pending → firing → resolved), printed once per
//! transition on stdout, kept in a short history, and optionally POSTed to a webhook.

pub mod engine;
pub mod rules;
pub mod sink;
pub mod webhook;

pub use engine::AlertEngine;
pub use sink::{AlertEvent, AlertEventKind, AlertRecord, AlertSink, ConsoleSink};
