//! One client connection: hyper's HTTP/1.1 and HTTP/2 settings (header limits, timeouts,
//! keep-alive pings, stream caps, rapid-reset protection), a deadline for the first bytes,
//! and the executor that lets the host reset one HTTP/2 stream without closing the others.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::stall::Stall;
use crate::config::HostConfig;

/// The HTTP/2 client preface is this long; hyper reads it whole before picking a protocol.
const PREFACE_LEN: usize = 24;

/// hyper's settings for one connection. An HTTP/1.1 head over `maxHeaderBytes` or with more
/// than `maxHeaders` fields, or an HTTP/2 header list over `maxHeaderBytes`, is answered 431
/// by hyper (HTTP/1.1 then closes the connection). An HTTP/1.1 head — the first or the next
/// on a kept-alive connection — must arrive within `headerReadTimeoutSeconds`, which so is
/// also the idle timeout between requests. HTTP/2 connections are pinged after
/// `http2KeepAliveSeconds` of silence and closed when no answer comes in
/// `http2KeepAliveTimeoutSeconds`; they carry at most `http2MaxConcurrentStreams` streams,
/// and one whose client resets more than `http2MaxPendingResets` streams before the host
/// could take them (the rapid-reset attack) is closed with `GOAWAY`.
pub fn builder(config: &HostConfig, exec: StreamExecutor) -> auto::Builder<StreamExecutor> {
    let max_bytes = config.header_bytes_limit();
    let mut builder = auto::Builder::new(exec);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout())
        .max_buf_size(max_bytes)
        .max_headers(config.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(config.http2_keep_alive())
        .keep_alive_timeout(config.http2_keep_alive_timeout())
        .max_concurrent_streams(config.http2_max_concurrent_streams)
        .max_pending_accept_reset_streams(config.http2_max_pending_resets)
        .max_header_list_size(u32::try_from(max_bytes).unwrap_or(u32::MAX));
    builder
}

/// Spawns hyper's tasks. Each HTTP/2 stream runs as its own task; when the request handler
/// left a [`Stall`] watch for it ([`StreamExecutor::watch_next_stream`]), the task is
/// dropped as soon as the stream stalls, and h2 then resets that stream alone
/// (`RST_STREAM`, `CANCEL`). One executor serves one connection, whose streams hyper starts
/// one at a time: it calls the service and spawns that stream's task in the same step, so
/// the watch the service left is the one for the task spawned next.
#[derive(Clone)]
pub struct StreamExecutor {
    next_watch: Arc<Mutex<Option<Arc<Stall>>>>,
    /// How long a stream's body may stall (`dispatchTimeoutSeconds`).
    dispatch_timeout: Duration,
}

impl StreamExecutor {
    pub fn new(dispatch_timeout: Duration) -> Self {
        Self {
            next_watch: Arc::default(),
            dispatch_timeout,
        }
    }

    /// The watch for the HTTP/2 stream whose request is being taken right now.
    pub fn watch_next_stream(&self) -> Arc<Stall> {
        let stall = Stall::new(self.dispatch_timeout);
        *self
            .next_watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(stall.clone());
        stall
    }
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, task: F) {
        let watch = self
            .next_watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match watch {
            Some(stall) => tokio::spawn(
                stall.guard(task, "HTTP/2 stream of a slow consumer reset by the host"),
            ),
            None => tokio::spawn(task),
        };
    }
}

/// A stream that counts the bytes read from it into `read`, so the host can tell a client
/// that never finished its first bytes (see [`first_bytes_deadline`]). Over TLS it wraps the
/// decrypted stream: handshake bytes do not count as a request.
pub struct CountingStream<S> {
    inner: S,
    read: Arc<AtomicUsize>,
}

impl<S> CountingStream<S> {
    pub fn new(inner: S, read: Arc<AtomicUsize>) -> Self {
        Self { inner, read }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.read.fetch_add(read, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves if, `timeout` after accepting, the client has sent fewer bytes than hyper needs
/// to pick HTTP/1.1 or HTTP/2. hyper's own header timer starts only once it has picked, so
/// a client that sends nothing, or half an HTTP/2 preface, or (over TLS) never finishes its
/// handshake, would otherwise hold its socket forever. (An HTTP/1.1 request that short is
/// answered at once, and a kept-alive connection after it goes idle, which hyper's header
/// timer ends at about the same time.)
pub async fn first_bytes_deadline(read: Arc<AtomicUsize>, timeout: Option<Duration>) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    tokio::time::sleep(timeout).await;
    if read.load(Ordering::Relaxed) >= PREFACE_LEN {
        std::future::pending().await
    }
}
