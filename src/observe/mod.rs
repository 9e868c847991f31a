//! The read model: everything an operator sees is built here from what the request path
//! recorded. The observatory samples the live counters once a second into a history and a
//! [`snapshot::MetricsSnapshot`]; `summary` shapes the answers (`/health`, `/api/summary`) and
//! `format` how figures read. Admin, the stream, the dashboards and alerts read these and never
//! the request path; nothing here imports them.

pub mod format;
pub mod history;
pub mod observatory;
pub mod points;
pub mod sample;
pub mod snapshot;
pub mod summary;
