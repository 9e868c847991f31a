//! The console dashboard: prints the text dashboard to stdout every `dashboard.interval`.

use std::sync::Arc;
use std::time::Duration;

use super::text::render;
use crate::observe::observatory::{shutdown_requested, Shutdown};
use crate::observe::snapshot::MetricsSnapshot;

/// Spawns the printer (call only when `dashboard.console` is on); `view` yields the snapshot to
/// print (the observatory's, with the alert engine's alerts combined in).
pub fn start(
    view: impl Fn() -> Arc<MetricsSnapshot> + Send + 'static,
    interval: Duration,
    mut shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval.max(Duration::from_millis(100)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; skip it so the first frame has a window's worth of data.
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => print!("{}", render(&view())),
                _ = shutdown_requested(&mut shutdown) => break,
            }
        }
    })
}
