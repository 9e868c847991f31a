//! sightline: a pingora reverse proxy that sees everything it carries.
//!
//! # Layout
//! ```text
//! config  ──►  proxy (request path)  ──►  telemetry (record once)  ──►  observe  ──►  admin / stream / dashboards / alerts
//!              cache lookup → balancer      live counters, spans         snapshot,     read a snapshot, never
//!              → upstream → cache fill                                    history,      the request path; alerts
//!                                                                         summary,      publish their own list
//!                                                                         formatting    and readers combine it
//! ```
//! A module uses only modules to its left.
//!
//! - [`config`]: TOML → validated types.
//! - [`proxy`]: the pingora `ProxyHttp` implementation, the moka-backed cache, the balancer.
//! - [`telemetry`]: per-request records, live counters, trace context; OpenTelemetry export.
//! - [`observe`]: the read model: the observatory, the one-second and one-minute history, the
//!   `MetricsSnapshot` everything on the right reads, the summary/health shapes and formatting.
//! - [`admin`]: the admin HTTP API (`/health`, `/metrics`, `/api/*`, the `/api/stream` event
//!   stream, the web dashboard).
//! - [`alerts`]: alert rules over snapshots, console lines, history, webhook.
//! - [`dashboard`]: the text dashboard, its console printer, and `sightline top`.
//! - [`demo`]: built-in demo origin servers.
//! - [`reload`]: live config reload (SIGHUP, `POST /api/config/reload`).

pub mod admin;
pub mod alerts;
pub mod app;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub mod observe;
pub mod proxy;
pub mod reload;
pub mod telemetry;
