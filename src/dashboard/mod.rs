//! Dashboards over a [`crate::observe::snapshot::MetricsSnapshot`]: the text dashboard (also
//! `GET /dashboard`), the periodic console printer, and `sightline top`.

pub mod console;
pub mod text;
pub mod tui;
