//! Listening sockets the app binds itself: a start-up probe of each proxy address and the
//! admin listener (again after an upgrade, once the old process lets go of it).

use std::time::Duration;

use super::StartupError;

/// Checks that every listen address can be bound, so a busy port is a clear error at start-up
/// rather than a panic inside pingora.
pub(super) fn probe_listen(addr: std::net::SocketAddr) -> Result<(), StartupError> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|source| StartupError::Listen { addr, source })
}

/// Binds the admin listener (non-blocking, for its own runtime).
pub(super) fn bind_admin(
    addr: std::net::SocketAddr,
) -> Result<std::net::TcpListener, StartupError> {
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|source| StartupError::Listen { addr, source })
}

/// Binds the admin listener after an upgrade, retrying while the old process still holds it;
/// `None` if sightline stops first.
pub(super) async fn rebind_admin(
    addr: std::net::SocketAddr,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::net::TcpListener> {
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(%addr, "admin listener bound after upgrade");
                return Some(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => {
                tracing::error!(%addr, error = %e, "admin listener failed");
                return None;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
}
