//! What a signal does to a running sightline: SIGTERM/SIGINT drain in-flight requests, then
//! stop; SIGQUIT hands the listening sockets to a `run --upgrade` process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_core::server::{ShutdownSignal, ShutdownSignalWatch};

use crate::telemetry::Telemetry;

/// Waits for SIGTERM or SIGINT, then lets in-flight requests finish (up to the grace period)
/// before pingora stops the listeners and runtimes.
pub(super) struct DrainOnSignal {
    pub(super) telemetry: Arc<Telemetry>,
    pub(super) grace: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainOnSignal {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs once");
        let mut quit = signal(SignalKind::quit()).expect("SIGQUIT handler installs once");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs once");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = int.recv() => tracing::info!("SIGINT: draining"),
            _ = quit.recv() => {
                // A `run --upgrade` process waits for the sockets: hand them over first; pingora
                // then keeps serving in-flight requests while the new process accepts.
                tracing::info!("SIGQUIT: handing listeners to the upgraded process");
                crate::proxy::drain::start_handover();
                return ShutdownSignal::GracefulUpgrade;
            }
        }
        let deadline = Instant::now() + self.grace;
        while self.telemetry.stats.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ShutdownSignal::GracefulTerminate
    }
}
