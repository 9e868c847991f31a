//! The `log` → `tracing` bridge for pingora's own messages: client-caused conditions (a client
//! that hung up, reset, timed out or sent garbage) are demoted to debug and counted in
//! [`connections`](super::connections); conditions a flood triggers in bulk (accept failing)
//! become one warning per 10 s with a count of those skipped; everything else passes to
//! `tracing` unchanged.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, Log, Metadata, Record};
use tracing_log::{AsLog, LogTracer};

use super::connections::connections;

/// Seconds between two bulk-condition warnings reaching the log.
const WARN_EVERY_SECS: u64 = 10;

/// Installs the bridge as the `log` logger. Call before `tracing_subscriber`'s `try_init`
/// (whose own `LogTracer` then stays out), and [`sync_max_level`] after it.
pub fn install() {
    let _ = log::set_boxed_logger(Box::new(Bridge {
        inner: LogTracer::new(),
        warned_at: AtomicU64::new(0),
        suppressed: AtomicU64::new(0),
    }));
}

/// Lets through `log` records only at levels the installed `tracing` subscriber can show,
/// plus errors and warnings (they may be demoted, but are always counted).
pub fn sync_max_level() {
    let level = tracing::level_filters::LevelFilter::current().as_log();
    log::set_max_level(level.max(log::LevelFilter::Warn));
}

/// How a pingora message at warning level or above is treated.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Caused by the client: debug, counted.
    Client,
    /// A resource condition an attack can trigger in bulk (accept failing): rate-limited.
    Bulk,
    /// Anything else: as pingora logged it.
    Other,
}

/// Classifies a pingora message text (pingora prints its error source, `Downstream` for the
/// client side, in each error it formats).
fn classify(text: &str) -> Kind {
    const CLIENT: [&str; 6] = [
        "Downstream",
        "downstream",
        "Client prematurely",
        "handshake error",
        "handshake timeout",
        "failed to send error response",
    ];
    if CLIENT.iter().any(|m| text.contains(m)) {
        Kind::Client
    } else if text.contains("Accept() failed") {
        Kind::Bulk
    } else {
        Kind::Other
    }
}

struct Bridge {
    inner: LogTracer,
    warned_at: AtomicU64,
    suppressed: AtomicU64,
}

impl Bridge {
    /// True when a rate-limited warning may be written now.
    fn warn_allowed(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.warned_at.load(Relaxed);
        now >= last + WARN_EVERY_SECS
            && self
                .warned_at
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
    }

    fn forward_at(&self, record: &Record<'_>, level: Level) {
        self.inner.log(
            &Record::builder()
                .level(level)
                .target(record.target())
                .args(*record.args())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }
}

impl Log for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Warn || self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if record.level() > Level::Warn || !record.target().starts_with("pingora") {
            return self.inner.log(record);
        }
        let text = record.args().to_string();
        let kind = classify(&text);
        if kind == Kind::Client {
            connections().count_client_error();
            return self.forward_at(record, Level::Debug);
        }
        if kind == Kind::Other {
            return self.inner.log(record);
        }
        if self.warn_allowed() {
            let skipped = self.suppressed.swap(0, Relaxed);
            tracing::warn!(target: "pingora", skipped, "{text}");
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            self.forward_at(record, Level::Debug);
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::{classify, Kind};

    #[test]
    fn client_side_failures_are_client_caused() {
        assert_eq!(
            classify(
                "Fail to proxy: Downstream ConnectionClosed context: while reading request headers"
            ),
            Kind::Client
        );
        assert_eq!(
            classify("HTTP server fails to read from downstream: x"),
            Kind::Client
        );
        assert_eq!(
            classify("Downstream handshake error from 1.2.3.4:5: eof"),
            Kind::Client
        );
        assert_eq!(classify("Accept() failed Too many open files"), Kind::Bulk);
        assert_eq!(
            classify("Fail to proxy: Upstream ConnectRefused context: 127.0.0.1:1"),
            Kind::Other
        );
    }
}
