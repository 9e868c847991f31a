//! sightline's integration tests: one binary (`cargo test --test it`) that runs real origins on
//! 127.0.0.1 port 0 and the real `sightline` binary with generated configs (see `util`).
//! Every test starts its own proxy on free ports, so they run in parallel.
//! `cargo test --test it -- --nocapture` shows the measured figures the tests print.

mod util;

mod admin;
mod admin_figures;
mod alerts;
mod balancing;
mod cache;
mod cache_fast_hit;
mod cache_load;
mod cache_rfc_age;
mod cache_rfc_expires;
mod cache_rfc_freshness;
mod cache_rfc_headers;
mod cache_rfc_invalidation;
mod cache_rfc_kept;
mod cache_rfc_range;
mod cache_rfc_stale;
mod cache_rfc_support;
mod collector_pause;
mod config_cli;
mod connections;
mod edges;
mod faults;
mod flood;
mod forwarding;
mod framing;
mod harness;
mod host;
mod jaeger;
mod load;
mod outlier;
mod reload;
mod shutdown;
mod stream;
mod telemetry;
mod tls;
mod top;
mod upgrade;
mod web;
