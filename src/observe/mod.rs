//! The read model: everything an operator sees is built here from what the request path
//! recorded. The observatory samples the live counters once a second into a history and a
//! [`snapshot::MetricsSnapshot`]; admin, the dashboards and alerts read those and never the
//! request path.

pub mod history;
pub mod observatory;
pub mod snapshot;
