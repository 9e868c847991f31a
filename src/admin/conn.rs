//! Admin connections: a write deadline, so a client that stops reading (a stuck stream
//! client, above all) is cut instead of holding the connection and its buffers forever, and a
//! fixed send buffer, so such a client is noticed after a bounded number of bytes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// How long a write may make no progress before the connection is closed.
pub const WRITE_STALL: Duration = Duration::from_secs(10);
/// Kernel send buffer per admin connection, bytes (Linux doubles it for bookkeeping).
pub const SEND_BUFFER: usize = 128 * 1024;

/// The admin listener: accepted connections get [`SEND_BUFFER`] and the [`WRITE_STALL`] deadline.
#[derive(Debug)]
pub struct AdminListener(pub TcpListener);

impl axum::serve::Listener for AdminListener {
    type Io = StallGuard<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    set_send_buffer(&stream, SEND_BUFFER);
                    let _ = stream.set_nodelay(true);
                    return (StallGuard::new(stream, WRITE_STALL), addr);
                }
                // Out of descriptors or a connection reset before accept: wait a little, go on.
                Err(e) => {
                    tracing::debug!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

fn set_send_buffer(stream: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let size = bytes as libc::c_int;
    // SAFETY: a valid socket fd, a pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "SO_SNDBUF on an admin connection");
    }
}

/// An IO whose writes fail with `TimedOut` once they have made no progress for the deadline.
#[derive(Debug)]
pub struct StallGuard<T> {
    inner: T,
    deadline: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuard<T> {
    /// Wraps `inner` with a write deadline.
    pub fn new(inner: T, deadline: Duration) -> Self {
        StallGuard {
            inner,
            deadline,
            stalled: None,
        }
    }

    /// Passes progress through; on `Pending`, arms (or checks) the stall timer.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let deadline = self.deadline;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "admin client stopped reading",
                )))
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_reader_that_stops_is_cut_after_the_deadline() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut guarded = StallGuard::new(a, Duration::from_millis(200));
        let chunk = [7u8; 512];
        let started = tokio::time::Instant::now();
        let err = loop {
            if let Err(e) = guarded.write_all(&chunk).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        let mut got = vec![0; 4096];
        let n = b.read(&mut got).await.unwrap();
        assert!(n > 0, "what fitted was delivered");
    }

    #[tokio::test]
    async fn a_slow_but_steady_reader_is_kept() {
        let (a, mut b) = tokio::io::duplex(256);
        let mut guarded = StallGuard::new(a, Duration::from_millis(300));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0u8; 64];
            while total < 8192 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                total += b.read(&mut buf).await.unwrap();
            }
        });
        for _ in 0..16 {
            guarded.write_all(&[1u8; 512]).await.unwrap();
        }
        reader.await.unwrap();
    }
}
