//! Reads one HTTP/1.x request header from a client stream under a deadline, before pingora
//! sees the connection, so a slow or silent client costs at most `header_timeout`.

use std::time::Duration;

use bytes::BytesMut;
use pingora_core::protocols::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::gate::Admission;

/// Headers parsed at most while checking completeness (pingora parses the header itself).
const MAX_HEADERS: usize = 160;
/// First allocation for a header: most request headers fit; a half-open one stays small.
const INITIAL_BUF: usize = 1024;

/// How long to wait for the header's first byte.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// A new connection: the whole header must arrive by this instant.
    Header(Instant),
    /// A kept-alive connection: the first byte by this instant, then `header_timeout`.
    Idle(Instant),
}

/// What reading a request header came to.
#[derive(Debug)]
pub enum Head {
    /// A complete header (or bytes pingora will refuse as malformed), to hand to pingora.
    Complete(BytesMut),
    /// The client closed (or reset) the connection before a header.
    Closed,
    /// The header did not arrive in time; `partial` when some of it had.
    TimedOut {
        /// Some bytes of a header had arrived.
        partial: bool,
    },
    /// Nothing arrived within the keep-alive idle time.
    Idle,
    /// The header outgrew `max_request_header_bytes` (answered with 431).
    TooLarge,
    /// The gate shed this connection to make room.
    Shed,
    /// The server is shutting down.
    Shutdown,
}

/// The limits one header read works under.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimits {
    /// Time for a whole header once its first byte arrived on a kept-alive connection.
    pub header_timeout: Duration,
    /// Largest header accepted.
    pub max_bytes: usize,
}

/// True once `buf` holds a whole request header, or bytes that can never become a valid one
/// (pingora then answers 400 itself).
fn is_complete(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    !matches!(
        httparse::Request::new(&mut headers).parse(buf),
        Ok(httparse::Status::Partial)
    )
}

/// Reads a request header from `stream` (see [`Head`]); `adm` is marked half-open while a
/// header on a kept-alive connection arrives in pieces.
pub async fn read_head(
    stream: &mut Stream,
    wait: Wait,
    limits: HeaderLimits,
    adm: &mut Admission,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Head {
    let mut buf = BytesMut::new();
    let (mut deadline, idle) = match wait {
        Wait::Header(d) => (d, false),
        Wait::Idle(d) => (d, true),
    };
    loop {
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(buf.len().max(INITIAL_BUF));
        }
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => r,
            _ = adm.shed_signal().notified() => return Head::Shed,
            _ = shutdown.changed(), if !*shutdown.borrow() => return Head::Shutdown,
        };
        match read {
            Err(_) if buf.is_empty() && idle => return Head::Idle,
            Err(_) => {
                return Head::TimedOut {
                    partial: !buf.is_empty(),
                }
            }
            Ok(Ok(0)) | Ok(Err(_)) => return Head::Closed,
            Ok(Ok(n)) => {
                if is_complete(&buf) {
                    return Head::Complete(buf);
                }
                if buf.len() > limits.max_bytes {
                    return Head::TooLarge;
                }
                if idle && buf.len() == n {
                    // The first bytes of a kept-alive request: from now on it is half-open.
                    deadline = Instant::now() + limits.header_timeout;
                    adm.header_waiting();
                }
            }
        }
    }
}

/// Best-effort final answer on a connection about to close (408 or 431), bounded in time so
/// a client that does not read cannot hold the task.
pub async fn answer_and_close(stream: &mut Stream, status: u16) {
    let reason = match status {
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let text =
        format!("HTTP/1.1 {status} {reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    let write = async {
        stream.write_all(text.as_bytes()).await?;
        stream.flush().await
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), write).await;
}

#[cfg(test)]
mod tests {
    use super::is_complete;

    #[test]
    fn completeness_follows_the_header_end() {
        assert!(!is_complete(b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(!is_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r"));
        assert!(is_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(is_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"));
        // Garbage is handed on at once: pingora answers 400.
        assert!(is_complete(b"\x00\x01garbage\r\n"));
    }
}
